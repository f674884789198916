"""`python -m portal_app import FILE [--format csv|fhir] [--map field=column ...] [--dry-run]`."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel, select

from portal_app import cli, db
from portal_app.models import AuditEvent, ImportJob, Patient

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "import"


@pytest.fixture
def cli_db(new_database, monkeypatch):
    url = new_database("cli.db")
    monkeypatch.setenv("REFLEX_DB_URL", url)
    SQLModel.metadata.create_all(db.engine(url))
    yield url
    db.engine(url).dispose()
    db._engines.pop(url, None)


def _charts(url: str) -> list[str]:
    with Session(db.engine(url)) as session:
        return sorted(session.exec(select(Patient.chart_number)).all())


def test_a_dry_run_prints_counts_and_refusals_and_changes_nothing(cli_db, capsys):
    assert cli.main(["import", str(FIXTURES / "patients_utf8.csv"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "CSV (UTF-8, comma-separated): 6 rows" in out
    assert "Dry run: 4 new · 0 updated · 0 unchanged · 2 refused" in out
    assert "line 6 (A-1004): Date of birth “13/01/1990” is not a real date." in out
    assert "line 7 (A-1005)" in out and _charts(cli_db) == []


def test_an_import_applies_and_a_second_says_nothing_changed(cli_db, capsys):
    path = str(FIXTURES / "patients_cp1252.csv")
    assert cli.main(["import", path]) == 0
    assert "Imported: 3 new" in capsys.readouterr().out
    assert _charts(cli_db) == ["P-200", "P-201", "P-202"]
    assert cli.main(["import", path, "--format", "csv"]) == 0
    assert "Nothing changed: every chart already matches the file." in capsys.readouterr().out
    with Session(db.engine(cli_db)) as session:
        creates = session.exec(select(AuditEvent).where(AuditEvent.action == "chart.create")).all()
    assert len(creates) == 3 and creates[0].actor_label == "command line import"


def test_map_overrides_a_guess_and_a_column_mapped_twice_is_refused(cli_db, capsys):
    path = str(FIXTURES / "patients_bom_tab.csv")
    assert cli.main(["import", path, "--map", "home_phone=Cell Phone"]) == 0
    out = capsys.readouterr().out
    assert "home_phone=Cell Phone" in out and "mobile_phone=" not in out
    assert cli.main(["import", path, "--map", "email=First", "--map", "city=First"]) == 2
    assert "“First” is already used for" in capsys.readouterr().err


def test_bad_files_and_arguments_get_a_sentence_not_a_traceback(cli_db, capsys, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert cli.main(["import", str(empty)]) == 2
    assert capsys.readouterr().err.strip() == "The file is empty."
    assert cli.main(["import", str(FIXTURES / "patients_utf8.csv"), "--format", "fhir"]) == 2
    assert "is CSV (UTF-8, comma-separated), not FHIR" in capsys.readouterr().err
    assert cli.main(["import", str(tmp_path / "missing.csv")]) == 2
    assert "No such file" in capsys.readouterr().err
    assert cli.main(["import", str(FIXTURES / "patients_utf8.csv"), "--map", "chart_number"]) == 2
    assert "write it as field=column" in capsys.readouterr().err


def test_a_fhir_bundle_imports_through_the_fhir_reader(cli_db, capsys):
    fhir = FIXTURES.parent / "fhir"
    assert cli.main(["import", str(fhir / "practice_bundle.json"), "--format", "fhir"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("FHIR JSON Bundle:") and "skipped (not patients)" in out and "new" in out
    assert cli.main(["import", str(fhir / "observations_only.json")]) == 0
    captured = capsys.readouterr()
    assert "The file holds no patients: its 3 resources are not Patient resources." in captured.err


def test_the_import_worker_process_runs_below_the_servers_priority(cli_db, monkeypatch):
    from portal_app.services.importing import jobs

    asked: list[int] = []
    monkeypatch.setattr(cli.os, "nice", asked.append)
    monkeypatch.setattr(cli, "_import_process", lambda: None)
    done = jobs.view_of(ImportJob(id=1, file_name="p.csv", file_format="csv", encoding="utf-8",
                                    delimiter=",", status=jobs.DONE))

    def run_import(**_) -> jobs.JobView:
        assert asked, "the worker imported before lowering its priority"
        return done

    monkeypatch.setattr(jobs, "run_import", run_import)
    assert cli.main(["run-import-job", "1", "--actor", "system", "--label", "test"]) == 0
    assert asked == [jobs.IMPORT_NICENESS] and jobs.IMPORT_NICENESS > 0
