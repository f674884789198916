"""A patient fills in the requested intake form from the home to-do, shares a PDF with a note and
reads the Health summary; the pages have no WCAG violations."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlmodel import select

from portal_app import db
from portal_app.models import IntakeChange, PortalDocument, PortalTask, TaskKind
from portal_app.services import audit, form_requests
from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import (
    PASSPHRASE,
    audit_events,
    create_patient,
    expect_portal_home,
    give_account,
    patient_sign_in,
    staff_sign_in,
    unique_tag,
    wait_until,
)
from tests.e2e.test_accessibility import _violations

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def _request_forms(app_server: AppServer, patient_id: int, *forms: str) -> None:
    """As staff do with "Request Forms" on the chart."""
    with db.session_scope(app_server.db_url) as session:
        form_requests.request_forms(session=session, patient_id=patient_id, forms=list(forms),
                                    actor=audit.Actor.system("e2e test"))
        session.commit()


def _rows(app_server: AppServer, model, **where):
    with db.session_scope(app_server.db_url) as session:
        query = select(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return list(session.exec(query))


def test_patient_fills_in_the_intake_form_shares_a_pdf_and_reads_the_summary(
        app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Philippa", last_name=f"Formsby-{unique_tag()}",
                             portal_enabled=True)
    user_id = give_account(app_server, patient)
    _request_forms(app_server, patient.id, "intake")
    problems: dict[str, list[str]] = {}

    patient_sign_in(page, user_id, PASSPHRASE)
    expect_portal_home(page, patient)
    todos = page.get_by_role("region", name="Forms to fill in")
    expect(todos).to_be_visible()
    problems["/portal"] = _violations(page)

    # The to-do opens the intake form, prefilled from the chart.
    todos.get_by_role("link", name="Intake form").click()
    expect(page).to_have_url(re.compile(r"/portal/forms\?form=intake$"))
    expect(page.get_by_role("heading", name="Intake form", level=2)).to_be_visible()
    expect(page.get_by_label("First name")).to_have_value("Philippa")
    expect(page.get_by_label("City")).to_have_value("Fairview")
    problems["/portal/forms?form=intake"] = _violations(page)

    # A bad value is shown beside its field; what else was typed stays.
    page.get_by_label("City").fill("Nashville")
    page.get_by_label("ZIP code").fill("37")
    page.get_by_role("button", name="Submit form").click()
    expect(page.locator("#intake-postal_code-error")).to_contain_text("ZIP")
    expect(page.get_by_label("City")).to_have_value("Nashville")
    assert _rows(app_server, PortalTask, patient_id=patient.id) == []

    page.get_by_label("ZIP code").fill("37062")  # as it was: not a change
    page.get_by_label("Pharmacy").fill("Corner Drugs, 5th Ave")
    page.get_by_role("button", name="Submit form").click()
    expect(page.get_by_text("Your intake form was sent to the practice")).to_be_visible()
    expect(page.get_by_role("link", name="Intake form")).to_be_visible()  # back on the list
    problems["/portal/forms"] = _violations(page)

    # Consent and health history open from the list and are sent the same way.
    page.get_by_role("link", name="Consent to treatment").click()
    expect(page.get_by_role("heading", name="Consent to treatment", level=2)).to_be_visible()
    page.get_by_label("Your full name (signature)").fill(patient.portal_name)
    page.get_by_role("button", name="Submit form").click()
    expect(page.locator("#consent-agreed-error")).to_contain_text("I agree")
    page.get_by_label("I agree").check()
    problems["/portal/forms?form=consent"] = _violations(page)
    page.get_by_role("button", name="Submit form").click()
    expect(page.get_by_text("Your signed consent to treatment was sent")).to_be_visible()
    page.get_by_role("link", name="Health history").click()
    page.get_by_label("Conditions").fill("Mild asthma")
    problems["/portal/forms?form=history"] = _violations(page)
    page.get_by_role("button", name="Submit form").click()
    expect(page.get_by_text("Your health history was sent")).to_be_visible()

    changes = wait_until(lambda: _rows(app_server, IntakeChange, form="intake"), what="the intake changes")
    assert sorted((c.field_name, c.chart_value, c.new_value) for c in changes) == [
        ("city", "Fairview", "Nashville"), ("pharmacy", "", "Corner Drugs, 5th Ave")]
    tasks = _rows(app_server, PortalTask, patient_id=patient.id)
    assert [(t.kind, t.subject) for t in tasks] == [(TaskKind.INTAKE_FORM, "Intake form"),
                                                    (TaskKind.INTAKE_FORM, "Consent to treatment"),
                                                    (TaskKind.INTAKE_FORM, "Health history")]

    # The to-do is gone from the home page.
    goto(page, "/portal")
    expect_portal_home(page, patient)
    expect(page.get_by_role("region", name="Forms to fill in")).to_have_count(0)

    # Share a small PDF with a note.
    goto(page, "/portal/documents")
    expect(page.get_by_role("heading", name="Documents", level=1)).to_be_visible()
    page.get_by_label("File", exact=True).set_input_files(
        files=[{"name": "lab-results.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    expect(page.get_by_text("lab-results.pdf")).to_be_visible()
    page.get_by_label("Note").fill("Blood test from June")
    page.get_by_role("button", name="Share document").click()
    expect(page.get_by_text("Your document was sent to the practice")).to_be_visible()
    listing = page.get_by_role("region", name="Your documents")
    expect(listing.get_by_role("rowheader", name="lab-results.pdf")).to_be_visible()
    expect(listing.get_by_role("cell", name="Blood test from June")).to_be_visible()
    problems["/portal/documents"] = _violations(page)
    [document] = wait_until(lambda: _rows(app_server, PortalDocument, patient_id=patient.id),
                            what="the shared document")
    assert document.data == PDF and document.note == "Blood test from June" and not document.from_practice

    # A renamed program is refused with a clear message.
    page.get_by_label("File", exact=True).set_input_files(
        files=[{"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": b"MZ\x90\x00" + b"\x00" * 64}])
    page.get_by_role("button", name="Share document").click()
    expect(page.locator("#document-file-error")).to_contain_text("program")
    assert len(_rows(app_server, PortalDocument, patient_id=patient.id)) == 1

    # The health summary shows the chart.
    goto(page, "/portal/summary")
    expect(page.get_by_role("heading", name="Health summary", level=1)).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(f"{patient.first_name} {patient.last_name}")
    expect(page.get_by_role("main")).to_contain_text(patient.dob.strftime("%m/%d/%Y"))
    problems["/portal/summary"] = _violations(page)

    assert problems == {path: [] for path in problems}


def test_staff_share_a_document_the_patient_then_sees(app_server: AppServer, page: Page, new_context) -> None:
    patient = create_patient(app_server, first_name="Dorotea", last_name=f"Sharewell-{unique_tag()}",
                             portal_enabled=True)
    user_id = give_account(app_server, patient)

    staff_sign_in(page)
    goto(page, f"/staff/patients/{patient.id}")
    section = page.get_by_role("region", name="Documents shared with the patient")
    expect(section).to_contain_text("No portal documents yet.")
    # A file whose name does not match its content is refused beside the field.
    section.get_by_label("File", exact=True).set_input_files(
        files=[{"name": "results.png", "mimeType": "image/png", "buffer": PDF}])
    section.get_by_role("button", name="Share with patient").click()
    expect(page.locator("#chart-document-file-error")).to_contain_text(".pdf")
    section.get_by_label("File", exact=True).set_input_files(
        files=[{"name": "results.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    section.get_by_label("Note").fill("Your results from the visit")
    section.get_by_role("button", name="Share with patient").click()
    expect(section.get_by_role("rowheader", name="results.pdf")).to_be_visible()
    assert _violations(page) == []
    events = wait_until(lambda: audit_events(app_server, action="document.share"), what="the share audit")
    assert any(e.patient_id == patient.id for e in events)

    patient_page = new_context().new_page()
    patient_sign_in(patient_page, user_id, PASSPHRASE)
    expect_portal_home(patient_page, patient)
    goto(patient_page, "/portal/documents")
    listing = patient_page.get_by_role("region", name="Your documents")
    row = listing.get_by_role("row").filter(has=patient_page.get_by_role("rowheader", name="results.pdf"))
    expect(row).to_contain_text("The practice")
    expect(row).to_contain_text("Your results from the visit")
    with patient_page.expect_download() as download:
        row.get_by_role("button", name="Download results.pdf").click()
    assert download.value.suggested_filename == "results.pdf"
    assert open(download.value.path(), "rb").read() == PDF
