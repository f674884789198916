"""Roles setup rules (services/roles.py): names, levels, the last administrator, audit."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal_app.models import AuditEvent, Role, RolePermission, StaffUser, StaffUserRole
from portal_app.services import audit, permissions, roles, staff_auth, staff_users
from portal_app.services.errors import DomainError, InvalidInput
from portal_app.services.permissions import ADMINISTRATOR, Level, Permission, QueueAccess
from tests.unit.state_support import staff_with


def _actor(admin) -> audit.Actor:
    return audit.Actor.staff(admin.id)


def _role_id(session, name: str) -> int:
    return session.exec(select(Role).where(Role.name == name)).one().id


def _events(session, action: str) -> list[str]:
    return [row.detail for row in session.exec(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


def _levels(session, role_id: int) -> dict[str, int]:
    session.expire_all()
    return {row.permission: row.level for row in session.exec(
        select(RolePermission).where(RolePermission.role_id == role_id)) if row.level}


# --- names -----------------------------------------------------------------------------------


def test_create_trims_the_name_and_starts_with_every_permission_off(session, admin):
    role_id = roles.create_role(session=session, name="  Portal Limited  ", actor=_actor(admin))
    detail = roles.role_detail(session=session, role_id=role_id)
    assert detail.name == "Portal Limited" and not detail.built_in
    assert [row.name for row in detail.permissions] == [p.value for p in Permission]
    assert all(row.level == 0 for row in detail.permissions)
    assert _events(session, "role.create") == ["role=Portal Limited"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "two\nlines"])
def test_empty_long_or_multiline_names_are_refused(session, admin, name):
    with pytest.raises(InvalidInput) as caught:
        roles.create_role(session=session, name=name, actor=_actor(admin))
    assert caught.value.field == "name"


def test_a_name_of_100_characters_is_allowed(session, admin):
    roles.create_role(session=session, name="x" * 100, actor=_actor(admin))


def test_duplicate_names_are_refused_ignoring_case(session, admin):
    roles.create_role(session=session, name="Portal Limited", actor=_actor(admin))
    with pytest.raises(InvalidInput, match="already has that name"):
        roles.create_role(session=session, name="portal LIMITED ", actor=_actor(admin))
    other = roles.create_role(session=session, name="Billing", actor=_actor(admin))
    with pytest.raises(InvalidInput, match="already has that name"):
        roles.rename_role(session=session, role_id=other, name="PORTAL limited", actor=_actor(admin))
    with pytest.raises(InvalidInput, match="already has that name"):
        roles.create_role(session=session, name="administrator", actor=_actor(admin))


def test_rename_audits_old_and_new_and_allows_a_change_of_case(session, admin):
    role_id = roles.create_role(session=session, name="Billing", actor=_actor(admin))
    roles.rename_role(session=session, role_id=role_id, name="BILLING", actor=_actor(admin))
    roles.rename_role(session=session, role_id=role_id, name="Front office", actor=_actor(admin))
    assert roles.role_detail(session=session, role_id=role_id).name == "Front office"
    assert _events(session, "role.rename") == ["role: Billing -> BILLING", "role: BILLING -> Front office"]


def test_administrator_cannot_be_renamed_deleted_or_lowered(session, admin):
    role_id = _role_id(session, ADMINISTRATOR)
    with pytest.raises(InvalidInput):
        roles.rename_role(session=session, role_id=role_id, name="Boss", actor=_actor(admin))
    with pytest.raises(DomainError):
        roles.delete_role(session=session, role_id=role_id, actor=_actor(admin), confirmed=True)
    with pytest.raises(InvalidInput, match="keeps Write"):
        roles.save_role(session=session, role_id=role_id, levels={Permission.OUTBOX.value: 1},
                        member_ids=[admin.id], actor=_actor(admin))
    assert _levels(session, role_id)[Permission.OUTBOX.value] == 3


# --- search ----------------------------------------------------------------------------------


def test_search_patient_portal_finds_both_queue_permissions_and_matching_roles(session, admin):
    roles.create_role(session=session, name="Billing", actor=_actor(admin))
    found = [info.name for info in roles.search_permissions(session=session, search="patient portal")]
    assert Permission.TASK_PORTAL_LIST.value in found and Permission.TASK_PORTAL.value in found
    assert Permission.OUTBOX.value not in found
    names = [row.name for row in roles.list_roles(session=session, search="Patient Portal")]
    assert names == [permissions.COMMUNICATIONS_ONLY]
    assert "Billing" in [row.name for row in roles.list_roles(session=session)]
    assert roles.list_roles(session=session, search="%") == []  # a wildcard is only a character


def test_queue_permissions_are_explained_as_write_others_as_view_only(session, admin):
    infos = {info.name: info for info in roles.search_permissions(session=session)}
    assert infos[Permission.TASK_PORTAL.value].queue
    assert "above Off acts as Write" in infos[Permission.TASK_PORTAL_LIST.value].explanation
    assert "Read: view only" in infos[Permission.OUTBOX.value].explanation


# --- levels ----------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [-1, 4, 99, "3", 2.0, True, None])
def test_a_level_outside_the_four_is_refused(session, admin, level):
    role_id = roles.create_role(session=session, name="Portal Limited", actor=_actor(admin))
    with pytest.raises(InvalidInput):
        roles.save_role(session=session, role_id=role_id, levels={Permission.TASK_PORTAL.value: level},
                        member_ids=[], actor=_actor(admin))
    assert _levels(session, role_id) == {}


def test_an_unknown_permission_is_refused(session, admin):
    role_id = roles.create_role(session=session, name="Portal Limited", actor=_actor(admin))
    with pytest.raises(InvalidInput):
        roles.save_role(session=session, role_id=role_id, levels={"Everything": 3}, member_ids=[],
                        actor=_actor(admin))


def test_save_sets_levels_and_holders_and_audits_old_to_new(session, admin):
    staff_with(session, "nora", {})
    nora = session.exec(select(StaffUser).where(StaffUser.username == "nora")).one()
    role_id = roles.create_role(session=session, name="Portal Limited", actor=_actor(admin))
    result = roles.save_role(session=session, role_id=role_id,
                             levels={Permission.TASK_PORTAL.value: 3, Permission.OUTBOX.value: 0},
                             member_ids=[nora.id], actor=_actor(admin))
    assert (result.level_changes, result.added, result.removed) == (1, 1, 0)
    assert _levels(session, role_id) == {Permission.TASK_PORTAL.value: 3}
    assert _events(session, "role.permission") == [
        "role=Portal Limited; Task - Patient Portal: Off -> Write"]
    assert _events(session, "role.member_add") == ["role=Portal Limited; staff=nora"]
    roles.save_role(session=session, role_id=role_id, levels={Permission.TASK_PORTAL.value: 1},
                    member_ids=[], actor=_actor(admin))
    assert _events(session, "role.permission")[-1] == (
        "role=Portal Limited; Task - Patient Portal: Write -> Read")
    assert _events(session, "role.member_remove") == ["role=Portal Limited; staff=nora"]
    detail = roles.role_detail(session=session, role_id=role_id)
    assert detail.members == []


def test_save_is_one_transaction(session, admin):
    role_id = roles.create_role(session=session, name="Portal Limited", actor=_actor(admin))
    with pytest.raises(InvalidInput):
        roles.save_role(session=session, role_id=role_id, levels={Permission.TASK_PORTAL.value: 3},
                        member_ids=[admin.id, 9999], actor=_actor(admin))
    assert _levels(session, role_id) == {}
    assert _events(session, "role.permission") == []


def test_multiple_roles_give_the_highest_level(session, admin):
    staff_with(session, "nora", {Permission.OUTBOX: Level.READ, Permission.TASK_PORTAL_LIST: Level.WRITE})
    nora = session.exec(select(StaffUser).where(StaffUser.username == "nora")).one()
    role_id = roles.create_role(session=session, name="Portal Limited", actor=_actor(admin))
    roles.save_role(session=session, role_id=role_id,
                    levels={Permission.OUTBOX.value: 2, Permission.TASK_PORTAL.value: 1},
                    member_ids=[nora.id], actor=_actor(admin))
    levels = permissions.levels_for(session=session, staff_user_id=nora.id)
    assert levels[Permission.OUTBOX.value] == 2
    assert levels[Permission.TASK_PORTAL_LIST.value] == 3
    assert permissions.queue_access(levels) == QueueAccess.FULL


def test_a_role_change_applies_to_an_open_session_on_its_next_event(session, admin):
    sid = staff_with(session, "nora", {})
    nora = session.exec(select(StaffUser).where(StaffUser.username == "nora")).one()
    assert staff_auth.principal_for(session=session, session_id=sid).levels == {}
    role_id = roles.create_role(session=session, name="Portal Limited", actor=_actor(admin))
    roles.save_role(session=session, role_id=role_id, levels={Permission.TASK_PORTAL.value: 3},
                    member_ids=[nora.id], actor=_actor(admin))
    principal = staff_auth.principal_for(session=session, session_id=sid)
    assert permissions.queue_access(principal.levels) == QueueAccess.LIMITED
    roles.save_role(session=session, role_id=role_id, levels={Permission.TASK_PORTAL.value: 0},
                    member_ids=[nora.id], actor=_actor(admin))
    principal = staff_auth.principal_for(session=session, session_id=sid)
    assert permissions.queue_access(principal.levels) == QueueAccess.NONE


def test_a_user_with_no_role_has_no_permission(session, admin):
    sid = staff_with(session, "nora", {})
    nora = session.exec(select(StaffUser).where(StaffUser.username == "nora")).one()
    for row in session.exec(select(StaffUserRole).where(StaffUserRole.staff_user_id == nora.id)):
        session.delete(row)
    session.commit()
    principal = staff_auth.principal_for(session=session, session_id=sid)
    assert principal.levels == {}
    assert not any(principal.can(p, Level.READ) for p in Permission)


# --- the last administrator ------------------------------------------------------------------


def _second_admin(session, admin):
    created = staff_users.create_staff_user(session=session, username="bea", full_name="Bea Boss",
                                            role_ids=[_role_id(session, ADMINISTRATOR)],
                                            actor=_actor(admin))
    return session.get(StaffUser, created.staff_user_id)


def _only_bea_administers(session, admin):
    """Nobody left in Administrator: bea keeps Write on Roles Setup through "Setup people" only.
    Returns (that role's id, bea)."""
    role_id = roles.create_role(session=session, name="Setup people", actor=_actor(admin))
    bea = _second_admin(session, admin)
    roles.save_role(session=session, role_id=role_id, levels={Permission.ROLES.value: 3},
                    member_ids=[bea.id], actor=_actor(admin))
    roles.save_role(session=session, role_id=_role_id(session, ADMINISTRATOR), levels={},
                    member_ids=[], actor=_actor(admin))
    assert roles.administrators(session=session) == 1
    return role_id, bea


def test_the_last_administrator_cannot_leave_the_administrator_role(session, admin):
    role_id = _role_id(session, ADMINISTRATOR)
    with pytest.raises(roles.LastAdministrator):
        roles.save_role(session=session, role_id=role_id, levels={}, member_ids=[], actor=_actor(admin))
    assert roles.administrators(session=session) == 1
    assert _events(session, "role.member_remove") == []
    bea = _second_admin(session, admin)
    roles.save_role(session=session, role_id=role_id, levels={}, member_ids=[bea.id], actor=_actor(admin))
    assert roles.administrators(session=session) == 1


def test_an_inactive_administrator_does_not_count(session, admin):
    bea = _second_admin(session, admin)
    staff_users.set_active(session=session, staff_user_id=bea.id, active=False, actor=_actor(admin))
    with pytest.raises(roles.LastAdministrator):
        roles.save_role(session=session, role_id=_role_id(session, ADMINISTRATOR), levels={},
                        member_ids=[bea.id], actor=_actor(admin))


def test_lowering_roles_setup_in_the_only_admin_granting_role_is_refused(session, admin):
    role_id, bea = _only_bea_administers(session, admin)
    with pytest.raises(roles.LastAdministrator):
        roles.save_role(session=session, role_id=role_id, levels={Permission.ROLES.value: 2},
                        member_ids=[bea.id], actor=_actor(admin))
    with pytest.raises(roles.LastAdministrator):
        roles.save_role(session=session, role_id=role_id, levels={}, member_ids=[], actor=_actor(admin))
    assert _levels(session, role_id) == {Permission.ROLES.value: 3}


def test_deleting_the_role_of_the_last_administrator_is_refused(session, admin):
    role_id, _ = _only_bea_administers(session, admin)
    with pytest.raises(roles.LastAdministrator):
        roles.delete_role(session=session, role_id=role_id, actor=_actor(admin), confirmed=True)
    session.expire_all()
    assert session.get(Role, role_id) is not None
    assert _events(session, "role.delete") == []


def test_deactivating_the_last_administrator_is_refused(session, admin):
    bea = _second_admin(session, admin)
    staff_users.set_active(session=session, staff_user_id=admin.id, active=False,
                           actor=audit.Actor.staff(bea.id))
    with pytest.raises(roles.LastAdministrator):
        staff_users.set_active(session=session, staff_user_id=bea.id, active=False,
                               actor=audit.Actor.system())
    session.expire_all()
    assert session.get(StaffUser, bea.id).active


# --- deleting --------------------------------------------------------------------------------


def test_a_held_role_is_deleted_only_after_confirmation(session, admin):
    staff_with(session, "nora", {})
    nora = session.exec(select(StaffUser).where(StaffUser.username == "nora")).one()
    role_id = roles.create_role(session=session, name="Portal Limited", actor=_actor(admin))
    roles.save_role(session=session, role_id=role_id, levels={Permission.TASK_PORTAL.value: 3},
                    member_ids=[nora.id], actor=_actor(admin))
    with pytest.raises(roles.RoleHeld) as caught:
        roles.delete_role(session=session, role_id=role_id, actor=_actor(admin))
    assert caught.value.holders == 1
    roles.delete_role(session=session, role_id=role_id, actor=_actor(admin), confirmed=True)
    session.expire_all()
    assert session.get(Role, role_id) is None
    assert permissions.levels_for(session=session, staff_user_id=nora.id) == {}
    assert _events(session, "role.delete") == ["role=Portal Limited; held by 1 staff user(s)"]


def test_an_unheld_role_is_deleted_at_once(session, admin):
    role_id = roles.create_role(session=session, name="Spare", actor=_actor(admin))
    roles.delete_role(session=session, role_id=role_id, actor=_actor(admin))
    assert "Spare" not in [row.name for row in roles.list_roles(session=session)]


def test_find_staff_by_username(session, admin):
    assert roles.find_staff(session=session, username=" ADMIN ").username == "admin"
    with pytest.raises(InvalidInput):
        roles.find_staff(session=session, username="nobody")


def test_a_user_with_no_permissions_is_told_who_can_change_roles(session, admin):
    from portal_app.services.permissions import Level, Permission

    assert roles.access_contacts(session=session) == "Ada Admin"
    staff_with(session, "bo", {Permission.ROLES: Level.UPDATE})
    staff_with(session, "cy", {Permission.ROLES: Level.READ})  # may look, not change: not named
    assert roles.access_contacts(session=session) == "Ada Admin or Bo Staff"
