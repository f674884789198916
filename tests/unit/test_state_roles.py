"""RolesState and StaffUsersState handlers, called directly (no browser)."""

from __future__ import annotations

import re

from sqlmodel import select

from portal_app import routes
from portal_app.models import AuditEvent, Role, RolePermission, StaffUser
from portal_app.services import roles
from portal_app.services.permissions import ADMINISTRATOR, Level, Permission
from portal_app.state.roles import NO_CHANGE, NO_PERMISSION, RolesState
from portal_app.state.staff_users import StaffUsersState
from tests.unit.state_support import everything_in_state, sign_in_admin, staff_with, state_for

TASK = Permission.TASK_PORTAL.value


async def open_roles(session_id: str):
    root, state = await state_for(RolesState, session_id=session_id, path=routes.ROLES)
    result = await state.load()
    return root, state, result


async def open_users(session_id: str):
    root, state = await state_for(StaffUsersState, session_id=session_id, path=routes.STAFF_USERS)
    result = await state.load()
    return root, state, result


def _role(session, name: str) -> Role | None:
    session.expire_all()
    return session.exec(select(Role).where(Role.name == name)).first()


def _level(session, role: Role, permission: str) -> int:
    row = session.exec(select(RolePermission).where(RolePermission.role_id == role.id,
                                                    RolePermission.permission == permission)).first()
    return row.level if row else 0


async def test_admin_searches_and_sees_both_queue_permissions(session, admin):
    _, state, result = await open_roles(sign_in_admin(session))
    assert result is None and state.loaded and state.can_edit
    assert ADMINISTRATOR in [row.name for row in state.role_rows]
    assert re.fullmatch(r"\d+:\d\d:\d\d", state.staff_session_time)  # the header's session time
    await state.run_search({"search": "Patient Portal"})
    names = [info.name for info in state.matching_permissions]
    assert TASK in names and Permission.TASK_PORTAL_LIST.value in names
    # Every role stays listed, so the found permissions can be set on any of them.
    assert {ADMINISTRATOR, "Front Desk", "Clinical", "Patient Portal Communications Only"} <= {
        row.name for row in state.role_rows}
    await state.select_role(next(row.id for row in state.role_rows if row.name == "Front Desk"))
    assert [row.name for row in state.permission_rows] == [Permission.TASK_PORTAL_LIST.value, TASK,
                                                           Permission.PORTAL_ADMIN.value]
    await state.run_search({"search": "desk"})  # no permission matches: roles by name
    assert state.matching_permissions == [] and [row.name for row in state.role_rows] == ["Front Desk"]


async def test_create_set_level_add_holder_and_save(session, admin):
    staff_with(session, "nora", {})
    _, state, _ = await open_roles(sign_in_admin(session))
    await state.create_role({"name": "Portal Limited"})
    assert state.notice.startswith("Role Portal Limited created") and state.selected_name == "Portal Limited"
    await state.set_level(TASK, "3")
    await state.add_member({"username": "nora"})
    assert [row.username for row in state.members] == ["nora"] and state.dirty
    await state.save()
    assert state.detail_error == "" and not state.dirty, state.detail_error
    role = _role(session, "Portal Limited")
    assert _level(session, role, TASK) == 3
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "role.member_add")).first()
    assert state.levels[TASK] == "3"


async def test_bad_input_is_shown_beside_the_field(session, admin):
    _, state, _ = await open_roles(sign_in_admin(session))
    await state.create_role({"name": "   "})
    assert state.new_name_error == "Role name is required."
    await state.create_role({"name": "administrator"})
    assert "already has that name" in state.new_name_error and state.new_name == "administrator"
    await state.create_role({"name": "Portal Limited"})
    await state.set_level(TASK, "7")
    assert state.detail_error and state.levels[TASK] == "0"
    await state.add_member({"username": "ghost"})
    assert state.add_error == "No staff user has that username."


async def test_removing_the_last_administrator_is_refused_with_a_message(session, admin):
    _, state, _ = await open_roles(sign_in_admin(session))
    await state.select_role(_role(session, ADMINISTRATOR).id)
    assert state.locked_levels
    await state.remove_member(admin.id)
    await state.save()
    assert state.detail_error == roles.LAST_ADMIN
    assert roles.administrators(session=session) == 1


async def test_a_held_role_asks_before_it_is_deleted(session, admin):
    staff_with(session, "nora", {})
    _, state, _ = await open_roles(sign_in_admin(session))
    await state.select_role(_role(session, "role for nora").id)
    await state.delete_role()
    assert state.delete_confirm.startswith("1 staff user hold")
    assert _role(session, "role for nora") is not None
    await state.confirm_delete()
    assert _role(session, "role for nora") is None and state.selected_id == 0


async def test_an_unheld_role_is_also_deleted_only_after_a_question(session, admin):
    _, state, _ = await open_roles(sign_in_admin(session))
    await state.create_role({"name": "Spare"})
    await state.delete_role()
    assert state.delete_confirm == "No staff user holds the role Spare."
    state.cancel_delete()
    assert state.delete_confirm == "" and _role(session, "Spare") is not None
    await state.delete_role()
    await state.confirm_delete()
    assert _role(session, "Spare") is None and state.notice == "Role Spare deleted."


async def test_the_administrator_role_offers_no_delete(session, admin):
    _, state, _ = await open_roles(sign_in_admin(session))
    await state.select_role(_role(session, ADMINISTRATOR).id)
    await state.delete_role()
    assert state.delete_confirm == "" and state.detail_error
    await state.confirm_delete()
    assert _role(session, ADMINISTRATOR) is not None


