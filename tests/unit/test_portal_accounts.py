"""services.portal_accounts: the rules of Portal Account Setup."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlmodel import select

from portal_app.models import (
    AccessType,
    AccountStatus,
    AuditEvent,
    FormRequest,
    OutboxMessage,
    PortalAccount,
    PortalConnection,
    SecretPurpose,
)
from portal_app.services import (
    audit,
    generated_credentials,
    invitations,
    passwords,
    portal_accounts,
    portal_auth,
    portal_users,
    tokens,
)
from portal_app.services.areas import ALL_AREAS
from portal_app.services.errors import FormInvalid, InvalidInput, NotFound
from portal_app.services.portal_accounts import AccountForm
from tests.unit.conftest import make_patient

PARENT_PASSWORD = "quiet lantern orbit 73 meadow"
_LINK_TOKEN = re.compile(r"token=([\w-]+)")


def _self_form(**overrides) -> AccountForm:
    values = dict(username="maria.lopez@example.com", first_name="Maria", last_name="Lopez",
                  access_type="self", force_change=True, permissions=tuple(ALL_AREAS.split(",")))
    values.update(overrides)
    return AccountForm(**values)


def _rep_form(**overrides) -> AccountForm:
    values = dict(username="pat.parent@example.com", first_name="Pat", last_name="Parent",
                  access_type="representative", relationship="parent", force_change=False,
                  permissions=("messages", "documents"))
    values.update(overrides)
    return AccountForm(**values)


def _save(session, admin, patient, form, connection_id=0):
    return portal_accounts.save(session=session, patient_id=patient.id, connection_id=connection_id,
                                form=form, actor=audit.Actor.staff(admin.id))


def _signed_in_parent_of(session, admin, first, second):
    """A parent connected to both charts, with a password, signed in: (first connection id,
    account, session id)."""
    first_id = _save(session, admin, first, _rep_form()).connection_id
    _save(session, admin, second, _rep_form(connect_existing=True))
    account = session.exec(select(PortalAccount)).one()
    account.password_hash = passwords.hash_password(PARENT_PASSWORD)
    account.status = AccountStatus.ACTIVE
    session.add(account)
    session.commit()
    sid = portal_auth.sign_in(session=session, user_id=account.user_id, password=PARENT_PASSWORD)
    return first_id, account, sid


def _events(session, action):
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


def _all_audit_text(session) -> str:
    return "\n".join(e.detail for e in session.exec(select(AuditEvent)))


# ---- usernames ---------------------------------------------------------------------------


def test_normalize_username_accepts_email_phone_and_plain_names():
    assert portal_accounts.normalize_username(" Maria.Lopez@Example.com ") == "maria.lopez@example.com"
    assert portal_accounts.normalize_username("(615) 555-0142") == "+16155550142"
    assert portal_accounts.normalize_username("Maria.Lopez2") == "maria.lopez2"
    for bad in ("", "ab", "maria lopez", "x" * 70, "a<b"):
        with pytest.raises(InvalidInput) as caught:
            portal_accounts.normalize_username(bad)
        assert caught.value.field == "username"


def test_taken_email_suggests_the_next_free_numbered_variant(session, admin):
    assert portal_accounts.suggest_username(session=session, email="maria.lopez@example.com") == \
        "maria.lopez@example.com"
    session.add(PortalAccount(user_id="maria.lopez@example.com"))
    session.add(PortalAccount(user_id="maria.lopez2"))
    session.commit()
    assert portal_accounts.suggest_username(session=session, email="Maria.Lopez@example.com") == "maria.lopez3"


def test_fill_from_chart_loads_names_and_a_free_username(session):
    patient = make_patient(session, enabled=True)
    fill = portal_accounts.fill_from_chart(session=session, patient_id=patient.id)
    assert (fill.username, fill.first_name, fill.last_name) == ("maria.lopez@example.com", "Maria", "Lopez")
    session.add(PortalAccount(user_id="maria.lopez@example.com"))
    session.commit()
    fill = portal_accounts.fill_from_chart(session=session, patient_id=patient.id)
    assert fill.username == "maria.lopez2" and "already used" in fill.message


def test_check_username_says_taken_connected_or_free(session, admin):
    patient = make_patient(session, enabled=True)
    check = portal_accounts.check_username(session=session, patient_id=patient.id, username="new@example.com")
    assert check.ok and check.normalized == "new@example.com"
    _save(session, admin, patient, _self_form())
    here = portal_accounts.check_username(session=session, patient_id=patient.id,
                                          username="MARIA.LOPEZ@example.com")
    assert not here.ok and "already connected to this chart" in here.message and not here.connectable
    other = make_patient(session, first="Ana", last="Lopez", email="ana@example.com", enabled=True)
    there = portal_accounts.check_username(session=session, patient_id=other.id,
                                           username="maria.lopez@example.com")
    assert not there.ok and there.connectable and there.suggestion == "maria.lopez2"



def test_a_representative_is_never_offered_a_plain_numbered_username(session, admin):
    # A new representative's username must be an email (the link goes there): a suggested
    # "maria.lopez2" would only be refused at Save.
    patient = make_patient(session, enabled=True)
    _save(session, admin, patient, _self_form())
    child = make_patient(session, first="Leo", last="Lopez", email="", enabled=True)
    check = portal_accounts.check_username(session=session, patient_id=child.id,
                                           username="maria.lopez@example.com", access_type="representative")
    assert check.connectable and check.suggestion == ""
    assert "maria.lopez2" not in check.message and "representative's own email address" in check.message
    assert "choose Authorized Representative" not in check.message  # it is chosen already
    with pytest.raises(FormInvalid) as caught:
        _save(session, admin, child, _rep_form(username="maria.lopez@example.com"))
    assert "maria.lopez2" not in caught.value.errors["username"]


def test_fill_from_chart_for_a_representative_leaves_the_names_to_type(session):
    # The chart's names are the patient's; the representative signs in under their own.
    child = make_patient(session, first="Leo", last="Lopez", email="Family.Lopez@example.com", enabled=True)
    fill = portal_accounts.fill_from_chart(session=session, patient_id=child.id, access_type="representative")
    assert (fill.username, fill.first_name, fill.last_name) == ("family.lopez@example.com", "", "")
    assert "representative's own name" in fill.message
    bare = make_patient(session, first="Mia", last="Lopez", email="", enabled=True)
    fill = portal_accounts.fill_from_chart(session=session, patient_id=bare.id, access_type="representative")
    assert (fill.username, fill.first_name) == ("", "") and "has no email" in fill.message


# ---- a new Self account --------------------------------------------------------------------


def test_new_self_account_gets_a_generated_password_shown_once(session, admin, frozen_clock):
    patient = make_patient(session, enabled=True)
    result = _save(session, admin, patient, _self_form(forms=("intake", "consent")))
    creds = result.credentials
    assert creds is not None and creds.user_id == "maria.lopez@example.com"
    assert re.fullmatch(r"([A-Z0-9]{4}-){4}[A-Z0-9]{4}", creds.password)
    passwords.check_password(creds.password, personal=("Maria", "Lopez"))  # strong enough
    assert creds.must_change and creds.expires and creds.portal_url.endswith("/login")
    account = session.exec(select(PortalAccount)).one()
    assert account.status == AccountStatus.ACTIVE and account.must_change_password
    assert account.temp_password_expires_at is not None
    assert (account.first_name, account.last_name) == ("Maria", "Lopez")
    connection = session.exec(select(PortalConnection)).one()
    assert connection.access_type == AccessType.SELF and connection.permissions == ALL_AREAS
    assert connection.connected_by_staff_id == admin.id
    # The patient signs in with it and must change it.
    sid = portal_auth.sign_in(session=session, user_id="maria.lopez@example.com", password=creds.password)
    assert portal_auth.principal_for(session=session, session_id=sid).must_change_password
    # Never stored, logged or emailed.
    assert creds.password not in _all_audit_text(session)
    assert all(creds.password not in m.body_text for m in session.exec(select(OutboxMessage)))
    assert creds.password not in repr(creds)
    assert _events(session, "account_setup.create") and _events(session, "account_setup.connect")
    assert {r.form for r in session.exec(select(FormRequest))} == {"intake", "consent"}



def test_the_generated_password_comes_from_the_shared_generator(session, admin, monkeypatch):
    # One generator for every password staff hand over (services.passwords.generate).
    seen: list[tuple[str, ...]] = []

    def fake_generate(personal=()):
        seen.append(personal)
        return "Abcd-Efgh-Jkmn-Pqrs"

    monkeypatch.setattr(passwords, "generate", fake_generate)
    patient = make_patient(session, enabled=True)
    result = _save(session, admin, patient, _self_form())
    assert result.credentials.password == "Abcd-Efgh-Jkmn-Pqrs"
    assert "Maria" in seen[0] and "maria.lopez@example.com" in seen[0]  # never built from names
    assert not hasattr(portal_accounts, "generate_password")

def test_a_blank_username_is_refused_never_filled_from_the_chart(session, admin):
    # Save uses exactly what is in the field (a Self account was once made on a child's chart
    # from its email because the field was left empty).
    session.add(PortalAccount(user_id="maria.lopez@example.com"))
    session.commit()
    patient = make_patient(session, enabled=True)
    for blank in ("", "   "):
        with pytest.raises(FormInvalid) as caught:
            _save(session, admin, patient, _self_form(username=blank))
        assert caught.value.errors["username"] == "Enter a username (an email address is preferred)."
    assert session.exec(select(PortalConnection)).first() is None


def test_the_live_check_answers_as_save_does(session, admin):
    """Whatever the live check calls available, Save accepts; whatever it refuses, Save refuses
    with the same words (for each access type)."""
    patient = make_patient(session, enabled=True, first="Teo", email="teo@example.com")
    cases = [("self", "teo.lopez"), ("self", "+12015550123"), ("self", "new@example.com"),
             ("representative", "pat.parent"), ("representative", "+12015550124"),
             ("representative", "pat@example.com"), ("self", "\U0001f600\U0001f600\U0001f600@example.com"),
             ("representative", "jos\u00e9@example.com"), ("self", "x")]
    for access, username in cases:
        check = portal_accounts.check_username(session=session, patient_id=patient.id, username=username,
                                               access_type=access)
        form = _rep_form(username=username) if access == "representative" else _self_form(
            username=username, first_name="Teo")
        try:
            result = _save(session, admin, patient, form)
        except FormInvalid as exc:
            assert not check.ok, (access, username, exc.errors)
            assert exc.errors["username"] == check.message
        else:
            assert check.ok, (access, username)
            # Free the chart for the next case.
            portal_accounts.delete_connection(session=session, patient_id=patient.id,
                                              connection_id=result.connection_id, actor=audit.Actor.staff(admin.id))
    plain_rep = portal_accounts.check_username(session=session, patient_id=patient.id, username="pat.parent",
                                               access_type="representative")
    assert not plain_rep.ok and "must be their email address" in plain_rep.message
    emoji = portal_accounts.check_username(session=session, patient_id=patient.id,
                                           username="\U0001f600\U0001f600\U0001f600@example.com")
    assert not emoji.ok and "cannot receive mail" in emoji.message


def test_a_self_account_on_a_young_childs_chart_asks_for_confirmation(session, admin, frozen_clock):
    child = make_patient(session, enabled=True, first="Leo", dob=date(2019, 6, 1), email="leo@example.com")
    with pytest.raises(FormInvalid) as caught:
        _save(session, admin, child, _self_form(username="leo@example.com", first_name="Leo"))
    assert "is 7 years old" in caught.value.errors["confirm_young"]
    assert session.exec(select(PortalAccount)).first() is None
    result = _save(session, admin, child, _self_form(username="leo@example.com", first_name="Leo",
                                                     confirm_young_self=True))
    assert result.credentials is not None
    # A representative on the same chart needs no such confirmation.
    _save(session, admin, child, _rep_form())


def test_forms_are_refused_on_a_connection_that_cannot_open_them(session, admin):
    patient = make_patient(session, enabled=True)
    with pytest.raises(FormInvalid) as caught:
        _save(session, admin, patient, _rep_form(forms=("intake",)))  # messages and documents only
    assert caught.value.errors["forms"] == portal_accounts.FORMS_NEED_AREA
    assert session.exec(select(FormRequest)).first() is None
    _save(session, admin, patient, _rep_form(forms=("intake",), permissions=("messages", "forms")))
    assert {r.form for r in session.exec(select(FormRequest))} == {"intake"}


def test_billing_can_no_longer_be_granted_but_old_rows_still_load(session, admin):
    patient = make_patient(session, enabled=True)
    saved = _save(session, admin, patient, _rep_form(permissions=("messages", "billing")))
    connection = session.get(PortalConnection, saved.connection_id)
    assert connection.permissions == "messages"
    connection.permissions = "messages,billing"  # a row saved before Billing was removed
    session.add(connection)
    session.commit()
    item = portal_accounts.list_connections(session=session, patient_id=patient.id)[0]
    assert item.permissions == "messages" and item.permission_labels == "Messages"


def test_a_chart_has_one_self_account_and_a_taken_username_is_refused(session, admin):
    patient = make_patient(session, enabled=True)
    _save(session, admin, patient, _self_form())
    with pytest.raises(FormInvalid) as caught:
        _save(session, admin, patient, _self_form(username="second@example.com"))
    assert "already has a Self account" in caught.value.errors["access_type"]
    other = make_patient(session, first="Ana", last="Diaz", email="ana@example.com", enabled=True)
    with pytest.raises(FormInvalid) as caught:
        _save(session, admin, other, _self_form(username="maria.lopez@example.com", first_name="Ana"))
    assert "already used by another account" in caught.value.errors["username"]
    # Even when staff tick "connect existing": an existing account joins only as a representative.
    with pytest.raises(FormInvalid):
        _save(session, admin, other, _self_form(username="maria.lopez@example.com", connect_existing=True))


def test_portal_access_must_be_enabled(session, admin):
    patient = make_patient(session, enabled=False)
    with pytest.raises(InvalidInput, match="Enable portal access"):
        _save(session, admin, patient, _self_form())


def test_every_bad_field_is_reported_at_once(session, admin):
    patient = make_patient(session, enabled=True)
    with pytest.raises(FormInvalid) as caught:
        _save(session, admin, patient, _rep_form(username="not an email", first_name=" ", relationship="",
                                                 permissions=(), forms=("tax",)))
    assert set(caught.value.errors) == {"username", "first_name", "relationship", "permissions", "forms"}
    assert session.exec(select(PortalAccount)).first() is None


# ---- representatives ---------------------------------------------------------------------


def test_a_representative_with_no_permissions_is_refused(session, admin):
    patient = make_patient(session, enabled=True)
    with pytest.raises(FormInvalid) as caught:
        _save(session, admin, patient, _rep_form(permissions=()))
    assert caught.value.errors == {"permissions": "Choose at least one area this representative may use."}
    with pytest.raises(FormInvalid) as caught:
        _save(session, admin, patient, _rep_form(permissions=("not-an-area",)))
    assert "permissions" in caught.value.errors


def test_new_representative_gets_a_link_not_a_password_and_sets_one(session, admin):
    child = make_patient(session, first="Leo", last="Parent", email="", enabled=True)
    result = _save(session, admin, child, _rep_form())
    assert result.credentials is None and "pat.parent@example.com" in result.message
    account = session.exec(select(PortalAccount)).one()
    assert account.status == AccountStatus.PENDING and account.password_hash is None
    connection = session.exec(select(PortalConnection)).one()
    assert (connection.access_type, connection.relationship, connection.permissions) == (
        AccessType.REPRESENTATIVE, "parent", "messages,documents")
    message = session.exec(select(OutboxMessage)).one()
    assert message.kind == "representative_setup" and message.to_address == "pat.parent@example.com"
    assert "Password:" not in message.body_text  # a link to choose one, never a password
    token = _LINK_TOKEN.search(message.body_text).group(1)
    invitations.redeem_reset(session=session, token=token, password=PARENT_PASSWORD, confirm=PARENT_PASSWORD)
    session.refresh(account)
    assert account.status == AccountStatus.ACTIVE
    principal = portal_auth.principal_for(
        session=session, session_id=portal_auth.sign_in(session=session, user_id="pat.parent@example.com",
                                                        password=PARENT_PASSWORD))
    assert [c.areas for c in principal.charts] == [("messages", "documents")]


def test_a_new_representative_needs_an_email_username(session, admin):
    child = make_patient(session, enabled=True)
    with pytest.raises(FormInvalid) as caught:
        _save(session, admin, child, _rep_form(username="pat.parent"))
    assert "must be their email address" in caught.value.errors["username"]


def test_an_existing_account_joins_a_second_child_only_when_chosen_explicitly(session, admin):
    first = make_patient(session, first="Leo", last="Parent", email="", enabled=True)
    second = make_patient(session, first="Mia", last="Parent", email="", enabled=True)
    _save(session, admin, first, _rep_form())
    with pytest.raises(FormInvalid) as caught:
        _save(session, admin, second, _rep_form(permissions=("appointments",)))
    assert "Connect the existing account" in caught.value.errors["username"]
    result = _save(session, admin, second, _rep_form(permissions=("appointments",), connect_existing=True))
    assert "existing account" in result.message
    assert len(session.exec(select(PortalAccount)).all()) == 1
    rows = session.exec(select(PortalConnection).order_by(PortalConnection.id)).all()
    assert [(r.patient_id, r.permissions) for r in rows] == [(first.id, "messages,documents"),
                                                             (second.id, "appointments")]


def test_a_representative_connected_twice_to_the_same_chart_is_refused(session, admin):
    child = make_patient(session, enabled=True)
    _save(session, admin, child, _rep_form())
    with pytest.raises(FormInvalid) as caught:
        _save(session, admin, child, _rep_form(connect_existing=True, relationship="guardian"))
    assert "already connected to this chart" in caught.value.errors["username"]
    assert len(session.exec(select(PortalConnection)).all()) == 1


# ---- editing -------------------------------------------------------------------------------


def test_editing_a_connection_audits_old_and_new_values(session, admin):
    child = make_patient(session, enabled=True)
    connection_id = _save(session, admin, child, _rep_form()).connection_id
    result = _save(session, admin, child, _rep_form(relationship="guardian", permissions=("forms",),
                                                    force_change=True), connection_id=connection_id)
    assert result.message.startswith("Saved")
    detail = _events(session, "account_setup.update")[-1].detail
    assert "relationship parent -> guardian" in detail
    assert "permissions Messages, Documents -> Forms" in detail
    connection = session.get(PortalConnection, connection_id)
    assert (connection.relationship, connection.permissions) == ("guardian", "forms")
    # Editing may not remove every permission of a representative either.
    with pytest.raises(FormInvalid):
        _save(session, admin, child, _rep_form(permissions=()), connection_id=connection_id)
    # Nothing changed: nothing audited.
    before = len(_events(session, "account_setup.update"))
    assert _save(session, admin, child, _rep_form(relationship="guardian", permissions=("forms",),
                                                  force_change=True),
                 connection_id=connection_id).message.startswith("Nothing to save")
    assert len(_events(session, "account_setup.update")) == before


def test_force_change_on_an_existing_account_is_audited(session, admin):
    patient = make_patient(session, enabled=True)
    connection_id = _save(session, admin, patient, _self_form(force_change=False)).connection_id
    _save(session, admin, patient, _self_form(force_change=True), connection_id=connection_id)
    assert "must change password no -> yes" in _events(session, "account_setup.update")[-1].detail
    assert session.exec(select(PortalAccount)).one().must_change_password


def test_a_connection_of_another_chart_cannot_be_edited_from_this_one(session, admin):
    patient = make_patient(session, enabled=True)
    other = make_patient(session, first="Ana", last="Diaz", email="ana@example.com", enabled=True)
    theirs = _save(session, admin, other, _self_form(username="ana@example.com")).connection_id
    with pytest.raises(NotFound):
        _save(session, admin, patient, _self_form(), connection_id=theirs)
    with pytest.raises(NotFound):
        portal_accounts.delete_connection(session=session, patient_id=patient.id, connection_id=theirs,
                                          actor=audit.Actor.staff(admin.id))


# ---- delete --------------------------------------------------------------------------------


def test_deleting_the_last_connection_ends_sessions_and_deletes_the_account(session, admin):
    patient = make_patient(session, enabled=True)
    result = _save(session, admin, patient, _self_form(force_change=False))
    sid = portal_auth.sign_in(session=session, user_id="maria.lopez@example.com",
                              password=result.credentials.password)
    preview = portal_accounts.delete_preview(session=session, patient_id=patient.id,
                                             connection_id=result.connection_id)
    assert preview.deletes_account and preview.signed_in
    message = portal_accounts.delete_connection(session=session, patient_id=patient.id,
                                                connection_id=result.connection_id,
                                                actor=audit.Actor.staff(admin.id))
    assert "deleted the account" in message and "sessions have ended" in message
    assert portal_auth.principal_for(session=session, session_id=sid) is None
    account = session.exec(select(PortalAccount)).one()
    assert account.status == AccountStatus.DISABLED and account.password_hash is None
    assert account.deleted_at is not None
    # User Management no longer lists it.
    assert portal_users.list_page(session=session).rows == []
    # The username is free again, and the old password can never sign in.
    assert portal_accounts.check_username(session=session, patient_id=patient.id,
                                          username="maria.lopez@example.com").ok
    with pytest.raises(portal_auth.SignInFailed):
        portal_auth.sign_in(session=session, user_id="maria.lopez@example.com",
                            password=result.credentials.password)
    assert "account deleted" in _events(session, "account_setup.delete")[-1].detail


def test_deleting_one_of_two_connections_keeps_the_account_and_its_session(session, admin):
    first = make_patient(session, first="Leo", last="Parent", email="", enabled=True)
    second = make_patient(session, first="Mia", last="Parent", email="", enabled=True)
    first_id, account, sid = _signed_in_parent_of(session, admin, first, second)
    preview = portal_accounts.delete_preview(session=session, patient_id=first.id, connection_id=first_id)
    assert not preview.deletes_account
    message = portal_accounts.delete_connection(session=session, patient_id=first.id, connection_id=first_id,
                                                actor=audit.Actor.staff(admin.id))
    assert "stays connected" in message
    principal = portal_auth.principal_for(session=session, session_id=sid)
    assert principal is not None and [c.patient_id for c in principal.charts] == [second.id]
    session.refresh(account)
    assert account.status == AccountStatus.ACTIVE and account.user_id == "pat.parent@example.com"



def test_delete_warns_that_sessions_end_when_no_other_chart_has_portal_access(session, admin):
    # The dialog says what Delete will do: the other chart is off, so the parent is signed out.
    first = make_patient(session, first="Leo", last="Parent", email="", enabled=True)
    second = make_patient(session, first="Mia", last="Parent", email="", enabled=True)
    first_id, account, sid = _signed_in_parent_of(session, admin, first, second)
    kept = portal_accounts.delete_preview(session=session, patient_id=first.id, connection_id=first_id)
    assert not kept.signed_in  # the second chart keeps the session going: nothing to warn of
    second.portal_enabled = False
    session.add(second)
    session.commit()
    preview = portal_accounts.delete_preview(session=session, patient_id=first.id, connection_id=first_id)
    assert not preview.deletes_account and preview.signed_in
    message = portal_accounts.delete_connection(session=session, patient_id=first.id, connection_id=first_id,
                                                actor=audit.Actor.staff(admin.id))
    assert "sessions have ended" in message
    assert portal_auth.principal_for(session=session, session_id=sid) is None


# ---- reset -----------------------------------------------------------------------------------


def test_reset_password_generates_a_new_one_and_ends_sessions(session, admin):
    patient = make_patient(session, enabled=True)
    result = _save(session, admin, patient, _self_form(force_change=False))
    old = result.credentials.password
    sid = portal_auth.sign_in(session=session, user_id="maria.lopez@example.com", password=old)
    creds = portal_accounts.reset_password(session=session, patient_id=patient.id,
                                           connection_id=result.connection_id, force_change=True,
                                           actor=audit.Actor.staff(admin.id))
    assert creds.password != old and creds.must_change
    assert portal_auth.principal_for(session=session, session_id=sid) is None
    with pytest.raises(portal_auth.SignInFailed):
        portal_auth.sign_in(session=session, user_id="maria.lopez@example.com", password=old)
    assert portal_auth.sign_in(session=session, user_id="maria.lopez@example.com", password=creds.password)
    assert creds.password not in _all_audit_text(session)
    assert "sessions ended=1" in _events(session, "account_setup.password_reset")[-1].detail


def test_send_reset_link_emails_a_link_to_the_account(session, admin):
    patient = make_patient(session, enabled=True)
    result = _save(session, admin, patient, _self_form())
    message = portal_accounts.send_reset_link(session=session, patient_id=patient.id,
                                              connection_id=result.connection_id,
                                              actor=audit.Actor.staff(admin.id))
    assert message == "A link to choose a new password was sent to maria.lopez@example.com."
    sent = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reset")).one()
    token = _LINK_TOKEN.search(sent.body_text).group(1)
    assert tokens.find_live(session=session, plain=token, purposes=(SecretPurpose.PASSWORD_RESET,))
    assert result.credentials.password not in sent.body_text
    # A second click a moment later sends nothing: a new link would void the one just sent.
    again = portal_accounts.send_reset_link(session=session, patient_id=patient.id,
                                            connection_id=result.connection_id,
                                            actor=audit.Actor.staff(admin.id))
    assert again == "A link to choose a password was just sent to maria.lopez@example.com."
    assert len(session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reset")).all()) == 1
    assert tokens.find_live(session=session, plain=token, purposes=(SecretPurpose.PASSWORD_RESET,))



def test_a_phone_username_gets_its_reset_link_by_text(session, admin):
    # As User Management sends it: a phone-number user ID is reached by text message.
    patient = make_patient(session, enabled=True)
    result = _save(session, admin, patient, _self_form(username="(615) 555-0142"))
    message = portal_accounts.send_reset_link(session=session, patient_id=patient.id,
                                              connection_id=result.connection_id,
                                              actor=audit.Actor.staff(admin.id))
    assert message == "Reset link sent to +16155550142 by text message."
    sent = session.exec(select(OutboxMessage).where(OutboxMessage.kind == "reset")).one()
    assert (sent.channel, sent.to_address) == ("sms", "+16155550142")
    assert result.credentials.password not in sent.body_text

def test_plain_username_cannot_get_a_reset_link(session, admin):
    patient = make_patient(session, enabled=True)
    result = _save(session, admin, patient, _self_form(username="maria.l"))
    with pytest.raises(InvalidInput, match="not an email address"):
        portal_accounts.send_reset_link(session=session, patient_id=patient.id,
                                        connection_id=result.connection_id, actor=audit.Actor.staff(admin.id))


# ---- the sheet --------------------------------------------------------------------------------


def test_credential_sheet_carries_the_credentials_and_is_audited_without_them(session, admin):
    patient = make_patient(session, enabled=True)
    creds = _save(session, admin, patient, _self_form()).credentials
    filename, data = generated_credentials.credential_sheet(session=session, patient_id=patient.id,
                                                            user_id=creds.user_id, password=creds.password,
                                                            actor=audit.Actor.staff(admin.id))
    assert filename == f"portal-credentials-{patient.chart_number}.pdf" and data.startswith(b"%PDF")
    assert creds.password.encode() in data and creds.user_id.encode() in data
    assert b"/login" in data
    assert _events(session, "account_setup.sheet_printed")
    assert creds.password not in _all_audit_text(session)
    other = make_patient(session, first="Ana", last="Diaz", email="ana@example.com", enabled=True)
    with pytest.raises(NotFound):
        generated_credentials.credential_sheet(session=session, patient_id=other.id, user_id=creds.user_id,
                                               password=creds.password, actor=audit.Actor.staff(admin.id))



def test_a_long_username_or_portal_address_stays_inside_its_box_on_the_sheet():
    from fpdf import FPDF

    from portal_app.notify import letters

    long_id = "maria.lopez-hernandez.family@example-clinic.org"
    url = "https://portal.fairview-family-practice.example.org/login"
    data = letters.credential_sheet(
        practice="Fairview", phone="555-0100", sheet_date="November 29, 2026", person_name="Maria",
        patient_name="Leo", portal_url=url, user_id=long_id, password="Kx7m-Pq9r-Tz3w-Hn4b",
        must_change=True)
    measure = FPDF(format="Letter", unit="mm")
    measure.add_page()
    box = measure.w - 2 * 25 - 40 - 2 * measure.c_margin
    for text in (long_id, url):
        # The size the text was set in: the last font chosen before it (pages are uncompressed).
        size = float(re.findall(rb"/F\d+ ([\d.]+) Tf", data[:data.index(f"({text})".encode())])[-1])
        measure.set_font("Courier", "B", size)
        assert measure.get_string_width(text) <= box, (text, size)
    assert b"(Kx7m-Pq9r-Tz3w-Hn4b)" in data

def test_find_patients_returns_a_few_rows_by_name(session):
    for i in range(12):
        make_patient(session, first=f"Ann{chr(97 + i)}", last="Searchy", email=f"s{i}@example.com")
    make_patient(session, first="Zed", last="Other", email="z@example.com")
    rows = portal_accounts.find_patients(session=session, search="Searchy")
    assert len(rows) == portal_accounts.SEARCH_ROWS and all("Searchy" in r.name for r in rows)
    assert portal_accounts.find_patients(session=session, search="s") == []


def test_a_username_taken_at_the_same_moment_is_reported_beside_the_field(session, admin, monkeypatch):
    patient = make_patient(session, enabled=True)
    session.add(PortalAccount(user_id="maria.lopez@example.com"))
    session.commit()
    # As if another staff member saved the same username between our check and our insert.
    monkeypatch.setattr(portal_accounts, "_account_by_user_id", lambda *_args: None)
    with pytest.raises(FormInvalid) as caught:
        _save(session, admin, patient, _self_form())
    assert "just taken" in caught.value.errors["username"]
    assert session.exec(select(PortalConnection)).first() is None
