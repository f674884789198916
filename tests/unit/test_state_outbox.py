"""OutboxState handlers, called directly (no browser)."""

from __future__ import annotations

import base64

from sqlmodel import select

from portal_app import routes
from portal_app.models import AuditEvent, MessageStatus, OutboxMessage
from portal_app.notify import transports
from portal_app.notify.templates import Rendered
from portal_app.services import audit, invitations, outbox
from portal_app.services.permissions import Level, Permission
from portal_app.state.outbox import PAGE_SIZE, OutboxState
from tests.unit.conftest import make_patient
from tests.unit.state_support import sign_in_admin, staff_with, state_for


class FailingTransport:
    name = "failing"

    def send(self, message, *, sender: str) -> str:
        raise transports.SendFailed("mail server unreachable")


async def open_outbox(session_id: str):
    root, state = await state_for(OutboxState, session_id=session_id, path=routes.OUTBOX)
    result = await state.load()
    return state, result


def _failed_invitation(session, admin) -> int:
    patient = make_patient(session, enabled=True)
    transports.use("email", FailingTransport())
    result = invitations.send_invitation_or_reset(session=session, patient_id=patient.id,
                                                  actor=audit.Actor.staff(admin.id))
    transports.use("email", None)
    assert result.status == "failed"
    return session.exec(select(OutboxMessage.id)).one()


def _messages(session, count: int) -> None:
    for number in range(count):
        outbox.send(session=session, channel="email", kind="test", to=f"p{number}@example.com",
                    rendered=Rendered(subject=f"Message {number}", text=f"Body {number}", html=""))
    session.commit()


def _status(session, message_id: int) -> MessageStatus:
    session.expire_all()
    return session.get(OutboxMessage, message_id).status


async def test_retry_of_a_failed_message_sends_it(session, admin):
    message_id = _failed_invitation(session, admin)
    state, _ = await open_outbox(sign_in_admin(session))
    assert [(row.id, row.status) for row in state.rows] == [(message_id, "failed")]
    assert state.rows[0].error == "mail server unreachable"
    assert state.can_retry

    await state.retry(message_id)
    assert state.error == ""
    assert state.notice == f"Message #{message_id} to maria.lopez@example.com was sent."
    assert state.rows[0].status == "sent"
    assert _status(session, message_id) == MessageStatus.SENT
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "outbox.retry")).first()


async def test_retry_that_fails_again_says_so_and_stays_failed(session, admin):
    message_id = _failed_invitation(session, admin)
    state, _ = await open_outbox(sign_in_admin(session))
    transports.use("email", FailingTransport())
    await state.retry(message_id)
    assert "failed again" in state.error
    assert _status(session, message_id) == MessageStatus.FAILED


async def test_retry_of_a_sent_message_is_refused(session, admin):
    _messages(session, 1)
    state, _ = await open_outbox(sign_in_admin(session))
    await state.retry(state.rows[0].id)
    assert state.error == "Only a failed message can be retried."


async def test_read_level_lists_and_reads_but_cannot_retry(session, admin):
    message_id = _failed_invitation(session, admin)
    sid = staff_with(session, "desk", {Permission.OUTBOX: Level.READ})
    state, _ = await open_outbox(sid)
    assert len(state.rows) == 1 and not state.can_retry
    await state.view_body(message_id)
    # Outbox Read alone (Front Desk): the text, but never the live link (issue 11, item 5).
    assert state.body_open and "token=" not in state.body_text and "/setup" not in state.body_text
    assert "[link hidden: you need Outbox Secrets]" in state.body_text
    await state.retry(message_id)
    assert state.error == "You do not have permission to retry messages."
    assert _status(session, message_id) == MessageStatus.FAILED


async def test_without_session_or_permission_nothing_is_shown(session, admin):
    message_id = _failed_invitation(session, admin)
    state, result = await open_outbox("")
    assert result is not None and state.rows == []
    await state.view_body(message_id)
    assert state.body_text == "" and not state.body_open

    sid = staff_with(session, "nobody", {Permission.AUDIT: Level.READ})
    state, _ = await open_outbox(sid)
    assert state.rows == [] and state.error == "You do not have permission to see the outbox."
    await state.retry(message_id)
    assert _status(session, message_id) == MessageStatus.FAILED
    await state.view_body(message_id)
    assert state.body_text == ""


async def test_filter_by_status(session, admin):
    message_id = _failed_invitation(session, admin)
    _messages(session, 3)
    state, _ = await open_outbox(sign_in_admin(session))
    assert len(state.rows) == 4
    await state.set_status_filter("failed")
    assert [row.id for row in state.rows] == [message_id]
    await state.set_status_filter("sent")
    assert len(state.rows) == 3 and all(row.status == "sent" for row in state.rows)
    await state.set_status_filter("status' OR 1=1 --")
    assert state.status_filter == "" and len(state.rows) == 4


