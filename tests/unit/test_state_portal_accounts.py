"""PortalAccountsState handlers (/staff/portal-accounts), called directly."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from portal_app import routes
from portal_app.models import AccountStatus, AuditEvent, PortalAccount, PortalConnection
from portal_app.services import passwords, portal_auth
from portal_app.services.permissions import Level, Permission
from portal_app.state.portal_accounts import PortalAccountsState
from tests.unit.conftest import make_patient
from tests.unit.state_support import everything_in_state, sign_in_admin, staff_with, state_for


async def open_page(session_id: str, patient_id: int | None = None):
    path = routes.portal_accounts(patient_id)
    root, state = await state_for(PortalAccountsState, session_id=session_id, path=path,
                                  route=routes.PORTAL_ACCOUNTS)
    result = await state.load()
    return root, state, result


async def _fill_self(state):
    await state.fill_from_chart()
    await state.set_access_type("self")


async def test_opening_from_the_chart_loads_the_patient_and_audits_it(session, admin):
    patient = make_patient(session, enabled=True)
    _, state, result = await open_page(sign_in_admin(session), patient.id)
    assert result is None and state.loaded and state.has_chart
    assert state.chart.list_name == "Lopez, Maria" and state.connections == []
    # Billing has no page, so it is neither granted nor offered (issue 15, item 5).
    assert state.permissions == ["messages", "appointments", "documents", "forms", "health_summary"]
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "account_setup.open")).one()


async def test_the_menu_opens_a_picker_with_a_few_server_side_results(session, admin):
    patient = make_patient(session, enabled=True)
    make_patient(session, first="Zed", last="Other", email="z@example.com")
    _, state, _ = await open_page(sign_in_admin(session))
    assert not state.has_chart
    await state.search_patients("Lopez")
    assert [row.id for row in state.results] == [patient.id]
    moved = await state.choose_patient(patient.id)
    assert state.has_chart and state.chart.patient_id == patient.id and state.results == []
    assert "chart-heading" in str(moved)  # focus goes on from the patient's name
    # A chart that was not offered cannot be chosen by a forged call.
    assert "patient-search" in str(await state.change_patient())
    await state.choose_patient(patient.id)
    assert not state.has_chart and "no longer in the list" in state.error


async def test_create_self_shows_credentials_once_and_any_other_action_forgets_them(session, admin):
    patient = make_patient(session, enabled=True)
    root, state, _ = await open_page(sign_in_admin(session), patient.id)
    await _fill_self(state)
    assert (state.username, state.first_name, state.last_name) == ("maria.lopez@example.com", "Maria", "Lopez")
    assert state.username_ok
    await state.save({"username": state.username, "first_name": "Maria", "last_name": "Lopez"})
    assert state.error == "" and state.has_credentials, state.error
    password = state.cred_password
    assert state.cred_user_id == "maria.lopez@example.com"
    assert password in state.credential_message and "Username: maria.lopez@example.com" in state.credential_message
    assert [c.user_id for c in state.connections] == ["maria.lopez@example.com"]
    # Printing keeps them (the sheet needs them); it is a download of the PDF.
    download = await state.print_sheet()
    assert download is not None and state.has_credentials
    # Any other action takes them off the screen and out of the state.
    await state.new_form()
    assert not state.has_credentials
    assert password not in everything_in_state(root)
    account = session.exec(select(PortalAccount)).one()
    assert portal_auth.sign_in(session=session, user_id=account.user_id, password=password)
    audit_text = "\n".join(e.detail for e in session.exec(select(AuditEvent)))
    assert password not in audit_text


async def test_credentials_are_gone_after_done_and_after_reloading(session, admin):
    patient = make_patient(session, enabled=True)
    sid = sign_in_admin(session)
    root, state, _ = await open_page(sid, patient.id)
    await _fill_self(state)
    await state.save({})
    password = state.cred_password
    assert password
    state.done_credentials()
    assert password not in everything_in_state(root)
    await state.save({})  # fails (the chart now has a Self account) and shows nothing secret
    state.cred_password = "leftover"
    await state.load()
    assert state.cred_password == "" and "leftover" not in everything_in_state(root)


async def test_representative_without_permissions_is_refused_beside_the_field(session, admin):
    child = make_patient(session, first="Leo", last="Parent", email="", enabled=True)
    _, state, _ = await open_page(sign_in_admin(session), child.id)
    await state.set_access_type("representative")
    assert state.permissions == []  # none preselected for a representative
    await state.set_relationship("parent")
    await state.save({"username": "pat.parent@example.com", "first_name": "Pat", "last_name": "Parent"})
    assert state.permissions_error == "Choose at least one area this representative may use."
    assert state.first_name == "Pat" and state.username == "pat.parent@example.com"  # nothing typed lost
    assert session.exec(select(PortalConnection)).first() is None
    await state.flip_permission("messages")
    await state.flip_permission("not-an-area")
    assert state.permissions == ["messages"]
    await state.save({"username": "pat.parent@example.com", "first_name": "Pat", "last_name": "Parent"})
    assert state.permissions_error == "" and "link to choose a password was sent" in state.notice
    assert not state.has_credentials
    assert state.selected_id == state.connections[0].id  # the saved connection stays selected
    # No password yet: "Force Password Change" would do nothing, so the form does not offer it.
    assert not state.force_change_applies
    await state.new_form()
    assert state.force_change_applies
    await state.set_access_type("representative")
    assert not state.force_change_applies


async def test_existing_username_needs_the_explicit_connect_box(session, admin):
    first = make_patient(session, first="Leo", last="Parent", email="", enabled=True)
    second = make_patient(session, first="Mia", last="Parent", email="", enabled=True)
    sid = sign_in_admin(session)
    _, state, _ = await open_page(sid, first.id)
    await state.set_access_type("representative")
    await state.set_relationship("parent")
    await state.flip_permission("messages")
    await state.save({"username": "pat.parent@example.com", "first_name": "Pat", "last_name": "Parent"})
    _, state, _ = await open_page(sid, second.id)
    await state.set_access_type("representative")
    await state.set_relationship("parent")
    await state.flip_permission("appointments")
    await state.check_username("pat.parent@example.com")
    assert not state.username_ok and state.username_connectable
    await state.save({"username": "pat.parent@example.com", "first_name": "", "last_name": ""})
    assert "Connect the existing account" in state.username_error
    await state.toggle_connect_existing(True)
    # The account's own name fills the empty name fields (not retyped, not overwritten).
    assert (state.first_name, state.last_name) == ("Pat", "Parent")
    await state.save({"username": "pat.parent@example.com", "first_name": "Pat", "last_name": "Parent"})
    assert "existing account pat.parent@example.com is now connected" in state.notice
    assert len(session.exec(select(PortalConnection)).all()) == 2


async def test_edit_then_delete_after_confirmation(session, admin):
    patient = make_patient(session, enabled=True)
    _, state, _ = await open_page(sign_in_admin(session), patient.id)
    await _fill_self(state)
    await state.save({})
    connection_id = state.connections[0].id
    await state.select_connection(connection_id)
    assert state.selected_id == connection_id and not state.has_credentials
    await state.flip_permission("health_summary")
    await state.save({})
    assert state.notice.startswith("Saved")
    detail = session.exec(select(AuditEvent).where(AuditEvent.action == "account_setup.update")).one().detail
    assert detail.endswith("permissions Messages, Appointments, Documents, Forms, Health summary -> "
                           "Messages, Appointments, Documents, Forms")
    await state.ask_delete()
    assert state.delete_open and "deleted too" in state.delete_detail
    closed = state.set_dialog_open(False)  # Cancel forgets the choice
    assert "delete-button" in str(closed)  # and puts focus back on the button that asked
    await state.delete()
    assert len(state.connections) == 1
    await state.ask_delete()
    await state.delete()
    assert state.connections == [] and "deleted the account" in state.notice
    assert state.selected_id == 0


async def test_reset_pwd_needs_confirmation_and_shows_a_new_password(session, admin):
    patient = make_patient(session, enabled=True)
    _, state, _ = await open_page(sign_in_admin(session), patient.id)
    await _fill_self(state)
    await state.save({})
    first = state.cred_password
    await state.select_connection(state.connections[0].id)
    await state.reset_password()  # not confirmed: refused
    assert not state.has_credentials and state.error
    await state.ask_reset()
    assert state.reset_open
    await state.reset_password()
    assert state.has_credentials and state.cred_password != first
    assert state.cred_must_change
    # The box decides whether the new one must be replaced (Reflex passes arguments by name).
    await state.toggle_force_change(checked=False)
    await state.ask_reset()
    await state.reset_password()
    assert state.has_credentials and not state.cred_must_change


async def test_read_only_staff_can_view_but_not_change(session, admin):
    patient = make_patient(session, enabled=True)
    sid = staff_with(session, "viewer", {Permission.ACCOUNT_SETUP: Level.READ})
    _, state, _ = await open_page(sid, patient.id)
    assert state.has_chart and not state.can_change
    await state.fill_from_chart()
    assert state.error == "You do not have permission to change portal accounts." and state.first_name == ""
    await state.save({"username": "x@example.com", "first_name": "X", "last_name": "Y"})
    assert state.error == "You do not have permission to change portal accounts."
    assert session.exec(select(PortalAccount)).first() is None
    await state.set_access_type("representative")
    assert state.access_type == "self" and state.error == "You do not have permission to change portal accounts."
    # Every control's handler checks on the server too: none changes the form for a viewer.
    for handler, value in ((state.set_first_name, "X"), (state.set_last_name, "Y"),
                           (state.set_relationship, "parent"), (state.toggle_force_change, False),
                           (state.flip_permission, "forms"), (state.flip_form, "intake")):
        state.error = ""
        assert await handler(value) is None and state.error == "You do not have permission to change portal accounts."
    assert (state.first_name, state.relationship, state.force_change, state.forms) == ("", "", True, [])
    assert "forms" in state.permissions


async def test_without_the_permission_or_a_session_nothing_is_shown(session, admin):
    patient = make_patient(session, enabled=True)
    sid = staff_with(session, "nobody", {Permission.OUTBOX: Level.READ})
    root, state, result = await open_page(sid, patient.id)
    assert result is not None and not state.has_chart and state.load_error
    await state.search_patients("Lopez")
    assert state.results == [] and state.load_error == "You do not have permission to open Portal Account Setup."
    # No session at all: every handler sends the tab to sign in and drops what it held.
    _, anon, _ = await open_page("", patient.id)
    assert await anon.save({}) is not None
    assert await anon.set_first_name("Maria") is not None and anon.first_name == ""  # to sign in
    assert not anon.has_chart
    assert "Maria" not in everything_in_state(root)


async def test_after_the_self_account_the_form_keeps_it_open_and_new_starts_a_representative(session, admin):
    patient = make_patient(session, enabled=True)
    _, state, _ = await open_page(sign_in_admin(session), patient.id)
    await _fill_self(state)
    await state.save({})
    assert state.has_credentials and "top of the page" in state.notice
    # The new account stays selected, so Reset Pwd and Delete are at hand.
    assert state.selected_id == state.connections[0].id and state.username == "maria.lopez@example.com"
    await state.new_form()
    # The chart has its Self account: the only new connection it can take is a representative.
    assert state.access_type == "representative" and state.permissions == []
    _, again, _ = await open_page(sign_in_admin(session), patient.id)
    assert again.access_type == "representative" and again.permissions == []


async def test_a_representative_gets_no_numbered_username_and_keeps_their_typed_name(session, admin):
    patient = make_patient(session, enabled=True)
    child = make_patient(session, first="Leo", last="Lopez", email="maria.lopez@example.com", enabled=True)
    sid = sign_in_admin(session)
    _, state, _ = await open_page(sid, patient.id)
    await _fill_self(state)
    await state.save({})
    _, state, _ = await open_page(sid, child.id)
    await state.check_username("maria.lopez@example.com")
    assert state.username_suggestion == "maria.lopez2"  # Self: a numbered variant is offered
    await state.set_access_type("representative")
    assert state.username_suggestion == "" and "maria.lopez2" not in state.username_message
    await state.set_first_name("Maria")
    await state.set_last_name("Lopez-Ruiz")
    await state.fill_from_chart()
    # The chart's names are the child's: the representative's typed name stays.
    assert (state.first_name, state.last_name) == ("Maria", "Lopez-Ruiz")
    assert state.username == "maria.lopez@example.com" and state.username_connectable
    assert "representative's own name" in state.notice


async def test_delete_dialog_warns_when_a_representative_will_be_signed_out(session, admin):
    first = make_patient(session, first="Leo", last="Parent", email="", enabled=True)
    second = make_patient(session, first="Mia", last="Parent", email="", enabled=False)
    sid = sign_in_admin(session)
    for child in (first, second):
        child.portal_enabled = True
        session.add(child)
        session.commit()
        _, state, _ = await open_page(sid, child.id)
        await state.set_access_type("representative")
        await state.set_relationship("parent")
        await state.flip_permission("messages")
        await state.check_username("pat.parent@example.com")
        await state.toggle_connect_existing(True)
        await state.save({"username": "pat.parent@example.com", "first_name": "Pat", "last_name": "Parent"})
        assert state.error == "", state.error
    account = session.exec(select(PortalAccount)).one()
    account.password_hash = passwords.hash_password("quiet lantern orbit 73 meadow")
    account.status = AccountStatus.ACTIVE
    session.add(account)
    second.portal_enabled = False  # the other child's portal access is off
    session.add(second)
    session.commit()
    portal_auth.sign_in(session=session, user_id=account.user_id, password="quiet lantern orbit 73 meadow")
    _, state, _ = await open_page(sid, first.id)
    await state.select_connection(state.connections[0].id)
    await state.ask_delete()
    assert "stays connected" in state.delete_detail and "sessions end at once" in state.delete_detail


async def test_a_refused_print_or_delete_says_why_and_forgets_or_rereads(session, admin):
    patient = make_patient(session, enabled=True)
    _, state, _ = await open_page(sign_in_admin(session), patient.id)
    await _fill_self(state)
    await state.save({})
    assert state.has_credentials
    state.cred_user_id = "someone.else@example.com"  # not connected to this chart
    assert await state.print_sheet() is None
    assert state.error == "Those credentials are no longer shown. Use Reset Pwd to make new ones."
    assert not state.has_credentials  # a failed print forgets them too
    await state.select_connection(state.connections[0].id)
    await state.ask_delete()
    state._delete_id = 10**6  # a forged confirmation for a connection that is not there
    state.connections = []
    await state.delete()
    assert "no longer exists" in state.error and len(state.connections) == 1  # the list was read again
    assert len(session.exec(select(PortalConnection)).all()) == 1


async def test_refusals_are_audited_with_the_handler(session, admin):
    patient = make_patient(session, enabled=True)
    sid = staff_with(session, "viewer", {Permission.ACCOUNT_SETUP: Level.READ})
    _, state, _ = await open_page(sid, patient.id)
    await state.set_first_name("X")
    refusal = session.exec(select(AuditEvent).where(AuditEvent.action == "access.refused")).one()
    assert refusal.detail == "handler=PortalAccountsState.set_first_name; needs=account_setup>=update"


async def test_new_credentials_are_copied_as_they_appear_and_the_note_follows_the_browser(session, admin):
    patient = make_patient(session, enabled=True)
    _, state, _ = await open_page(sign_in_admin(session), patient.id)
    await _fill_self(state)
    copy = await state.save({"username": state.username, "first_name": "Maria", "last_name": "Lopez"})
    assert state.has_credentials and not state.cred_copied
    # The save answers with the script that writes the password to the clipboard.
    assert "navigator.clipboard.writeText" in str(copy) and state.cred_password in str(copy)
    state.password_copied(False)  # the browser refused: no note that would lie
    assert not state.cred_copied
    state.password_copied(True)
    assert state.cred_copied
    await state.new_form()
    assert not state.cred_copied and not state.has_credentials
    state.password_copied(True)  # a late answer with nothing on screen shows nothing
    assert not state.cred_copied


async def test_a_self_account_for_a_young_child_needs_the_confirmation_box(session, admin, frozen_clock):
    child = make_patient(session, enabled=True, first="Leo", dob=date(2019, 6, 1), email="leo@example.com")
    _, state, _ = await open_page(sign_in_admin(session), child.id)
    await _fill_self(state)
    await state.save({"username": "leo@example.com", "first_name": "Leo", "last_name": "Lopez"})
    assert not state.has_credentials and "7 years old" in state.confirm_young_error
    assert session.exec(select(PortalAccount)).first() is None
    await state.toggle_confirm_young(True)
    await state.save({"username": "leo@example.com", "first_name": "Leo", "last_name": "Lopez"})
    assert state.has_credentials and state.confirm_young_error == ""


async def test_an_empty_username_field_is_refused_beside_it(session, admin):
    patient = make_patient(session, enabled=True)
    _, state, _ = await open_page(sign_in_admin(session), patient.id)
    await state.set_access_type("self")
    await state.save({"username": "", "first_name": "Maria", "last_name": "Lopez"})
    assert state.username_error == "Enter a username (an email address is preferred)."
    assert session.exec(select(PortalAccount)).first() is None