async def test_read_only_user_sees_but_cannot_change(session, admin):
    sid = staff_with(session, "rita", {Permission.ROLES: Level.READ})
    _, state, _ = await open_roles(sid)
    assert state.loaded and not state.can_edit
    await state.create_role({"name": "Sneaky"})
    assert state.error == NO_CHANGE and _role(session, "Sneaky") is None
    await state.select_role(_role(session, "Clinical").id)
    assert state.selected_name == "Clinical"
    await state.set_level(TASK, "0")
    await state.save()
    assert _level(session, _role(session, "Clinical"), TASK) == 3
    await state.delete_role()
    assert _role(session, "Clinical") is not None


async def test_user_without_the_permission_gets_nothing(session, admin):
    sid = staff_with(session, "otto", {Permission.OUTBOX: Level.WRITE})
    root, state, result = await open_roles(sid)
    assert not state.loaded and state.error == NO_PERMISSION and state.role_rows == []
    await state.run_search({"search": "Patient"})
    assert state.role_rows == [] and state.matching_permissions == []
    await state.select_role(_role(session, ADMINISTRATOR).id)
    assert state.selected_id == 0 and state.members == []
    await state.create_role({"name": "Mine"})
    assert _role(session, "Mine") is None
    _, users, _ = await open_users(sid)
    assert not users.loaded and users.rows == []
    await users.create({"username": "x", "full_name": "X", "role-1": "on"})
    assert session.exec(select(StaffUser).where(StaffUser.username == "x")).first() is None


async def test_permission_taken_away_mid_page_is_refused_on_the_next_event(session, admin):
    sid = staff_with(session, "rita", {Permission.ROLES: Level.WRITE})
    _, state, _ = await open_roles(sid)
    assert state.can_edit
    role = _role(session, "role for rita")
    row = session.exec(select(RolePermission).where(RolePermission.role_id == role.id)).one()
    row.level = 0
    session.add(row)
    session.commit()
    await state.create_role({"name": "Late"})
    assert _role(session, "Late") is None and state.error == NO_PERMISSION


async def test_signed_out_is_sent_to_sign_in(session, admin):
    _, state, result = await open_roles("")
    assert not state.loaded
    refusal = await state.save()
    assert refusal is not None


async def test_staff_users_create_shows_the_password_once(session, admin):
    root, state, _ = await open_users(sign_in_admin(session))
    front = next(role for role in state.role_options if role.name == "Front Desk")
    await state.create({"username": "nora", "full_name": "Nora North", f"role-{front.id}": "on"})
    assert state.errors == {} and state.temp_for == "nora" and len(state.temp_password) == 24  # ABCD-EFHJ-...
    assert "nora" in [row.username for row in state.rows]
    user = session.exec(select(StaffUser).where(StaffUser.username == "nora")).one()
    assert user.must_change_password
    assert user.password_hash not in everything_in_state(root)
    await state.run_search({"search": "nora"})
    assert state.temp_password == ""


async def test_staff_users_bad_input_keeps_what_was_typed(session, admin):
    _, state, _ = await open_users(sign_in_admin(session))
    await state.create({"username": "admin", "full_name": "Someone"})
    assert set(state.errors) == {"username", "roles"}
    assert state.new_full_name == "Someone" and state.new_username == "admin"


async def test_staff_users_deactivate_reset_and_refusal(session, admin):
    staff_with(session, "nora", {})
    _, state, _ = await open_users(sign_in_admin(session))
    nora = next(row for row in state.rows if row.username == "nora")
    await state.deactivate(nora.id)
    assert not next(row for row in state.rows if row.username == "nora").active
    await state.reset_password(nora.id)
    assert state.temp_for == "nora" and state.temp_password
    await state.deactivate(admin.id)
    assert "your own account" in state.error
    sid = staff_with(session, "rita", {Permission.ROLES: Level.READ})
    _, reader, _ = await open_users(sid)
    assert reader.loaded and not reader.can_edit
    await reader.reactivate(nora.id)
    assert reader.error and not session.get(StaffUser, nora.id).active


async def test_staff_users_refusals_name_their_own_page(session, admin):
    from portal_app.state import staff_users as page_texts

    nobody = staff_with(session, "otto", {Permission.OUTBOX: Level.READ})
    _, state, _ = await open_users(nobody)
    assert not state.loaded and state.error == page_texts.NO_PERMISSION and state.rows == []
    reader = staff_with(session, "rita", {Permission.ROLES: Level.READ})
    _, state, _ = await open_users(reader)
    await state.create({"username": "zed", "full_name": "Zed", "role-1": "on"})
    assert state.error == page_texts.NO_CHANGE and state.loaded
    assert session.exec(select(StaffUser).where(StaffUser.username == "zed")).first() is None


async def test_unsaved_changes_are_not_dropped_by_opening_another_role(session, admin):
    _, state, _ = await open_roles(sign_in_admin(session))
    clinical = next(row.id for row in state.role_rows if row.name == "Clinical")
    front = next(row.id for row in state.role_rows if row.name == "Front Desk")
    await state.select_role(clinical)
    await state.set_level(Permission.OUTBOX.value, "1")
    assert state.dirty
    await state.select_role(front)
    assert state.selected_name == "Clinical" and state.levels[Permission.OUTBOX.value] == "1"
    assert "unsaved changes" in state.detail_error
    await state.create_role({"name": "Another"})
    assert _role(session, "Another") is None and state.new_name == "Another"
    assert "unsaved changes" in state.new_name_error
    await state.discard()
    await state.select_role(front)
    assert state.selected_name == "Front Desk" and state.detail_error == ""
