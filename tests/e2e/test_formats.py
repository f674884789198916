"""Issue 15 formats: once Portal Settings names a time zone, staff lists, the staff header and the
messages patients read show times in it (no UTC); the Outbox names kinds in words; the patient
pages carry the practice's name."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from portal_app import db, routes
from portal_app.services import audit, keys, settings
from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import create_patient, staff_sign_in, unique_tag

CENTRAL = re.compile(r"\d{2}\/\d{2}\/\d{4} \d{1,2}:\d{2}[AP]M \(C[SD]T\)")


def _restore(app_server: AppServer, name: str) -> None:
    with db.session_scope(app_server.db_url) as session:
        row = settings.get(session=session)
        row.time_zone, row.practice_name = "UTC", name
        session.add(row)
        session.commit()


def test_the_practices_zone_and_name_reach_staff_lists_messages_and_patient_pages(
        app_server: AppServer, page: Page) -> None:
    with db.session_scope(app_server.db_url) as session:
        old_name = settings.get(session=session).practice_name
    practice = f"Lakeside Clinic {unique_tag()}"
    try:
        staff_sign_in(page)
        goto(page, routes.PORTAL_SETTINGS)
        page.get_by_label("Practice name").fill(practice)
        page.get_by_label("Time zone").fill("America/Chicago")
        page.get_by_role("button", name="Save settings").click()
        expect(page.get_by_text("Portal settings saved.")).to_be_visible()

        patient = create_patient(app_server, first_name="Zoe", last_name=f"Nguyen-{unique_tag()}",
                                 portal_enabled=True)
        with db.session_scope(app_server.db_url) as session:
            keys.generate_key(session=session, patient_id=patient.id, channel="email", address=patient.email,
                              requested_by="Self", actor=audit.Actor.system("e2e test"))
            session.commit()

        goto(page, routes.OUTBOX)
        row = page.get_by_role("row").filter(has_text=patient.email.lower()).first
        expect(row.get_by_role("cell", name="Connection key", exact=True)).to_be_visible()
        expect(row.get_by_role("cell", name=CENTRAL)).to_be_visible()
        expect(row).not_to_contain_text("UTC")
        expect(row).not_to_contain_text("connection_key")
        # The staff header: the previous sign-in in the practice's zone.
        expect(page.get_by_text(CENTRAL).first).to_be_visible()

        # The patient's email, as the patient reads it: the expiry in plain words, Central Time.
        row.get_by_role("button", name=re.compile("View|Read|Open")).first.click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(re.compile(r"expires on \w+day, \w+ \d{1,2}, \d{4} at \d{1,2}:\d\d [AP]M "
                                                  r"\(C[SD]T\)"))
        expect(dialog).not_to_contain_text("UTC")

        goto(page, routes.LOGIN)
        expect(page.get_by_role("banner")).to_contain_text(practice)
        expect(page.get_by_role("banner")).not_to_contain_text("Patient Portal")
    finally:
        _restore(app_server, old_name)


def test_bad_staff_usernames_and_long_role_names_are_refused_beside_the_field(page: Page) -> None:
    staff_sign_in(page)
    goto(page, routes.ROLES)
    name = page.get_by_label("New role name")
    name.fill("x" * 5000)
    expect(name).to_have_value("x" * 5000)  # never cut short without a word
    page.get_by_role("button", name="Create role").click()
    expect(page.get_by_text("Role name must be at most 100 characters.")).to_be_visible()

    goto(page, routes.STAFF_USERS)
    expect(page.get_by_text("no spaces").first).to_be_visible()  # the rule beside the field
    page.get_by_label("Username").fill("<b>nora north</b>")
    page.get_by_label("Full name").fill("Nora North")
    page.get_by_role("checkbox").first.check()
    page.get_by_role("button", name="Create staff user").click()
    expect(page.get_by_text("That username cannot be used.")).to_be_visible()
    expect(page.get_by_label("Full name")).to_have_value("Nora North")  # nothing else typed is lost
