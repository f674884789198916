"""Setup > Import patients end to end, in Chromium: upload a practice's CSV export, match a column
by hand, preview, dry run, import, find a patient on the onboarding list; the same file again
changes nothing; a FHIR Bundle imports too."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.conftest import AppServer, goto, wait_hydrated
from tests.e2e.helpers import list_rows, search_onboarding, staff_sign_in

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CSV_EXPORT = FIXTURES / "e2e_import" / "practice_export.csv"
FHIR_BUNDLE = FIXTURES / "fhir" / "practice_bundle.json"
NOTHING_CHANGED = "Nothing changed: every chart already matches the file."


def _open_import_page(page: Page) -> None:
    page.get_by_role("group", name="Setup").get_by_role("link", name="Import patients").click()
    expect(page).to_have_url(re.compile(r"/staff/setup/import/?$"))
    expect(page.get_by_role("heading", name="Import patients", level=1)).to_be_visible()
    wait_hydrated(page)


def _new_upload(page: Page) -> None:
    """The upload step: after an earlier import the page shows it, so leave it for a new file."""
    another = page.get_by_role("button", name="Import another file")
    expect(page.get_by_label("File", exact=True).or_(another)).to_be_visible()
    if another.count():
        another.click()


def _upload(page: Page, path: Path) -> None:
    page.get_by_label("File", exact=True).set_input_files(path)
    expect(page.get_by_text(f"Chosen: {path.name}")).to_be_visible()
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_text(re.compile(r"^Uploaded\."))).to_be_visible()
    expect(page.get_by_text(f"File: {path.name}")).to_be_visible()


def _status(page: Page, text: str):
    return page.get_by_role("status").filter(has_text=text)


def test_staff_import_a_csv_export_and_find_the_patients(app_server: AppServer, page: Page) -> None:
    staff_sign_in(page)
    _open_import_page(page)
    _new_upload(page)
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#import-file-error")).to_have_text("Choose a file first.")
    _upload(page, CSV_EXPORT)

    # The guesses are filled in; "Alias" is not a name we guess, so it is matched by hand.
    expect(page.get_by_label("Chart number")).to_have_value("Patient ID")
    expect(page.get_by_label("Date of birth")).to_have_value("DOB")
    expect(page.get_by_label("Preferred name")).to_have_value("")
    page.get_by_label("Preferred name").select_option("Alias")
    # A column chosen twice: the message stands beside the second select.
    page.get_by_label("Middle name").select_option("First")
    error = page.locator("#map-middle_name-error")
    expect(error).to_contain_text("already used for First name")
    page.get_by_label("Middle name").select_option("Middle")
    expect(error).to_have_count(0)

    page.get_by_role("button", name="Preview", exact=True).click()
    preview = page.get_by_role("table", name="The first rows of the file")
    expect(preview.get_by_role("columnheader", name="Preferred name")).to_be_visible()
    zoe = preview.get_by_role("row").filter(has_text="EHR-70001")
    expect(zoe).to_contain_text("Ångström-Lind")
    expect(zoe).to_contain_text("Zo")
    expect(preview.get_by_role("row").filter(has_text="EHR-70004")).to_contain_text("Refused")

    page.get_by_role("button", name="Dry run", exact=True).click()
    expect(_status(page, "Dry run: the import would make 6 new, 0 updated, 0 unchanged, 3 refused")).to_be_visible()
    refused = page.get_by_role("table", name="Refused rows")
    expect(refused.get_by_role("row").filter(has_text="EHR-70004")).to_be_visible()
    expect(refused.get_by_role("row").filter(has_text="EHR-70005")).to_have_count(2)  # both duplicate rows
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download refusals (CSV)").click()
    lines = Path(download_info.value.path()).read_text().splitlines()
    assert lines[0] == "Line,Chart number,Reason" and len(lines) == 4

    page.get_by_role("button", name="Import", exact=True).click()
    expect(_status(page, "Imported: 6 new, 0 updated, 0 unchanged, 3 refused.")).to_be_visible()
    page.get_by_role("link", name="Open the onboarding list").click()
    expect(page.get_by_role("heading", name="Patient Portal Onboarding", level=1)).to_be_visible()
    wait_hydrated(page)
    search_onboarding(page, "Ångström-Lind")
    expect(list_rows(page)).to_have_count(1)
    expect(list_rows(page).first).to_contain_text("EHR-70001")

    # The same file again: nothing changes, and the page says so.
    goto(page, "/staff/setup/import")
    expect(page.get_by_role("table", name="The practice's latest imports, newest first").get_by_role(
        "row").filter(has_text="practice_export.csv").first).to_contain_text("Imported")
    page.get_by_role("button", name="Import another file").click()
    _upload(page, CSV_EXPORT)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(_status(page, NOTHING_CHANGED)).to_be_visible()
    expect(_status(page, "0 new, 0 updated, 6 unchanged, 3 refused")).to_be_visible()


def test_staff_import_a_fhir_bundle(app_server: AppServer, page: Page) -> None:
    staff_sign_in(page)
    _open_import_page(page)
    _new_upload(page)
    _upload(page, FHIR_BUNDLE)
    expect(page.get_by_text(f"File: {FHIR_BUNDLE.name}")).to_contain_text("FHIR JSON Bundle")
    expect(page.get_by_label("Chart number")).to_have_count(0)  # no column step for FHIR

    page.get_by_role("button", name="Preview", exact=True).click()
    preview = page.get_by_role("table", name="The first rows of the file")
    expect(preview.get_by_role("row").filter(has_text="A-10023")).to_contain_text("Ramírez-López")

    page.get_by_role("button", name="Import", exact=True).click()
    expect(_status(page, re.compile(r"^Imported: \d+ new"))).to_be_visible()
    expect(_status(page, "skipped (not patients)")).to_be_visible()
    page.get_by_role("link", name="Open the onboarding list").click()
    wait_hydrated(page)
    search_onboarding(page, "Ramírez-López")
    expect(list_rows(page)).to_have_count(1)


def test_an_import_cut_off_part_way_resumes_without_doing_a_row_twice(app_server: AppServer, page: Page,
                                                                      tmp_path: Path) -> None:
    """The server stopped during an import (here: a batch's progress report fails after the first
    batch is committed): the reopened page says so and offers Resume, which finishes the rest."""
    from sqlmodel import select

    from portal_app import db
    from portal_app.models import StaffUser
    from portal_app.services import audit
    from portal_app.services.importing import jobs
    from tests.e2e.conftest import ADMIN_USERNAME

    stored = tmp_path / "export.csv"
    stored.write_bytes(CSV_EXPORT.read_bytes().replace(b"EHR-700", b"EHR-710"))

    def cut_off(_view) -> None:
        raise RuntimeError("the server went away")

    with db.session_scope(app_server.db_url) as session:
        admin = session.exec(select(StaffUser).where(StaffUser.username == ADMIN_USERNAME)).one()
        actor = audit.Actor.staff(admin.id)
        job = jobs.create_job(session=session, actor=actor, file_name="export.csv", stored_path=str(stored),
                              file_size=stored.stat().st_size)
        stopped = jobs.run_import(session=session, job_id=job.id, actor=actor, progress=cut_off, batch=4)
        assert stopped.can_resume and 0 < stopped.processed < 9

    staff_sign_in(page)
    _open_import_page(page)
    expect(page.get_by_role("alert").filter(has_text=re.compile(r"stopped after \d of 9 rows"))).to_be_visible()
    expect(_status(page, "Done before it stopped: ")).to_be_visible()
    page.get_by_role("button", name="Resume").click()
    expect(_status(page, "Imported: 6 new, 0 updated, 0 unchanged, 3 refused.")).to_be_visible()
    expect(page.get_by_role("button", name="Resume")).to_have_count(0)
