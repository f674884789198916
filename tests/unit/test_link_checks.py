"""An invitation link answers "That username is already in use" only a few times
(services/link_checks.py): it cannot be used to ask "is this person a patient here?" without limit."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from portal_app.models import AuditEvent, OneTimeSecret, OutboxMessage, PortalAccount, SecretPurpose
from portal_app.services import accounts, audit, invitations, link_checks
from portal_app.services.errors import InvalidInput
from tests.unit.conftest import make_patient

PASSWORD = "quiet lantern orbit 73 meadow"
OWN = "maria.lopez@example.com"
STOPPED = link_checks.CHECKS_STOPPED.format(phone="(555) 010-0100")


@pytest.fixture
def link(session, admin) -> str:
    """A live invitation to Maria's chart; 12 other people have portal accounts."""
    for n in range(12):
        accounts.create_account(session=session, user_id=f"patient{n}@example.com")
    session.commit()
    patient = make_patient(session, enabled=True)
    invitations.send_invitation_or_reset(session=session, patient_id=patient.id, actor=audit.Actor.staff(admin.id))
    body = session.exec(select(OutboxMessage.body_text).where(OutboxMessage.kind == "invitation")).one()
    return re.search(r"token=([\w-]+)", body).group(1)


def answer(session, token: str, user_id: str) -> str:
    """What the set-up form says beside the username (the account is created when it says nothing)."""
    try:
        invitations.redeem_invitation(session=session, token=token, user_id=user_id, password=PASSWORD,
                                      confirm=PASSWORD)
    except InvalidInput as refused:
        assert refused.field == "user_id"
        return refused.message
    return ""


def stopped_events(session) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == "link.user_id_checks_stopped")))


def test_after_ten_names_in_use_a_link_answers_neutrally_and_is_audited_once(session, link):
    taken = [answer(session, link, f"patient{n}@example.com") for n in range(10)]
    assert taken == [invitations.USER_ID_IN_USE] * 10
    # From now on a taken name and a free one get the same neutral answer, and nothing is created.
    assert answer(session, link, "patient10@example.com") == STOPPED
    assert answer(session, link, "patient11@example.com") == STOPPED
    assert answer(session, link, "nobody.here@example.com") == STOPPED
    assert "call the practice at (555) 010-0100" in STOPPED
    assert session.exec(select(PortalAccount).where(PortalAccount.user_id == "nobody.here@example.com")).first() is None
    [event] = stopped_events(session)
    assert "10 usernames already in use" in event.detail and event.patient_id is not None
    row = session.exec(select(OneTimeSecret).where(OneTimeSecret.purpose == SecretPurpose.INVITATION)).one()
    assert row.user_id_checks >= 10 and row.used_at is None
    # The address the invitation went to still works: its holder knew it already.
    assert answer(session, link, OWN.upper()) == ""
    assert session.exec(select(PortalAccount).where(PortalAccount.user_id == OWN)).one()


def test_a_patient_trying_a_few_names_gets_the_honest_answers(session, link):
    for n in range(3):
        assert answer(session, link, f"patient{n}@example.com") == invitations.USER_ID_IN_USE
    assert answer(session, link, "maria.l.1980@example.com") == ""
    assert stopped_events(session) == []


def test_free_names_and_the_links_own_address_are_not_counted(session, link):
    assert answer(session, link, "not an address") != ""  # badly formed: not a check at all
    accounts.create_account(session=session, user_id=OWN)  # someone already has the invited address
    session.commit()
    for _ in range(12):
        assert answer(session, link, OWN) == invitations.USER_ID_IN_USE
    row = session.exec(select(OneTimeSecret).where(OneTimeSecret.purpose == SecretPurpose.INVITATION)).one()
    assert row.user_id_checks == 0
    assert answer(session, link, "patient0@example.com") == invitations.USER_ID_IN_USE
