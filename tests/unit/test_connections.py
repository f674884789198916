"""Existing connections of a chart: listing, pending secrets, disconnect, void."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlmodel import select

from portal_app.models import (
    AccessType,
    AuditEvent,
    AuthSession,
    ChartAccountState,
    OneTimeSecret,
    OutboxMessage,
    Patient,
    PortalConnection,
    SecretPurpose,
)
from portal_app.services import audit, connections, invitations, manual_credentials, portal_auth, tokens
from portal_app.services.errors import InvalidInput, NotFound
from tests.unit.conftest import START, make_patient

PASSWORD = "quiet lantern orbit 73 meadow"


def _connected(session, admin, **kw):
    """An enabled chart with an active `self` account set up by staff; returns (patient, account)."""
    patient = make_patient(session, enabled=True, **kw)
    account = manual_credentials.set_manually(session=session, patient_id=patient.id,
                                    username=kw.get("email", "maria.lopez@example.com"),
                                    password=PASSWORD, force_change=False,
                                    actor=audit.Actor.staff(admin.id))
    session.commit()
    return patient, account


def _connect(session, *, account_id, patient_id, access=AccessType.REPRESENTATIVE, relationship="Mother"):
    session.add(PortalConnection(account_id=account_id, patient_id=patient_id, access_type=access,
                                 relationship=relationship, requested_by="Mom"))
    session.commit()


def _secret(session, patient_id, purpose=SecretPurpose.CONNECTION_KEY, *, channel="sms",
            destination="+15555550123", lifetime=timedelta(days=3)):
    plain, row = tokens.issue(session=session, purpose=purpose, lifetime=lifetime,
                              patient_id=patient_id, channel=channel, destination=destination)
    session.commit()
    return plain, row


def _events(session, action):
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


def test_list_connections_shows_who_and_how(session, admin, frozen_clock):
    patient, account = _connected(session, admin)
    other = make_patient(session, first="Ana", last="Lopez", email="ana@example.com", enabled=True)
    _connect(session, account_id=account.id, patient_id=other.id)
    [row] = connections.list_connections(session=session, patient_id=patient.id)
    assert row == connections.ConnectionRow(
        id=row.id, user_id="maria.lopez@example.com", access_type="Self", relationship="",
        connected_on="11/23/2026 3:00PM (UTC)", requested_by="staff (manual setup)",
        connected_by="admin", last_sign_in="never", status="Active")
    [rep] = connections.list_connections(session=session, patient_id=other.id)
    assert (rep.access_type, rep.relationship, rep.requested_by, rep.connected_by) == (
        "Authorized representative", "Mother", "Mom", "")


def test_list_connections_leaves_out_revoked_ones_and_unknown_chart_is_refused(session, admin):
    patient, account = _connected(session, admin)
    [row] = connections.list_connections(session=session, patient_id=patient.id)
    connections.disconnect(session=session, patient_id=patient.id, connection_id=row.id,
                           actor=audit.Actor.staff(admin.id))
    assert connections.list_connections(session=session, patient_id=patient.id) == []
    with pytest.raises(NotFound):
        connections.list_connections(session=session, patient_id=999_999)


def test_disconnect_ends_access_to_the_chart_at_once(session, admin, frozen_clock):
    patient, account = _connected(session, admin)
    sid = portal_auth.sign_in(session=session, user_id=account.user_id, password=PASSWORD)
    assert [c.patient_id for c in portal_auth.principal_for(session=session, session_id=sid).charts] == [patient.id]
    [row] = connections.list_connections(session=session, patient_id=patient.id)

    connections.disconnect(session=session, patient_id=patient.id, connection_id=row.id,
                           actor=audit.Actor.staff(admin.id))

    assert portal_auth.principal_for(session=session, session_id=sid) is None
    assert session.exec(select(AuthSession).where(AuthSession.revoked_at.is_(None))
                        .where(AuthSession.portal_account_id == account.id)).first() is None
    with pytest.raises(portal_auth.SignInFailed):
        portal_auth.sign_in(session=session, user_id=account.user_id, password=PASSWORD)
    session.expire_all()
    assert session.get(Patient, patient.id).account_state == ChartAccountState.NONE
    [event] = _events(session, "chart.disconnect")
    assert (event.staff_user_id, event.patient_id, event.account_id) == (admin.id, patient.id, account.id)
    assert "maria.lopez@example.com (Self): connected -> disconnected" in event.detail
    assert "sessions ended=1" in event.detail


def test_disconnect_keeps_the_other_chart_and_the_session(session, admin):
    patient, account = _connected(session, admin)
    child = make_patient(session, first="Leo", last="Lopez", email="leo@example.com", enabled=True)
    _connect(session, account_id=account.id, patient_id=child.id)
    sid = portal_auth.sign_in(session=session, user_id=account.user_id, password=PASSWORD)
    [row] = connections.list_connections(session=session, patient_id=child.id)

    connections.disconnect(session=session, patient_id=child.id, connection_id=row.id,
                           actor=audit.Actor.staff(admin.id))

    principal = portal_auth.principal_for(session=session, session_id=sid)
    assert principal is not None
    assert [c.patient_id for c in principal.charts] == [patient.id]  # the child's chart is gone


def test_disconnect_ends_the_session_when_the_other_chart_is_not_enabled(session, admin):
    patient, account = _connected(session, admin)
    other = make_patient(session, first="Leo", last="Lopez", email="leo@example.com", enabled=False)
    _connect(session, account_id=account.id, patient_id=other.id)
    sid = portal_auth.sign_in(session=session, user_id=account.user_id, password=PASSWORD)
    [row] = connections.list_connections(session=session, patient_id=patient.id)
    connections.disconnect(session=session, patient_id=patient.id, connection_id=row.id,
                           actor=audit.Actor.staff(admin.id))
    assert portal_auth.principal_for(session=session, session_id=sid) is None
    assert session.exec(select(AuthSession).where(AuthSession.token_hash == tokens.digest(sid))
                        ).one().revoked_at is not None


def test_disconnect_voids_the_accounts_reset_links_for_the_chart(session, admin):
    patient, account = _connected(session, admin)
    invitations.send_invitation_or_reset(session=session, patient_id=patient.id,
                                         actor=audit.Actor.staff(admin.id))
    session.commit()
    [reset] = connections.list_pending(session=session, patient_id=patient.id)
    assert reset.purpose == "password_reset"
    [row] = connections.list_connections(session=session, patient_id=patient.id)
    connections.disconnect(session=session, patient_id=patient.id, connection_id=row.id,
                           actor=audit.Actor.staff(admin.id))
    assert connections.list_pending(session=session, patient_id=patient.id) == []


def test_disconnect_refuses_another_charts_or_a_revoked_connection(session, admin):
    patient, account = _connected(session, admin)
    other = make_patient(session, first="Ana", last="Diaz", email="ana@example.com", enabled=True)
    [row] = connections.list_connections(session=session, patient_id=patient.id)
    with pytest.raises(NotFound):
        connections.disconnect(session=session, patient_id=other.id, connection_id=row.id,
                               actor=audit.Actor.staff(admin.id))
    session.expire_all()
    assert session.get(PortalConnection, row.id).revoked_at is None
    connections.disconnect(session=session, patient_id=patient.id, connection_id=row.id,
                           actor=audit.Actor.staff(admin.id))
    with pytest.raises(NotFound):  # twice (a double click) changes nothing more
        connections.disconnect(session=session, patient_id=patient.id, connection_id=row.id,
                               actor=audit.Actor.staff(admin.id))
    assert len(_events(session, "chart.disconnect")) == 1


def test_pending_lists_live_secrets_without_values(session, admin, frozen_clock):
    patient = make_patient(session, enabled=True)
    plain, key = _secret(session, patient.id)
    _secret(session, patient.id, SecretPurpose.INVITATION, channel="email",
            destination="maria.lopez@example.com", lifetime=timedelta(hours=72))
    # Not listed: used, voided, expired, another chart's.
    _, used = _secret(session, patient.id, SecretPurpose.CONNECT_TOKEN)
    used.used_at = START
    _, expired = _secret(session, patient.id, SecretPurpose.CONTACT_VERIFICATION, lifetime=timedelta(minutes=5))
    other = make_patient(session, first="Ana", last="Diaz", email="ana@example.com")
    _secret(session, other.id)
    session.commit()
    frozen_clock(START + timedelta(minutes=10))

    rows = connections.list_pending(session=session, patient_id=patient.id)
    assert [(r.purpose_label, r.channel, r.destination, r.expires, r.can_resend) for r in rows] == [
        ("Invitation", "Email", "maria.lopez@example.com", "11/26/2026 3:00PM (UTC)", True),
        ("Connection key", "Text message", "(555) 555-0123", "11/26/2026 3:00PM (UTC)", True),
    ]
    fields = {field.name for field in dataclasses.fields(connections.PendingRow)}
    assert not fields & {"secret_hash", "salt", "value", "secret"}
    assert all(plain not in repr(r) and key.secret_hash not in repr(r) for r in rows)


def test_void_revokes_only_that_patients_secret_and_audits(session, admin):
    patient = make_patient(session, enabled=True)
    other = make_patient(session, first="Ana", last="Diaz", email="ana@example.com", enabled=True)
    _, mine = _secret(session, patient.id)
    _, theirs = _secret(session, other.id)

    with pytest.raises(NotFound):  # another chart's secret, through this chart
        connections.void_secret(session=session, patient_id=patient.id, secret_id=theirs.id,
                                actor=audit.Actor.staff(admin.id))
    session.expire_all()
    assert session.get(OneTimeSecret, theirs.id).revoked_at is None

    voided = connections.void_secret(session=session, patient_id=patient.id, secret_id=mine.id,
                                     actor=audit.Actor.staff(admin.id))
    assert voided.purpose_label == "Connection key"
    session.expire_all()
    assert session.get(OneTimeSecret, mine.id).revoked_at is not None
    assert session.get(OneTimeSecret, theirs.id).revoked_at is None
    assert connections.list_pending(session=session, patient_id=patient.id) == []
    [event] = _events(session, "secret.void")
    assert event.patient_id == patient.id and event.staff_user_id == admin.id
    assert event.detail == f"connection_key #{mine.id} by sms: pending -> void"
    with pytest.raises(NotFound):  # already void
        connections.void_secret(session=session, patient_id=patient.id, secret_id=mine.id,
                                actor=audit.Actor.staff(admin.id))


def test_voided_key_no_longer_works(session, admin):
    patient = make_patient(session, enabled=True)
    plain, row = _secret(session, patient.id, SecretPurpose.INVITATION, channel="email")
    assert tokens.find_live(session=session, plain=plain, purposes=(SecretPurpose.INVITATION,))
    connections.void_secret(session=session, patient_id=patient.id, secret_id=row.id,
                            actor=audit.Actor.staff(admin.id))
    assert tokens.find_live(session=session, plain=plain, purposes=(SecretPurpose.INVITATION,)) is None
    assert plain not in "".join(e.detail for e in session.exec(select(AuditEvent)))


def _live(session, patient_id, purpose):
    session.expire_all()
    return session.exec(select(OneTimeSecret).where(
        OneTimeSecret.patient_id == patient_id, OneTimeSecret.purpose == purpose,
        OneTimeSecret.revoked_at.is_(None), OneTimeSecret.used_at.is_(None))).all()


def test_resend_replaces_a_token_or_key_sent_by_email_the_same_way(session, admin):
    from portal_app.services import connect, keys

    patient = make_patient(session, enabled=True)
    actor = audit.Actor.staff(admin.id)
    connect.send_connect_token(session=session, patient_id=patient.id, channel="email",
                               address=patient.email, requested_by="Maria", actor=actor)
    keys.generate_key(session=session, patient_id=patient.id, channel="email",
                      address=patient.email, requested_by="Maria", actor=actor)
    for purpose, kind in ((SecretPurpose.CONNECT_TOKEN, "connect_token"),
                          (SecretPurpose.CONNECTION_KEY, "connection_key")):
        [old] = _live(session, patient.id, purpose)
        before = len([m for m in session.exec(select(OutboxMessage)) if m.kind == kind])
        result = connections.resend(session=session, patient_id=patient.id, secret_id=old.id,
                                    actor=actor)
        assert result.sent and "no longer works" in result.message
        [new] = _live(session, patient.id, purpose)
        assert new.id != old.id
        assert (new.channel, new.destination, new.requested_by) == ("email", patient.email, "Maria")
        assert len([m for m in session.exec(select(OutboxMessage)) if m.kind == kind]) == before + 1


def test_resend_refuses_letters_and_other_charts_secrets(session, admin):
    patient = make_patient(session, enabled=True)
    other = make_patient(session, first="Ana", last="Diaz", email="ana@example.com", enabled=True)
    _, letter = _secret(session, patient.id, channel="letter", destination="1 Main St")
    _, theirs = _secret(session, other.id, SecretPurpose.INVITATION, channel="email",
                        destination="ana@example.com")
    actor = audit.Actor.staff(admin.id)
    with pytest.raises(InvalidInput, match="print a new one"):
        connections.resend(session=session, patient_id=patient.id, secret_id=letter.id, actor=actor)
    with pytest.raises(NotFound):
        connections.resend(session=session, patient_id=patient.id, secret_id=theirs.id, actor=actor)
    assert session.get(OneTimeSecret, letter.id).revoked_at is None


def test_resend_of_a_representatives_set_up_link_goes_to_the_representative(session, admin, frozen_clock):
    from portal_app.services import portal_accounts

    child = make_patient(session, first="Tim", last="Lopez", email="tim.lopez@example.com", enabled=True)
    form = portal_accounts.AccountForm(username="pat.parent@example.com", first_name="Pat", last_name="Parent",
                                       access_type="representative", relationship="parent",
                                       permissions=("messages",))
    portal_accounts.save(session=session, patient_id=child.id, connection_id=0, form=form,
                         actor=audit.Actor.staff(admin.id))
    [old] = connections.list_pending(session=session, patient_id=child.id)
    assert (old.purpose, old.destination) == ("password_reset", "pat.parent@example.com")
    frozen_clock(START + timedelta(minutes=5))

    result = connections.resend(session=session, patient_id=child.id, secret_id=old.id,
                                actor=audit.Actor.staff(admin.id))

    assert result.sent and "pat.parent@example.com" in result.message
    session.expire_all()
    assert session.get(OneTimeSecret, old.id).revoked_at is not None
    [new] = connections.list_pending(session=session, patient_id=child.id)
    assert (new.purpose, new.destination) == ("password_reset", "pat.parent@example.com")
    assert session.get(OneTimeSecret, new.id).account_id == session.get(OneTimeSecret, old.id).account_id
    sent = list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert [(m.to_address, m.kind) for m in sent] == [("pat.parent@example.com", "representative_setup")] * 2
    assert session.exec(select(OneTimeSecret).where(
        OneTimeSecret.purpose == SecretPurpose.INVITATION)).first() is None
