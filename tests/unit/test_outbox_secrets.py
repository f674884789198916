"""Live credentials in the Outbox (issue 11, item 5): links and keys show only with Outbox
Secrets, every view is audited, a letter's key leaves with its one download, a reprint issues
a new key, and a provider's delivery leaves no attachment behind."""

from __future__ import annotations

import re

import pytest
from alembic.config import Config
from sqlalchemy import text
from sqlmodel import col, select

from alembic import command
from portal_app import db
from portal_app.models import AuditEvent, OneTimeSecret, OutboxMessage, Role, RolePermission, SecretPurpose, StaffUser
from portal_app.notify import templates, transports
from portal_app.services import audit, invitations, keys, outbox, permissions
from portal_app.services.errors import Forbidden, NotFound
from portal_app.services.permissions import Level, Permission
from portal_app.state.outbox import OutboxState
from tests.unit.conftest import make_patient
from tests.unit.state_support import sign_in_admin, staff_with, state_for

HIDDEN_LINK = "[link hidden: you need Outbox Secrets]"


@pytest.fixture
def chart(session):
    return make_patient(session, enabled=True, address_line1="12 Elm Street", city="Springfield",
                        region="IL", postal_code="62701")


def _staff(session, username: str, grants: dict[Permission, Level]) -> int:
    staff_with(session, username, grants)
    return session.exec(select(StaffUser.id).where(StaffUser.username == username)).one()


def _views(session) -> list[str]:
    return [e.detail for e in session.exec(select(AuditEvent).where(AuditEvent.action == "outbox.view_body")
                                           .order_by(col(AuditEvent.id)))]


def _invitation(session, admin, patient) -> OutboxMessage:
    invitations.send_invitation_or_reset(session=session, patient_id=patient.id, actor=audit.Actor.staff(admin.id))
    return session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id).desc())).first()


def _live_keys(session, patient_id: int) -> list[OneTimeSecret]:
    session.expire_all()
    return list(session.exec(select(OneTimeSecret).where(
        OneTimeSecret.patient_id == patient_id, OneTimeSecret.purpose == SecretPurpose.CONNECTION_KEY,
        col(OneTimeSecret.revoked_at).is_(None))))


def test_administrator_has_outbox_secrets_and_front_desk_does_not(session, admin):
    assert permissions.BUILT_IN_ROLES[permissions.ADMINISTRATOR][Permission.OUTBOX_SECRETS] == Level.WRITE
    assert Permission.OUTBOX_SECRETS not in permissions.BUILT_IN_ROLES[permissions.FRONT_DESK]
    assert outbox.may_see_secrets(session=session, staff_user_id=admin.id)
    desk = _staff(session, "desk", permissions.BUILT_IN_ROLES[permissions.FRONT_DESK])
    assert not outbox.may_see_secrets(session=session, staff_user_id=desk)


def test_front_desk_reads_an_invitation_without_its_link_and_every_view_is_audited(session, admin):
    patient = make_patient(session, enabled=True)
    message = _invitation(session, admin, patient)
    token = re.search(r"token=([A-Za-z0-9_-]{20,})", message.body_text).group(1)
    desk = _staff(session, "desk", permissions.BUILT_IN_ROLES[permissions.FRONT_DESK])

    hidden = outbox.body(session=session, message_id=message.id, actor_id=desk)
    assert token not in hidden and "/setup" not in hidden and HIDDEN_LINK in hidden
    assert "Maria" in hidden  # the rest of the text is there

    shown = outbox.body(session=session, message_id=message.id, actor_id=admin.id)
    assert token in shown and shown == message.body_text
    assert _views(session) == [f"message #{message.id} (invitation): live secret hidden",
                               f"message #{message.id} (invitation): live secret shown"]
    assert not any(token in detail for detail in _views(session))


def test_an_emailed_key_is_hidden_as_a_key(session, admin, chart):
    issued = keys.generate_key(session=session, patient_id=chart.id, channel="email", address=chart.email,
                               requested_by="Maria herself", actor=audit.Actor.staff(admin.id))
    message = session.get(OutboxMessage, issued.message_id)
    reader = _staff(session, "reader", {Permission.OUTBOX: Level.READ})
    hidden = outbox.body(session=session, message_id=message.id, actor_id=reader)
    assert issued.key not in hidden and "[key hidden: you need Outbox Secrets]" in hidden
    # Outbox Secrets without Outbox itself shows nothing more.
    other = _staff(session, "other", {Permission.OUTBOX_SECRETS: Level.READ})
    assert issued.key not in outbox.body(session=session, message_id=message.id, actor_id=other)


def test_a_letter_keeps_its_key_in_its_pdf_only_until_the_one_download(session, admin, chart):
    issued = keys.generate_key(session=session, patient_id=chart.id, channel="letter", address="",
                               requested_by="Maria herself", actor=audit.Actor.staff(admin.id))
    message = session.get(OutboxMessage, issued.message_id)
    assert message.attachment == issued.letter_pdf and message.pending_secrets == ""
    assert issued.key not in message.body_text

    name, pdf = outbox.letter_pdf(session=session, message_id=message.id, actor_id=admin.id)
    assert pdf == issued.letter_pdf and issued.key.encode() in pdf
    session.expire_all()
    stored = session.get(OutboxMessage, message.id)
    assert stored.attachment is None and stored.body_text == outbox.HANDED_OUT
    assert not re.search(issued.key.replace("-", "-?"), repr(stored.model_dump()))
    with pytest.raises(NotFound, match="downloaded once"):
        outbox.letter_pdf(session=session, message_id=message.id, actor_id=admin.id)
    # The key on paper still works: it was sent, only our copy is gone.
    assert [k.channel for k in _live_keys(session, chart.id)] == ["letter"]


