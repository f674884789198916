"""Staff users > Reset two-step verification, and Portal Settings' switch, through their handlers."""

from __future__ import annotations

from sqlmodel import select

from portal_app import routes
from portal_app.models import AuditEvent, SecondFactor, StaffUser
from portal_app.services import settings, staff_auth
from portal_app.services.permissions import ADMINISTRATOR, Level, Permission
from portal_app.state.settings_two_step import TwoStepSettingsState
from portal_app.state.staff_users import StaffUsersState
from tests.unit.state_support import PASSWORD, sign_in_admin, staff_with, state_for
from tests.unit.two_step import staff_sign_in


async def _users(session_id: str) -> StaffUsersState:
    _root, state = await state_for(StaffUsersState, session_id=session_id, path=routes.STAFF_USERS)
    await state.load()
    return state


async def test_an_administrator_resets_a_colleagues_two_step_verification(session, admin, frozen_clock):
    staff_auth.create_staff(session=session, username="boss", full_name="Bo Boss", password=PASSWORD,
                            role=ADMINISTRATOR)
    boss_sid = staff_sign_in(session, "boss", PASSWORD)
    boss = session.exec(select(StaffUser).where(StaffUser.username == "boss")).one()
    state = await _users(sign_in_admin(session))
    assert {row.username: row.two_step for row in state.rows} == {"admin": True, "boss": True}
    await state.reset_two_step(boss.id)
    assert "Two-step verification reset for boss" in state.notice
    assert {row.username: row.two_step for row in state.rows}["boss"] is False
    assert session.exec(select(SecondFactor).where(SecondFactor.staff_user_id == boss.id)).first() is None
    assert staff_auth.principal_for(session=session, session_id=boss_sid) is None
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "staff.second_factor_reset")).one()
    # Not one's own.
    await state.reset_two_step(admin.id)
    assert "your own" in state.error


async def test_reset_needs_update_on_roles_setup(session, admin, frozen_clock):
    staff_sign_in(session, "admin", PASSWORD)
    viewer = staff_with(session, "viewer", {Permission.ROLES: Level.READ})
    state = await _users(viewer)
    await state.reset_two_step(admin.id)
    assert session.exec(select(SecondFactor).where(SecondFactor.staff_user_id == admin.id)).first() is not None
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "access.refused")).first()


async def test_the_practice_switch_is_saved_audited_and_needs_update(session, admin, frozen_clock):
    reader = staff_with(session, "reader", {Permission.SETTINGS: Level.READ})
    _root, state = await state_for(TwoStepSettingsState, session_id=reader, path=routes.PORTAL_SETTINGS)
    await state.load()
    assert state.loaded and not state.can_edit and not state.required
    await state.set_required(True)
    assert not settings.get(session=session).require_second_factor

    _root, state = await state_for(TwoStepSettingsState, session_id=sign_in_admin(session),
                                   path=routes.PORTAL_SETTINGS)
    await state.load()
    assert state.can_edit
    await state.set_required(True)
    session.expire_all()
    assert state.required and settings.get(session=session).require_second_factor
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "settings.update")).one()
    assert event.detail == "require_second_factor: False -> True" and event.staff_user_id == admin.id