async def test_newest_first_with_older_and_newer_pages(session, admin):
    _messages(session, PAGE_SIZE + 5)
    state, _ = await open_outbox(sign_in_admin(session))
    first_page = [row.id for row in state.rows]
    assert len(first_page) == PAGE_SIZE and first_page == sorted(first_page, reverse=True)
    assert state.has_older and not state.has_newer
    await state.older()
    assert len(state.rows) == 5 and max(row.id for row in state.rows) < min(first_page)
    assert not state.has_older and state.has_newer
    await state.newer()
    assert [row.id for row in state.rows] == first_page and not state.has_newer


async def test_view_shows_the_rendered_text_and_close_forgets_it(session, admin):
    _messages(session, 1)
    state, _ = await open_outbox(sign_in_admin(session))
    await state.view_body(state.rows[0].id)
    assert state.body_open and state.body_text == "Body 0" and state.body_subject == "Message 0"
    state.set_body_open(False)
    assert not state.body_open and state.body_text == ""


PDF = b"%PDF-1.4 letter with key ABCD-EFGH"


def _letter(session) -> int:
    patient = make_patient(session, first="Lena", email="lena@example.com")
    message = OutboxMessage(channel="letter", kind="connection_key_letter", to_address="12 Oak St, Salem",
                            subject="Connection key letter", body_text="(printed letter)",
                            idempotency_key="letter-test-1", attachment=PDF, patient_id=patient.id)
    session.add(message)
    session.commit()
    return message.id


async def test_channel_is_shown_and_letters_download_their_pdf_once(session, admin):
    _messages(session, 1)
    letter_id = _letter(session)
    sid = staff_with(session, "desk", {Permission.OUTBOX: Level.READ, Permission.OUTBOX_SECRETS: Level.READ})
    state, _ = await open_outbox(sid)
    assert [(row.channel, row.has_pdf) for row in state.rows] == [("letter", True), ("email", False)]
    event = await state.download_pdf(letter_id)
    assert state.error == ""
    args = {str(name): str(value).strip('"') for name, value in event.args}
    assert event.handler.fn.__qualname__ == "_download"
    assert args["filename"] == f"letter-{letter_id}.pdf"
    assert args["url"] == "data:application/pdf;base64," + base64.b64encode(PDF).decode()
    [audit_row] = session.exec(select(AuditEvent).where(AuditEvent.action == "outbox.download_letter")).all()
    assert audit_row.detail == f"message #{letter_id} (connection_key_letter): PDF not kept"
    assert "ABCD-EFGH" not in audit_row.detail
    # Downloaded once: the stored PDF, and the key in it, are gone.
    assert state.notice.startswith(f"Letter #{letter_id} downloaded.")
    assert [(row.channel, row.has_pdf) for row in state.rows] == [("letter", False), ("email", False)]
    session.expire_all()
    stored = session.get(OutboxMessage, letter_id)
    assert stored.attachment is None and stored.body_text == outbox.HANDED_OUT
    assert await state.download_pdf(letter_id) is None
    assert state.error == outbox.PDF_GONE


async def test_a_letter_pdf_needs_outbox_secrets(session, admin):
    letter_id = _letter(session)
    sid = staff_with(session, "desk", {Permission.OUTBOX: Level.READ})
    state, _ = await open_outbox(sid)
    assert await state.download_pdf(letter_id) is None
    assert state.error == outbox.SECRETS_NEEDED and len(state.rows) == 1  # the list stays
    session.expire_all()
    assert session.get(OutboxMessage, letter_id).attachment == PDF
    [refused] = session.exec(select(AuditEvent).where(AuditEvent.action == "outbox.download_refused")).all()
    assert refused.detail == f"message #{letter_id} (connection_key_letter): no Outbox Secrets"


async def test_download_of_a_non_letter_or_without_permission_is_refused(session, admin):
    _messages(session, 1)
    letter_id = _letter(session)
    state, _ = await open_outbox(sign_in_admin(session))
    email_id = state.rows[1].id
    assert await state.download_pdf(email_id) is None
    assert state.error == "That letter has no PDF to download."

    sid = staff_with(session, "nobody", {Permission.AUDIT: Level.READ})
    state, _ = await open_outbox(sid)
    assert await state.download_pdf(letter_id) is None
    assert state.error == "You do not have permission to see the outbox."
    state, result = await open_outbox("")
    assert await state.download_pdf(letter_id) is not None  # a redirect to sign in, not the PDF
    assert "letter-" not in repr(await state.download_pdf(letter_id))
    assert not session.exec(select(AuditEvent).where(AuditEvent.action == "outbox.download_letter")).all()
