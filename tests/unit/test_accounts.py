"""The accounts core: creating accounts, connecting and disconnecting charts, password links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, select

from portal_app import db
from portal_app.models import (
    AccessType,
    AccountStatus,
    AuthSession,
    ChartAccountState,
    OneTimeSecret,
    Patient,
    PortalAccount,
    PortalConnection,
    SecretPurpose,
    SessionKind,
)
from portal_app.services import accounts, audit, sessions, tokens
from portal_app.services.errors import AlreadyTaken, NotFound
from tests.unit.conftest import make_patient
from tests.unit.races import rival_account, rival_connection

STAFF = audit.Actor.system("test")


def _state(session, patient) -> ChartAccountState:
    session.expire_all()
    return session.get(Patient, patient.id).account_state


def test_get_patient_raises_not_found(session):
    with pytest.raises(NotFound):
        accounts.get_patient(session=session, patient_id=404)


def test_a_created_account_is_undone_by_a_rollback(session, db_url):
    # The first write of the transaction is the account itself: with Python's sqlite3 module a
    # bare SAVEPOINT would be the outermost transaction and its release would commit it.
    accounts.create_account(session=session, user_id="ann@example.com")
    session.rollback()
    with Session(db.engine(db_url)) as other:
        assert other.exec(select(PortalAccount)).first() is None


def test_create_account_pending_or_active_with_its_password(session):
    pending = accounts.create_account(session=session, user_id="ann@example.com", first_name="Ann")
    active = accounts.create_account(session=session, user_id="bob@example.com", password="x" * 20,
                                     verified=True, signed_in=True)
    temporary = accounts.create_account(session=session, user_id="cy@example.com", password="1234",
                                        must_change=True)
    assert (pending.status, pending.password_hash, pending.first_name) == (AccountStatus.PENDING, None, "Ann")
    assert active.status == AccountStatus.ACTIVE and active.password_hash
    assert active.verified_at and active.last_sign_in_at and active.password_changed_at
    assert temporary.must_change_password and temporary.password_changed_at is None


def test_a_user_id_taken_meanwhile_is_a_field_message_and_the_session_goes_on(session):
    with rival_account(), pytest.raises(AlreadyTaken) as caught:
        accounts.create_account(session=session, user_id="ann@example.com", field="username")
    assert caught.value.field == "username"
    assert caught.value.errors == {"username": caught.value.message}
    assert caught.value.message == "ann@example.com was just taken by another account. Choose another username."
    # Only the savepoint was undone: the same session still works and commits.
    accounts.create_account(session=session, user_id="bob@example.com")
    session.commit()
    assert [a.user_id for a in session.exec(select(PortalAccount))] == ["bob@example.com"]


def test_connect_as_self_refreshes_the_chart_and_voids_its_invitation(session):
    patient = make_patient(session, enabled=True)
    tokens.issue(session=session, purpose=SecretPurpose.INVITATION, lifetime=timedelta(days=3),
                 patient_id=patient.id)
    account = accounts.create_account(session=session, user_id="maria@example.com")
    accounts.connect_chart(session=session, account=account, patient=patient, requested_by="test")
    session.commit()
    assert _state(session, patient) == ChartAccountState.INVITED  # pending: no password yet
    assert session.exec(select(OneTimeSecret)).one().revoked_at is not None
    assert accounts.self_account(session=session, patient_id=patient.id).id == account.id


def test_a_representative_leaves_the_chart_state_and_invitation_alone(session):
    patient = make_patient(session, enabled=True)
    tokens.issue(session=session, purpose=SecretPurpose.INVITATION, lifetime=timedelta(days=3),
                 patient_id=patient.id)
    parent = accounts.create_account(session=session, user_id="pat@example.com", password="y" * 20)
    accounts.connect_chart(session=session, account=parent, patient=patient, requested_by="test",
                           access=AccessType.REPRESENTATIVE, permissions="messages", relationship="parent")
    session.commit()
    assert _state(session, patient) == ChartAccountState.NONE
    assert session.exec(select(OneTimeSecret)).one().revoked_at is None
    assert accounts.connected_account_ids(session=session, patient_id=patient.id) == [parent.id]


def test_a_connection_made_meanwhile_is_a_field_message(session):
    patient = make_patient(session, enabled=True)
    account = accounts.create_account(session=session, user_id="maria@example.com")
    with rival_connection(), pytest.raises(AlreadyTaken) as caught:
        accounts.connect_chart(session=session, account=account, patient=patient, requested_by="test",
                               field="key", taken_message="Already connected: {user_id}.")
    assert (caught.value.field, caught.value.message) == ("key", "Already connected: maria@example.com.")


def test_disconnect_refreshes_and_signs_out_an_account_left_without_a_chart(session):
    patient = make_patient(session, enabled=True)
    account = accounts.create_account(session=session, user_id="maria@example.com", password="z" * 20)
    connection = accounts.connect_chart(session=session, account=account, patient=patient, requested_by="t")
    sessions.start(session=session, kind=SessionKind.PORTAL, portal_account_id=account.id)
    accounts.send_password_link(session=session, account=account, patient=patient, to=account.user_id,
                                setup=False, actor=STAFF)
    session.commit()
    assert _state(session, patient) == ChartAccountState.ACTIVE
    done = accounts.disconnect(session=session, connection=connection, patient=patient)
    session.commit()
    assert (done.sessions_ended, done.links_voided) == (1, 1)
    assert _state(session, patient) == ChartAccountState.NONE
    assert session.exec(select(AuthSession)).one().revoked_at is not None
    assert session.exec(select(PortalConnection)).one().revoked_at is not None