def test_the_wizard_letter_downloads_at_once_and_leaves_no_copy(session, admin, chart):
    issued = keys.generate_key(session=session, patient_id=chart.id, channel="letter", address="",
                               requested_by="Maria herself", actor=audit.Actor.staff(admin.id), download_now=True)
    assert issued.letter_pdf.startswith(b"%PDF")
    session.expire_all()
    stored = session.get(OutboxMessage, issued.message_id)
    assert stored.attachment is None and stored.pending_secrets == "" and stored.body_text == outbox.HANDED_OUT
    [row] = [r for r in outbox.list_messages(session=session) if r.id == stored.id]
    assert not row.has_pdf and row.can_reprint


def test_a_reprint_issues_a_new_key_and_voids_the_old(session, admin, chart):
    actor = audit.Actor.staff(admin.id)
    first = keys.generate_key(session=session, patient_id=chart.id, channel="letter", address="",
                              requested_by="Maria herself", actor=actor, download_now=True)
    name, pdf = keys.reprint_letter(session=session, message_id=first.message_id, actor=actor)
    assert name == f"connection-key-{chart.chart_number}.pdf" and pdf.startswith(b"%PDF")
    assert first.key.encode() not in pdf
    [live] = _live_keys(session, chart.id)
    assert live.secret_hash != keys.key_digest(first.key) and live.requested_by == "Maria herself"
    letters = session.exec(select(OutboxMessage).where(OutboxMessage.channel == "letter")).all()
    assert len(letters) == 2 and all(m.attachment is None for m in letters)  # nothing kept
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "key.reprint")).one()


def test_a_reprint_or_download_without_outbox_secrets_is_refused(session, admin, chart):
    issued = keys.generate_key(session=session, patient_id=chart.id, channel="letter", address="",
                               requested_by="Maria herself", actor=audit.Actor.staff(admin.id))
    desk = _staff(session, "desk", permissions.BUILT_IN_ROLES[permissions.FRONT_DESK])
    with pytest.raises(Forbidden):
        outbox.letter_pdf(session=session, message_id=issued.message_id, actor_id=desk)
    with pytest.raises(Forbidden):
        keys.reprint_letter(session=session, message_id=issued.message_id, actor=audit.Actor.staff(desk))
    session.expire_all()
    assert session.get(OutboxMessage, issued.message_id).attachment == issued.letter_pdf
    assert len(_live_keys(session, chart.id)) == 1


def test_a_provider_delivery_drops_attachments_too(session, admin):
    class Recording:
        name = "recording"

        def send(self, message, *, sender):
            return "rec-1"

    transports.use("email", Recording())
    message = outbox.send(session=session, channel="email", kind="invitation", to="m@example.com",
                          rendered=templates.Rendered(subject="S", text="link https://x/s?token=TOK123", html=""),
                          secrets_in_body=("TOK123",))
    session.commit()
    assert "TOK123" not in message.body_text and message.attachment is None
    message.attachment = b"%PDF with TOK123"
    outbox.deliver(session=session, message=message)  # a delivery with an attachment on the row
    assert message.attachment is None


async def test_the_outbox_page_reprints_with_a_new_key(session, admin, chart):
    first = keys.generate_key(session=session, patient_id=chart.id, channel="letter", address="",
                              requested_by="Maria herself", actor=audit.Actor.staff(admin.id), download_now=True)
    _, state = await state_for(OutboxState, session_id=sign_in_admin(session), path="/staff/outbox")
    await state.load()
    assert state.can_reprint and state.rows[0].can_reprint
    event = await state.reprint_letter(first.message_id)
    assert event is not None and state.error == ""
    assert "new key; the old key no longer works" in state.notice
    assert len(_live_keys(session, chart.id)) == 1

    desk_sid = staff_with(session, "desk", permissions.BUILT_IN_ROLES[permissions.FRONT_DESK])
    _, desk = await state_for(OutboxState, session_id=desk_sid, path="/staff/outbox")
    await desk.load()
    assert not desk.can_reprint
    assert await desk.reprint_letter(first.message_id) is None
    assert "Outbox Secrets" in desk.error and desk.rows  # refused by the service, the list stays


def test_the_migration_grants_outbox_secrets_to_an_existing_administrator_role(new_database):
    url = new_database("old.db")
    config = Config(str(db.ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(db.ROOT / "alembic"))
    config.set_main_option("sqlalchemy.url", url)
    try:
        command.upgrade(config, "6ea7d9955e0b")
        with db.engine(url).begin() as connection:
            connection.execute(text("INSERT INTO role (name, built_in) "
                                    "VALUES ('Administrator', TRUE), ('Front Desk', TRUE)"))
        command.upgrade(config, "head")
        with db.session_scope(url) as session:
            grants = {(role, grant.permission, grant.level) for grant, role in session.exec(
                select(RolePermission, Role.name).join(Role, col(Role.id) == RolePermission.role_id))}
        assert grants == {("Administrator", "Outbox Secrets", 3)}
    finally:
        db.forget(url)
