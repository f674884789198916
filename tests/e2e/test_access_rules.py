"""The automatic access rules as staff meet them: a chart the EHR reports deceased shows "Deceased"
on the onboarding list and its chart, and a click on its red rectangle is refused with the reason;
Portal Settings' two new fields refuse bad values beside the field."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from portal_app import db, routes
from portal_app.services import audit, patient_records, settings
from portal_app.services.patient_records import PatientRecord
from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import (
    RED_RGB,
    audit_events,
    create_patient,
    find_in_onboarding,
    portal_enabled,
    staff_sign_in,
    unique_tag,
)
from tests.e2e.test_accessibility import _violations

DECEASED_REFUSAL = "This patient is recorded as deceased; portal access stays off."


def test_a_deceased_chart_shows_its_note_and_its_red_rectangle_refuses(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Renée", last_name=f"Okonkwo-{unique_tag()}",
                             portal_enabled=True)
    # The EHR's feed says the patient died: the same upsert every source (CSV, FHIR, ADT) goes through.
    with db.session_scope(app_server.db_url) as session:
        outcome = patient_records.upsert(session=session, record=PatientRecord(patient.chart_number, deceased=True),
                                         actor=audit.Actor.system("ADT feed"), source="adt A08")
        session.commit()
    assert outcome.notes and outcome.notes[0].startswith("Deceased: portal access off")
    assert portal_enabled(app_server, patient) is False

    staff_sign_in(page)
    row = find_in_onboarding(page, patient)
    expect(row).to_contain_text("Deceased")
    red = row.get_by_role("button", name=f"Enable portal access for {patient.list_name}")
    expect(red).to_have_css("background-color", RED_RGB)

    red.click()
    expect(page.get_by_text(DECEASED_REFUSAL)).to_be_visible()
    expect(red).to_have_css("background-color", RED_RGB)  # still red: nothing changed
    expect(row).to_contain_text("Not enabled")
    assert portal_enabled(app_server, patient) is False
    refusals = [e for e in audit_events(app_server, action="portal.enable.refused") if e.patient_id == patient.id]
    assert [e.detail for e in refusals] == ["rule=deceased"]
    assert _violations(page) == []  # the note and the refusal are readable (axe, WCAG 2 A/AA)

    # The chart says so too, and its switch refuses the same way.
    row.get_by_role("link", name=patient.list_name, exact=True).click()
    expect(page.get_by_role("heading", name=patient.list_name, level=2)).to_be_visible()
    section = page.get_by_role("region", name="Portal access")
    expect(section).to_contain_text("Deceased")
    section.get_by_role("button", name="Enable portal access").click()
    expect(section.get_by_text(DECEASED_REFUSAL)).to_be_visible()
    assert portal_enabled(app_server, patient) is False


def test_portal_settings_rule_fields_refuse_bad_values_beside_the_field(app_server: AppServer, page: Page) -> None:
    staff_sign_in(page)
    goto(page, routes.PORTAL_SETTINGS)
    months = page.get_by_label("Turn portal access off after this many months without a visit (0 = never)")
    system = page.get_by_label("FHIR identifier system for chart numbers (blank = the MR identifier)")
    expect(months).to_have_value("0")
    expect(system).to_have_value("")
    months.fill("many")
    system.fill("our mrn list")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Months without a visit must be a whole number.")).to_be_visible()
    expect(page.get_by_text("Enter the identifier system as a URI")).to_be_visible()
    expect(months).to_have_attribute("aria-describedby", re.compile("inactive_months-error"))
    expect(system).to_have_attribute("aria-describedby", re.compile("fhir_chart_system-error"))
    expect(months).to_have_value("many")  # what was typed stays
    expect(system).to_have_value("our mrn list")

    try:
        system.fill("urn:oid:2.16.840.1.113883.19.5")
        months.fill("0")
        page.get_by_role("button", name="Save settings").click()
        expect(page.get_by_text("Portal settings saved.")).to_be_visible()
        expect(system).to_have_value("urn:oid:2.16.840.1.113883.19.5")
    finally:
        # The server's database is shared by every e2e test: leave the FHIR system as it was.
        with db.session_scope(app_server.db_url) as session:
            row = settings.get(session=session)
            row.fhir_chart_system = ""
            row.inactive_months = 0
            session.add(row)
            session.commit()
