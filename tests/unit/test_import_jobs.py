"""Import jobs: upload, mapping, preview, dry run, import, resume after a restart, re-import,
refusals and their download, and the bulk upsert behind them."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import func, select

from portal_app.models import AuditEvent, ChartAdoption, ImportJob, Patient
from portal_app.services import audit, leases, patient_records
from portal_app.services.errors import InvalidInput
from portal_app.services.importing import jobs
from portal_app.services.importing.rows import SourceRow
from portal_app.services.patient_records import PatientRecord
from tests.unit.conftest import START, make_patient

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"
HEADER = "MRN,First Name,Last Name,DOB,E-mail,Cell,City\n"


def _file(tmp_path: Path, text: str, name: str = "patients.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _job(session, actor, path: Path) -> jobs.JobView:
    return jobs.create_job(session=session, actor=actor, file_name=path.name, stored_path=str(path),
                           file_size=path.stat().st_size)


def _count(session, model, *where) -> int:
    return session.exec(select(func.count()).select_from(model).where(*where)).one()


def _actions(session, action: str) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


@pytest.fixture
def actor(admin):
    return audit.Actor.staff(admin.id)


def _rows(count: int, start: int = 1) -> str:
    return "".join(f"C{n:04d},Ann{n},Lee-Ortiz,01/02/1980,ann{n}@example.com,(512) 555-{n:04d},Austin\n"
                   for n in range(start, start + count))


def test_an_upload_is_detected_guessed_and_audited(session, actor, frozen_clock):
    view = _job(session, actor, FIXTURES / "patients_cp1252.csv")
    assert view.file_format == "csv" and view.format_label == "CSV (Windows-1252, semicolon-separated)"
    assert dict(view.mapping)["chart_number"] == "Patient ID" and view.status == jobs.UPLOADED
    assert jobs.columns(session=session, job_id=view.id)[:3] == ["Patient ID", "Given Name", "Surname"]
    [event] = _actions(session, "import.upload")
    assert "patients_cp1252.csv" in event.detail and event.staff_user_id == actor.staff_user_id


def test_an_unusable_upload_is_refused_audited_and_makes_no_job(session, actor, tmp_path):
    for text, words in (("", "empty"), (HEADER, "no patients")):
        with pytest.raises(InvalidInput, match=words):
            _job(session, actor, _file(tmp_path, text))
    assert _count(session, ImportJob) == 0 and len(_actions(session, "import.refused")) == 2


def test_preview_shows_rows_as_stored_with_refusal_reasons(session, actor, frozen_clock):
    view = _job(session, actor, FIXTURES / "patients_utf8.csv")
    rows = jobs.preview(session=session, job_id=view.id)
    assert [(row.line, row.outcome) for row in rows] == [(2, "new"), (4, "new"), (5, "new"), (6, "refused"),
                                                          (7, "refused"), (8, "new")]
    values = dict(rows[0].values)
    assert values["mobile_phone"] == "+15125550142" and values["dob"] == "02/28/1990"
    assert values["address"] == "12 Oak St, Apt 4" and values["last_name"] == "Nguyễn-Smith"
    assert "not a real date" in rows[3].reason
    assert len(jobs.preview(session=session, job_id=view.id, limit=2)) == 2
    assert _count(session, Patient) == 0


def test_dry_run_counts_and_lists_but_changes_nothing(session, actor, frozen_clock, tmp_path):
    make_patient(session, chart="C0001", first="Ann1", last="Lee-Ortiz", email="ann1@example.com",
                 dob=date(1980, 1, 2), city="Dallas", mobile_phone="+15125550001")
    view = _job(session, actor, _file(tmp_path, HEADER + _rows(3) + "C0009,Bo,Lee,02/30/1980,,,\n"))
    seen: list[int] = []
    done = jobs.dry_run(session=session, job_id=view.id, actor=actor, progress=lambda v: seen.append(v.processed),
                        batch=2)
    assert (done.status, done.new, done.updated, done.unchanged, done.refused) == ("checked", 2, 1, 0, 1)
    assert done.summary == "Dry run: 2 new · 1 updated · 0 unchanged · 1 refused" and seen == [2, 4, 4]
    assert _count(session, Patient) == 1 and _actions(session, "chart.update") == []
    [update] = jobs.updates(session=session, job_id=view.id, dry_run=True).rows
    assert (update.line, update.chart_number, update.detail) == (2, "C0001", "City: Dallas -> Austin")
    [refusal] = jobs.refusals(session=session, job_id=view.id, dry_run=True).rows
    assert refusal.line == 5 and "not a real date" in refusal.detail


def test_import_creates_charts_with_audit_and_adoption_rows_then_a_second_import_changes_nothing(
        session, actor, frozen_clock, tmp_path):
    path = _file(tmp_path, HEADER + _rows(5))
    first = jobs.run_import(session=session, job_id=_job(session, actor, path).id, actor=actor, batch=2)
    assert (first.status, first.new, first.percent) == ("done", 5, 100)
    patients = session.exec(select(Patient).order_by(Patient.chart_number)).all()
    assert [p.chart_number for p in patients] == [f"C{n:04d}" for n in range(1, 6)]
    assert patients[0].mobile_phone == "+15125550001" and patients[0].email_lower == "ann1@example.com"
    assert patients[0].allow_email is True and patients[0].sort_key.startswith("lee-ortiz")
    assert _count(session, ChartAdoption) == 5
    creates = _actions(session, "chart.create")
    assert sorted(e.patient_id for e in creates) == [p.id for p in patients]
    assert {e.staff_user_id for e in creates} == {actor.staff_user_id} and creates[0].detail == "source=csv"

    second = jobs.run_import(session=session, job_id=_job(session, actor, path).id, actor=actor)
    assert (second.new, second.updated, second.unchanged) == (0, 0, 5)
    assert second.summary == "Nothing changed: every chart already matches the file."
    assert len(_actions(session, "chart.create")) == 5 and _actions(session, "chart.update") == []


def test_an_update_is_applied_and_audited_old_to_new(session, actor, frozen_clock, tmp_path):
    make_patient(session, chart="C0001", first="Ann1", last="Lee-Ortiz", email="ann1@example.com",
                 dob=date(1980, 1, 2), city="Dallas", mobile_phone="+15125550001")
    view = jobs.run_import(session=session, job_id=_job(session, actor, _file(tmp_path, HEADER + _rows(1))).id,
                           actor=actor)
    assert view.updated == 1
    [event] = _actions(session, "chart.update")
    assert event.detail == "source=csv; City: Dallas -> Austin"
    [update] = jobs.updates(session=session, job_id=view.id, dry_run=False).rows
    assert update.detail == "City: Dallas -> Austin"


def test_duplicate_chart_numbers_refuse_both_rows_naming_both_lines(session, actor, frozen_clock, tmp_path):
    text = HEADER + _rows(2) + "C0001,Ann,Other,01/02/1980,,,\n"
    view = jobs.run_import(session=session, job_id=_job(session, actor, _file(tmp_path, text)).id, actor=actor)
    assert (view.new, view.refused) == (1, 2)
    refused = jobs.refusals(session=session, job_id=view.id, dry_run=False).rows
    assert [(r.line, r.chart_number) for r in refused] == [(2, "C0001"), (4, "C0001")]
    assert all("lines 2 and 4" in r.detail for r in refused)
    assert _count(session, Patient) == 1


def test_a_refused_record_inside_a_batch_leaves_the_rest_applied(session, actor, frozen_clock, tmp_path):
    text = HEADER + _rows(1) + "C0002,Bo,Lee,01/02/1980,not-an-email,,\n" + "C0003,,Lee,01/02/1980,,,\n" + _rows(1, 4)
    view = jobs.run_import(session=session, job_id=_job(session, actor, _file(tmp_path, text)).id, actor=actor)
    assert (view.new, view.refused) == (2, 2)
    reasons = {r.chart_number: r.detail for r in jobs.refusals(session=session, job_id=view.id, dry_run=False).rows}
    assert "email address is not valid" in reasons["C0002"] and reasons["C0003"] == "A new chart needs First name."
    assert sorted(session.exec(select(Patient.chart_number)).all()) == ["C0001", "C0004"]


def test_a_restart_marks_the_job_interrupted_and_running_it_again_does_no_row_twice(
        session, actor, frozen_clock, tmp_path):
    view = _job(session, actor, _file(tmp_path, HEADER + _rows(7)))

    def killed(progress: jobs.JobView) -> None:
        if progress.processed >= 4:
            raise SystemExit("the server stopped")  # not an Exception: nothing in the job catches it

    with pytest.raises(SystemExit):
        jobs.run_import(session=session, job_id=view.id, actor=actor, progress=killed, batch=2)
    session.rollback()
    assert jobs.job_view(session=session, job_id=view.id, staff_user_id=actor.staff_user_id).status == "running"
    assert jobs.run_import(session=session, job_id=view.id, actor=actor).processed == 4  # running: left alone

    assert jobs.mark_interrupted(session=session) == 1
    stopped = jobs.job_view(session=session, job_id=view.id, staff_user_id=actor.staff_user_id)
    assert stopped.status == "interrupted" and stopped.can_resume and "after 4 of 7 rows" in stopped.error
    done = jobs.run_import(session=session, job_id=view.id, actor=actor, batch=2)
    assert (done.status, done.new, done.processed, done.total) == ("done", 7, 7, 7)
    creates = _actions(session, "chart.create")
    assert len(creates) == 7 and len({e.patient_id for e in creates}) == 7 and _count(session, Patient) == 7


def test_an_import_another_worker_is_running_is_not_marked_interrupted_until_its_lease_runs_out(
        session, actor, frozen_clock, tmp_path):
    view = _job(session, actor, _file(tmp_path, HEADER + _rows(3)))
    row = session.get(ImportJob, view.id)
    row.status, row.lease_owner, row.lease_expires_at = "running", "other-worker", START + leases.LEASE
    session.add(row)
    session.commit()

    assert jobs.mark_interrupted(session=session) == 0  # (a second server starting, meanwhile)
    assert jobs.run_import(session=session, job_id=view.id, actor=actor).status == "running"  # left alone
    frozen_clock(START + leases.LEASE + timedelta(seconds=1))  # its worker died: no renewal
    assert jobs.mark_interrupted(session=session) == 1
    assert jobs.job_view(session=session, job_id=view.id, staff_user_id=actor.staff_user_id).status == "interrupted"


def test_a_failure_rolls_back_its_batch_says_why_and_resumes(session, actor, frozen_clock, tmp_path, monkeypatch):
    view = _job(session, actor, _file(tmp_path, HEADER + _rows(6)))
    real = patient_records.upsert_many
    calls = {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        outcomes = real(**kwargs)
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return outcomes

    monkeypatch.setattr(patient_records, "upsert_many", flaky)
    failed = jobs.run_import(session=session, job_id=view.id, actor=actor, batch=2)
    assert failed.status == "failed" and failed.can_resume and failed.processed == 2
    assert "stopped after 2 of 6 rows: An unexpected error stopped it" in failed.error
    assert _count(session, Patient) == 2
    done = jobs.run_import(session=session, job_id=view.id, actor=actor, batch=2)
    assert (done.status, done.new) == ("done", 6) and _count(session, Patient) == 6


def test_refusals_download_neutralises_formulas_and_is_audited(session, actor, frozen_clock, tmp_path):
    text = HEADER + "".join(f"{chart},,,,,,\n" for chart in ("=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "OK1"))
    view = jobs.run_import(session=session, job_id=_job(session, actor, _file(tmp_path, text)).id, actor=actor)
    body = "".join(jobs.refusals_csv(session=session, job_id=view.id, dry_run=False, actor=actor))
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["Line", "Chart number", "Reason"]
    assert [row[1] for row in rows[1:]] == ["'=HYPERLINK(1)", "'+1", "'-2", "'@SUM(A1)", "OK1"]
    assert jobs.neutralise("\tx") == "'\tx" and jobs.neutralise("\rx") == "'\rx" and jobs.neutralise("a=b") == "a=b"
    assert len(_actions(session, "import.refusals_download")) == 1


def test_mapping_is_checked_saved_audited_and_resets_the_dry_run(session, actor, frozen_clock, tmp_path):
    view = _job(session, actor, _file(tmp_path, HEADER + _rows(2)))
    jobs.dry_run(session=session, job_id=view.id, actor=actor)
    with pytest.raises(InvalidInput) as twice:
        jobs.save_mapping(session=session, job_id=view.id, actor=actor,
                          mapping={"chart_number": "MRN", "first_name": "City", "city": "City"})
    assert twice.value.field == "city"
    saved = jobs.save_mapping(session=session, job_id=view.id, actor=actor,
                              mapping={"chart_number": "MRN", "first_name": "First Name", "last_name": "Last Name",
                                       "dob": "DOB"})
    assert saved.status == "uploaded" and saved.new == 0 and dict(saved.mapping)["dob"] == "DOB"
    assert "email" not in dict(saved.mapping)
    assert len(_actions(session, "import.mapping")) == 1
    done = jobs.run_import(session=session, job_id=view.id, actor=actor)
    assert done.new == 2 and session.exec(select(Patient.email)).all() == ["", ""]


def test_a_job_is_only_its_owners(session, actor, frozen_clock, tmp_path):
    view = _job(session, actor, _file(tmp_path, HEADER + _rows(1)))
    assert jobs.job_view(session=session, job_id=view.id, staff_user_id=actor.staff_user_id) is not None
    assert jobs.job_view(session=session, job_id=view.id, staff_user_id=999) is None
    assert jobs.latest_job(session=session, staff_user_id=actor.staff_user_id).id == view.id
    assert jobs.latest_job(session=session, staff_user_id=999) is None


def test_fhir_jobs_read_through_the_fhir_reader_and_count_skipped_resources(session, actor, frozen_clock, tmp_path,
                                                                             monkeypatch):
    path = tmp_path / "bundle.json"
    path.write_text('{"resourceType": "Bundle", "type": "collection", "entry": []}')

    def stand_in(path, *, fmt, chart_system):
        assert fmt == "fhir-bundle"
        yield SourceRow(line=1, record=PatientRecord(chart_number="F1", first_name="Ana", last_name="Silva",
                                                     dob=date(1970, 5, 6)), chart_number="F1")
        yield SourceRow(line=2, skipped=True)
        yield SourceRow(line=3, error="Patient.birthDate: not a date", chart_number="F2")

    monkeypatch.setattr(jobs, "fhir_rows", stand_in)
    view = _job(session, actor, path)
    assert view.format_label == "FHIR JSON Bundle" and jobs.columns(session=session, job_id=view.id) == []
    done = jobs.run_import(session=session, job_id=view.id, actor=actor)
    assert (done.new, done.skipped, done.refused) == (1, 1, 1)
    assert "1 skipped (not patients)" in done.summary
    assert _actions(session, "chart.create")[0].detail == "source=fhir"


def test_upsert_many_matches_upsert_one_by_one(session, frozen_clock):
    actor = audit.Actor.system("test")
    make_patient(session, chart="E1", first="Eve", last="Stone", email="eve@example.com", dob=date(1970, 1, 1))
    records = [PatientRecord(chart_number="E1", city="Austin"),  # update
               PatientRecord(chart_number="E1", city="Dallas"),  # the same chart again: applied in turn
               PatientRecord(chart_number="N1", first_name="Noa", last_name="Ray", dob=date(2001, 1, 1),
                             email="", deceased=True),
               PatientRecord(chart_number="N2", first_name="Ola", last_name="Ray", dob=date(2001, 1, 1),
                             mobile_phone="+44 20 7946 0958"),
               PatientRecord(chart_number="N3", first_name="Bad", last_name="Phone", dob=date(2001, 1, 1),
                             mobile_phone="(512) 155-0100"),
               PatientRecord(chart_number="N4", first_name="Not", last_name="Phone", dob=date(2001, 1, 1),
                             mobile_phone="call her mother")]
    results = patient_records.upsert_many(session=session, records=records, actor=actor, source="csv")
    session.commit()
    kinds = [r.kind if isinstance(r, patient_records.Outcome) else "refused" for r in results]
    # The EHR's number that is not a real one is kept as written; what is not a number is refused.
    assert kinds == ["updated", "updated", "new", "new", "new", "refused"]
    assert patient_records.find(session=session, chart_number="N3").mobile_phone == "(512) 155-0100"
    eve = patient_records.find(session=session, chart_number="E1")
    noa = patient_records.find(session=session, chart_number="N1")
    ola = patient_records.find(session=session, chart_number="N2")
    assert eve.city == "Dallas" and noa.deceased is True and noa.allow_email is False
    assert ola.mobile_phone == "+442079460958" and _count(session, ChartAdoption) == 4


def test_bulk_inserted_charts_get_the_adoption_rows_a_full_rebuild_would_give(session, actor, frozen_clock, tmp_path):
    from portal_app.services.adoption import facts

    jobs.run_import(session=session, job_id=_job(session, actor, _file(tmp_path, HEADER + _rows(9))).id,
                    actor=actor, batch=4)
    ids = session.exec(select(Patient.id)).all()
    assert len(ids) == 9 and _count(session, ChartAdoption) == 9
    assert facts.refresh(session, ids) == 0  # nothing to correct


def test_an_import_can_run_in_its_own_process(session, actor, tmp_path):
    view = _job(session, actor, _file(tmp_path, HEADER + _rows(3)))
    done = jobs.run_in_own_process(session=session, job_id=view.id, actor=actor)
    assert (done.status, done.new) == ("done", 3) and _count(session, Patient) == 3
    assert {e.staff_user_id for e in _actions(session, "chart.create")} == {actor.staff_user_id}
    checked = jobs.run_in_own_process(session=session, job_id=_job(session, actor, _file(tmp_path, HEADER + _rows(3)))
                                      .id, actor=actor, dry_run=True)
    assert (checked.status, checked.unchanged) == ("checked", 3)


def test_saving_the_same_columns_again_keeps_a_stopped_import_resumable(session, actor, frozen_clock, tmp_path):
    view = _job(session, actor, _file(tmp_path, HEADER + _rows(4)))

    def killed(progress: jobs.JobView) -> None:
        raise SystemExit("stopped")

    with pytest.raises(SystemExit):
        jobs.run_import(session=session, job_id=view.id, actor=actor, progress=killed, batch=2)
    session.rollback()
    jobs.mark_interrupted(session=session)
    again = jobs.save_mapping(session=session, job_id=view.id, actor=actor, mapping=dict(view.mapping))
    assert again.status == "interrupted" and again.can_resume
    assert jobs.run_import(session=session, job_id=view.id, actor=actor).new == 4


def test_a_job_already_running_is_left_to_its_worker(session, actor, tmp_path):
    view = _job(session, actor, _file(tmp_path, HEADER + _rows(2)))
    job = session.get(ImportJob, view.id)
    job.status = jobs.RUNNING
    session.add(job)
    session.commit()
    assert jobs.run_in_own_process(session=session, job_id=view.id, actor=actor).status == "running"
    assert _count(session, Patient) == 0


def test_the_worker_command_leaves_a_running_job_alone(session, actor, tmp_path, monkeypatch, db_url):
    from portal_app import cli

    view = _job(session, actor, _file(tmp_path, HEADER + _rows(2)))
    job = session.get(ImportJob, view.id)
    job.status = jobs.RUNNING
    session.add(job)
    session.commit()
    assert cli.main(["run-import-job", str(view.id), "--staff-id", str(actor.staff_user_id)]) == jobs.LEFT_ALONE
    job.status = jobs.UPLOADED
    session.add(job)
    session.commit()
    assert cli.main(["run-import-job", str(view.id), "--staff-id", str(actor.staff_user_id)]) == 0
    assert _count(session, Patient) == 2
