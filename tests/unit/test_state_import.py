"""PatientImportState (Setup > Import patients), called directly, and the refusals download route.

The upload is fed through a real `rx.UploadChunkIterator`, as Reflex's streaming upload endpoint
feeds it; the import services run against the per-test database.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
import reflex as rx
from sqlmodel import col, select
from starlette.testclient import TestClient

from portal_app import routes
from portal_app.api import STAFF_COOKIE, files_api
from portal_app.models import AuditEvent, ImportJob, Patient
from portal_app.services import audit, import_files
from portal_app.services.importing import jobs
from portal_app.services.permissions import Level, Permission
from portal_app.state.patient_import import MAPPING_FIX, NO_OPEN, NO_RUN, PatientImportState
from portal_app.state.staff_login import LANDING_PAGES
from tests.unit.state_support import everything_in_state, set_cookies, sign_in_admin, staff_with

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "e2e_import" / "practice_export.csv"
FHIR_BUNDLE = Path(__file__).resolve().parents[1] / "fixtures" / "fhir" / "practice_bundle.json"
HANDLERS = PatientImportState.event_handlers


@pytest.fixture(autouse=True)
def import_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "imports"
    monkeypatch.setenv("PORTAL_IMPORT_DIR", str(folder))
    monkeypatch.setattr(PatientImportState, "POLL_SECONDS", 0.01)
    return folder


async def _state(sid: str) -> PatientImportState:
    root = rx.State(_reflex_internal_init=True)
    state = await root.get_state(PatientImportState)
    set_cookies(state, staff=sid)
    return state


async def _chunks(name: str, data: bytes, size: int = 97) -> rx.UploadChunkIterator:
    """The file as Reflex's streaming endpoint hands it over: small chunks, then the end."""
    chunks = rx.UploadChunkIterator(maxsize=len(data) // size + 2)
    for offset in range(0, len(data), size):
        await chunks.push(rx.UploadChunk(filename=name, offset=offset, content_type="text/csv",
                                         data=data[offset:offset + size]))
    await chunks.finish()
    return chunks


async def _upload(state: PatientImportState, name: str = "practice_export.csv", data: bytes | None = None):
    chunks = await _chunks(name, FIXTURE.read_bytes() if data is None else data)
    return await HANDLERS["upload"].fn(state, chunks)


async def _run(state: PatientImportState, start: str) -> None:
    assert "run_pass" in str(await getattr(state, start)())
    await HANDLERS["run_pass"].fn(state)


def _actions(session) -> list[str]:
    session.expire_all()
    return [e.action for e in session.exec(select(AuditEvent).order_by(col(AuditEvent.id)))]


@pytest.fixture
def admin_sid(session, admin) -> str:
    return sign_in_admin(session)


# ---- the route, the landing page, access -------------------------------------------------------


def test_route_and_landing_page():
    assert routes.PATIENT_IMPORT == "/staff/setup/import"
    assert (Permission.PATIENT_IMPORT, routes.PATIENT_IMPORT) in LANDING_PAGES


async def test_a_user_without_patient_import_cannot_open_or_upload(session, admin, import_dir):
    sid = staff_with(session, "olive", {Permission.OUTBOX: Level.WRITE})
    state = await _state(sid)
    await state.load()
    assert state.loaded is False and state.load_error == NO_OPEN

    await _upload(state)
    assert state.error == NO_RUN and state.job_id == 0
    assert list(import_dir.glob("*")) == []  # not a byte written
    assert "access.refused" in _actions(session)


async def test_read_access_sees_the_page_but_cannot_upload_or_run(session, admin, import_dir):
    sid = staff_with(session, "rita", {Permission.PATIENT_IMPORT: Level.READ})
    state = await _state(sid)
    await state.load()
    assert state.loaded is True and state.can_run is False

    await _upload(state)
    assert state.error == NO_RUN and list(import_dir.glob("*")) == []
    assert await state.start_dry_run() is None
    assert state.error == NO_RUN


async def test_read_access_lists_the_practices_past_imports(session, admin, admin_sid):
    state = await _state(admin_sid)
    await state.load()
    await _upload(state)
    await _run(state, "start_import")
    assert state.past_imports[0]["file"] == "practice_export.csv"

    reader = await _state(staff_with(session, "rita", {Permission.PATIENT_IMPORT: Level.READ}))
    await reader.load()
    assert reader.job_id == 0  # not her import: its rows stay with the one who ran it
    assert [(p["file"], p["by"], p["status"]) for p in reader.past_imports] == \
        [("practice_export.csv", "Ada Admin", "Imported")]
    assert reader.past_imports[0]["summary"] == "Imported: 6 new · 0 updated · 0 unchanged · 3 refused"


# ---- the upload -------------------------------------------------------------------------------


async def test_upload_streams_to_a_private_file_and_fills_the_guessed_mapping(session, admin_sid, import_dir):
    state = await _state(admin_sid)
    await state.load()
    assert state.job_id == 0

    await _upload(state)
    assert state.file_error == "" and state.job_id and state.file_format == "csv"
    assert state.file_name == "practice_export.csv"
    assert "Alias" in state.columns
    assert state.mapping["chart_number"] == "Patient ID" and state.mapping["dob"] == "DOB"
    assert state.mapping["preferred_name"] == ""  # "Alias" is not a name we guess

    stored = Path(session.get(ImportJob, state.job_id).stored_path)
    assert stored.parent == import_dir and stored.read_bytes() == FIXTURE.read_bytes()
    assert "practice_export" not in stored.name  # a random name, never the uploaded one
    assert stat.S_IMODE(os.stat(import_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert "Ångström" not in everything_in_state(state.parent_state or state)  # the file is not in state
    assert "import.upload" in _actions(session)


async def test_too_large_a_file_is_refused_beside_the_file_and_removed(session, admin_sid, import_dir, monkeypatch):
    monkeypatch.setattr(import_files, "MAX_BYTES", 500)
    state = await _state(admin_sid)
    await state.load()
    await _upload(state, "huge.csv")
    assert state.file_error == import_files.TOO_LARGE and state.file_error_for == "huge.csv"
    assert state.job_id == 0 and list(import_dir.glob("*")) == []


@pytest.mark.parametrize("data", [b"", b"\x00\x01\x02\xff\xfe" * 200])
async def test_an_empty_or_binary_file_gets_a_message_beside_the_file(session, admin_sid, import_dir, data):
    state = await _state(admin_sid)
    await state.load()
    await _upload(state, "export.csv", data)
    assert state.file_error and state.job_id == 0
    assert list(import_dir.glob("*")) == []


async def test_upload_with_no_file_chosen_says_so_beside_the_file(session, admin_sid, import_dir):
    state = await _state(admin_sid)
    await state.load()
    chunks = rx.UploadChunkIterator()
    await chunks.finish()
    await HANDLERS["upload"].fn(state, chunks)
    assert state.file_error == import_files.NO_FILE and state.file_error_for == ""
    assert state.uploading is False and list(import_dir.glob("*")) == []


# ---- mapping, preview, dry run, import ----------------------------------------------------------


async def test_a_column_chosen_twice_is_an_error_beside_the_second_select(session, admin_sid):
    state = await _state(admin_sid)
    await state.load()
    await _upload(state)

    await state.choose_column("preferred_name", "First")
    assert state.mapping["preferred_name"] == "First"  # the choice is kept as made
    assert set(state.mapping_errors) == {"preferred_name"}
    assert "already used for First name" in state.mapping_errors["preferred_name"]
    await state.show_preview()
    assert state.error == MAPPING_FIX and state.preview_rows == []

    await state.choose_column("preferred_name", "Alias")
    assert state.mapping_errors == {}
    await state.choose_column("chart_number", "")
    assert set(state.mapping_errors) == {"chart_number"}
    await state.choose_column("chart_number", "Patient ID")
    assert state.mapping_errors == {}


async def test_preview_dry_run_import_and_a_second_import_that_changes_nothing(session, admin_sid):
    state = await _state(admin_sid)
    await state.load()
    await _upload(state)
    await state.choose_column("preferred_name", "Alias")

    await state.show_preview()
    assert "Preferred name" in state.preview_headers and state.preview_headers[-1] == "Refused because"
    assert len(state.preview_rows) == 9
    by_line = {row[0]: dict(zip(state.preview_headers, row, strict=True)) for row in state.preview_rows}
    assert by_line["2"]["Last name"] == "Ångström-Lind" and by_line["2"]["Preferred name"] == "Zo"
    assert by_line["5"]["Would be"] == "Refused" and by_line["5"]["Refused because"]  # 02/30/1985
    assert by_line["5"]["Chart number"] == "EHR-70004"
    assert "import.preview" in _actions(session)

    await _run(state, "start_dry_run")
    assert (state.count_new, state.count_updated, state.count_refused) == (6, 0, 3)
    assert state.result_text.startswith("Dry run: the import would make 6 new, 0 updated, 0 unchanged, 3 refused")
    assert [row["line"] for row in state.refused_rows] == ["5", "6", "7"]
    assert session.exec(select(Patient)).all() == []  # a dry run changes nothing
    assert "import.refusals_view" in _actions(session)

    await _run(state, "start_import")
    assert state.import_done and state.result_text == "Imported: 6 new, 0 updated, 0 unchanged, 3 refused."
    session.expire_all()
    zoe = session.exec(select(Patient).where(Patient.chart_number == "EHR-70001")).one()
    assert (zoe.first_name, zoe.last_name, zoe.preferred_name) == ("Zoë", "Ångström-Lind", "Zo")

    await state.start_over()
    assert state.job_id == 0
    await _upload(state)
    await state.choose_column("preferred_name", "Alias")
    await _run(state, "start_import")
    assert state.result_text.startswith(jobs.NOTHING_CHANGED)
    assert (state.count_new, state.count_updated, state.count_unchanged) == (0, 0, 6)


async def test_import_pressed_as_the_dry_run_finishes_shows_its_own_result(session, admin_sid, monkeypatch):
    """The dry run's result shows a moment before its follower ends; a quick Import in that moment
    (a keyboard user) must not be left spinning when the dry run's follower ends."""
    state = await _state(admin_sid)
    await state.load()
    await _upload(state)
    real_poll, real_follow = PatientImportState._poll, PatientImportState._follow
    import_pass: list[asyncio.Task] = []
    dry_run_follower_ended = asyncio.Event()

    async def follow(self, *args):
        await real_follow(self, *args)
        dry_run_follower_ended.set()

    async def poll(self, *args):
        if import_pass:  # the import's follower polls once the dry run's has ended
            await dry_run_follower_ended.wait()
            return await real_poll(self, *args)
        job = await real_poll(self, *args)
        assert "run_pass" in str(await self.start_import())
        import_pass.append(asyncio.ensure_future(HANDLERS["run_pass"].fn(self)))
        while not self.job_running:
            await asyncio.sleep(0.01)
        return job

    monkeypatch.setattr(PatientImportState, "_poll", poll)
    monkeypatch.setattr(PatientImportState, "_follow", follow)
    await _run(state, "start_dry_run")
    await asyncio.wait_for(import_pass[0], timeout=60)
    assert state.import_done and state.result_text == "Imported: 6 new, 0 updated, 0 unchanged, 3 refused."
    assert state.results_shown and state.results_dry_run is False


async def test_a_changed_chart_lists_its_changed_fields(session, admin_sid):
    state = await _state(admin_sid)
    await state.load()
    await _upload(state)
    await _run(state, "start_import")
    changed = FIXTURE.read_bytes().replace(b"zoe.lind@example.com", b"zoe.new@example.com")
    await state.start_over()
    await _upload(state, data=changed)
    await _run(state, "start_dry_run")
    assert state.count_updated == 1
    assert state.updated_rows[0]["chart"] == "EHR-70001"
    assert "zoe.new@example.com" in state.updated_rows[0]["changes"]
    assert "import.updates_view" in _actions(session)


async def test_a_reopened_page_follows_the_running_job_and_offers_resume(session, admin, admin_sid):
    state = await _state(admin_sid)
    await state.load()
    await _upload(state)
    job = session.get(ImportJob, state.job_id)
    job.status, job.total, job.processed = jobs.RUNNING, 9, 4
    session.add(job)
    session.commit()

    tab = await _state(admin_sid)
    follow = await tab.load()
    assert "follow_job" in str(follow) and tab.job_running and tab.job_percent == 44

    job.status, job.resume_after = jobs.INTERRUPTED, 4
    session.add(job)
    session.commit()
    await HANDLERS["follow_job"].fn(tab)
    assert tab.job_running is False and tab.can_resume is True
    assert tab.result_text.startswith("Done before it stopped: ")


async def test_a_fhir_bundle_needs_no_column_step(session, admin_sid):
    state = await _state(admin_sid)
    await state.load()
    await _upload(state, "bundle.json", FHIR_BUNDLE.read_bytes())
    assert state.file_format == "fhir-bundle" and state.is_csv is False and state.columns == []
    await state.show_preview()
    assert any("Ramírez-López" in row for row in state.preview_rows)
    await _run(state, "start_import")
    assert state.import_done and state.count_new > 0 and state.count_skipped > 0
    assert "skipped (not patients)" in state.result_text


async def test_resume_goes_on_after_the_last_saved_row(session, admin, admin_sid):
    state = await _state(admin_sid)
    await state.load()
    await _upload(state)
    actor = audit.Actor.staff(admin.id)

    def cut_off(_view) -> None:
        raise RuntimeError("the server went away")

    stopped = jobs.run_import(session=session, job_id=state.job_id, actor=actor, progress=cut_off, batch=4)
    assert stopped.can_resume and stopped.processed == 4

    tab = await _state(admin_sid)
    await tab.load()
    assert tab.can_resume and "stopped after 4 of 9 rows" in tab.job_error
    await _run(tab, "start_import")
    # Rows 1-4 were not done again (they would count as unchanged).
    assert tab.result_text == "Imported: 6 new, 0 updated, 0 unchanged, 3 refused."


# ---- the refusals download ----------------------------------------------------------------------


async def test_refusals_download_only_for_the_job_owner_and_audited(session, admin, admin_sid):
    state = await _state(admin_sid)
    await state.load()
    await _upload(state)
    await _run(state, "start_dry_run")
    path = routes.import_refusals_file(state.job_id, dry_run=True)
    assert state.refusals_href == path

    client = TestClient(files_api)
    client.cookies.set(STAFF_COOKIE, admin_sid)
    served = client.get(path)
    assert served.status_code == 200 and served.headers["cache-control"] == "no-store"
    lines = served.text.splitlines()
    assert lines[0] == "Line,Chart number,Reason" and len(lines) == 4
    assert "import.refusals_download" in _actions(session)

    other = staff_with(session, "ivan", {Permission.PATIENT_IMPORT: Level.WRITE})
    client.cookies.set(STAFF_COOKIE, other)
    assert client.get(path).status_code == 404  # not his import
    client.cookies.clear()
    assert client.get(path).status_code == 404
