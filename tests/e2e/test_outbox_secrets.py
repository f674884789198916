"""Live credentials in the Outbox (issue 11, item 5), as staff see them: Front Desk (Outbox Read)
reads an invitation with its link hidden; the administrator (Outbox Secrets) reads the link;
a key letter's PDF downloads once, then only "Reprint with a new key" is offered."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlmodel import select

from portal_app import db, routes
from portal_app.models import OutboxMessage
from portal_app.services import audit, invitations, keys, permissions, staff_auth
from tests.e2e.conftest import AppServer, goto
from tests.e2e.helpers import create_patient, staff_sign_in, unique_tag

STAFF_PASSWORD = "quartz heron lattice ember 64"


def _front_desk(app_server: AppServer) -> str:
    username = f"desk{unique_tag().lower()}"
    with db.session_scope(app_server.db_url) as session:
        staff_auth.create_staff(session=session, username=username, full_name=f"Dee {username}",
                                password=STAFF_PASSWORD, role=permissions.FRONT_DESK)
    return username


def _sign_in_as(page: Page, username: str) -> None:
    goto(page, "/staff/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def _view(page: Page, message_id: int):
    goto(page, routes.OUTBOX)
    page.get_by_role("button", name=f"View message #{message_id}", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    return dialog


def test_front_desk_reads_an_invitation_without_its_live_link(app_server: AppServer, page: Page,
                                                               new_context) -> None:
    patient = create_patient(app_server, first_name="Greta", last_name=f"Holm-{unique_tag()}", portal_enabled=True)
    with db.session_scope(app_server.db_url) as session:
        invitations.send_invitation_or_reset(session=session, patient_id=patient.id,
                                             actor=audit.Actor.system("e2e test"))
        message_id = session.exec(select(OutboxMessage.id).where(OutboxMessage.patient_id == patient.id)).one()
    desk = _front_desk(app_server)

    _sign_in_as(page, desk)
    dialog = _view(page, message_id)
    expect(dialog).to_contain_text("[link hidden: you need Outbox Secrets]")
    expect(dialog).to_contain_text("Greta")
    expect(dialog).not_to_contain_text("token=")

    admin_page = new_context().new_page()
    staff_sign_in(admin_page)
    dialog = _view(admin_page, message_id)
    expect(dialog).to_contain_text(re.compile(r"/setup\?p=invite&token=[A-Za-z0-9_-]{20,}"))


def test_a_key_letter_downloads_once_then_reprints_with_a_new_key(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Lars", last_name=f"Berg-{unique_tag()}", portal_enabled=True)
    with db.session_scope(app_server.db_url) as session:
        issued = keys.generate_key(session=session, patient_id=patient.id, channel="letter", address="",
                                   requested_by="Patient by phone", actor=audit.Actor.system("e2e test"))
    desk = _front_desk(app_server)

    # Front Desk sees the letter but its PDF (a live key) is not for them.
    _sign_in_as(page, desk)
    goto(page, routes.OUTBOX)
    page.get_by_role("button", name=f"Download PDF of letter #{issued.message_id}").click()
    expect(page.get_by_text("This letter holds a live connection key")).to_be_visible()
    expect(page.get_by_role("button", name=f"Reprint letter #{issued.message_id} with a new key")).to_have_count(0)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/staff/login/?$"))

    staff_sign_in(page)
    goto(page, routes.OUTBOX)
    download_button = page.get_by_role("button", name=f"Download PDF of letter #{issued.message_id}")
    with page.expect_download() as first:
        download_button.click()
    assert first.value.suggested_filename == f"letter-{issued.message_id}.pdf"
    expect(page.get_by_text("the outbox keeps no copy of its PDF")).to_be_visible()
    expect(download_button).to_have_count(0)

    reprint = page.get_by_role("button", name=f"Reprint letter #{issued.message_id} with a new key")
    with page.expect_download() as second:
        reprint.click()
    assert second.value.suggested_filename == f"connection-key-{patient.chart_number}.pdf"
    expect(page.get_by_text("the old key no longer works")).to_be_visible()
    with db.session_scope(app_server.db_url) as session:
        letters = session.exec(select(OutboxMessage.attachment).where(OutboxMessage.patient_id == patient.id)).all()
    assert letters == [None, None]
