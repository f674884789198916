"""PortalUsersState handlers (/staff/portal-users), called directly (no browser, no server)."""

from __future__ import annotations

from sqlmodel import col, select

from portal_app import routes
from portal_app.models import (
    AccountStatus,
    AuditEvent,
    OneTimeSecret,
    OutboxMessage,
    PortalAccount,
    Role,
    RolePermission,
)
from portal_app.services import portal_auth, staff_auth
from portal_app.services.permissions import Level, Permission
from portal_app.state.portal_users import NO_ACCESS, NO_VIEW, NOT_ON_PAGE, PortalUsersState
from tests.unit.state_support import everything_in_state, sign_in_admin, staff_with, state_for
from tests.unit.test_portal_users import PASSWORD, family, make_account


async def open_page(session_id: str):
    root, state = await state_for(PortalUsersState, session_id=session_id, path=routes.PORTAL_USERS)
    result = await state.load_page()
    return root, state, result


def _fresh(session, account_id: int) -> PortalAccount:
    session.expire_all()
    return session.get(PortalAccount, account_id)


def _user_ids(state) -> list[str]:
    return [row.user_id for row in state.rows]


async def test_without_a_session_the_page_redirects_and_every_handler_refuses(session, admin):
    parent, *_ = family(session)
    _, state, result = await open_page("")
    assert "/staff/login" in str(result) and state.rows == [] and not state.allowed
    assert "error" in str(await state.set_search("Brook"))
    assert "error" in str(await state.next_page())
    await state.ask("disable", parent.id)
    assert state.error == NO_ACCESS and state.confirm_id == 0
    state.confirm_action, state.confirm_id = "disable", parent.id  # a forged dialog
    await state.confirm()
    assert state.error == NO_ACCESS
    assert _fresh(session, parent.id).status == AccountStatus.ACTIVE


async def test_without_the_permission_the_page_shows_nothing(session, admin):
    family(session)
    sid = staff_with(session, "clerk", {Permission.PORTAL_ADMIN: Level.WRITE})
    _, state, result = await open_page(sid)
    assert "error" in str(result) and state.rows == [] and not state.allowed
    assert "error" in str(await state.set_status("disabled")) and state.rows == []


async def test_read_level_may_look_but_every_action_is_refused(session, admin):
    parent, *_ = family(session)
    sid = staff_with(session, "viewer", {Permission.USER_MANAGEMENT: Level.READ})
    _, state, result = await open_page(sid)
    assert result is None and state.allowed and not state.can_act
    assert _user_ids(state) == ["maria@example.com", "pat.brook@example.com"]
    await state.ask("disable", parent.id)
    assert state.error == NO_ACCESS and state.confirm_action == ""
    for action in ("disable", "force_change", "reset_link", "unlock"):
        state.confirm_action, state.confirm_id = action, parent.id  # as if the dialog were forged
        await state.confirm()
        assert state.error == NO_ACCESS
    account = _fresh(session, parent.id)
    assert (account.status, account.must_change_password) == (AccountStatus.ACTIVE, False)
    assert session.exec(select(OutboxMessage)).all() == []
    assert session.exec(select(AuditEvent).where(AuditEvent.action.like("account.%"))).all() == []


async def test_update_level_may_act(session, admin):
    parent, *_ = family(session)
    sid = staff_with(session, "desk", {Permission.USER_MANAGEMENT: Level.UPDATE})
    _, state, _ = await open_page(sid)
    assert state.can_act
    await state.ask("force_change", parent.id)
    await state.confirm()
    assert state.error == "" and _fresh(session, parent.id).must_change_password


async def test_disable_asks_then_ends_sessions_and_refreshes_only_that_row(session, admin):
    parent, _, _, own, _ = family(session)
    parent_sid = portal_auth.sign_in(session=session, user_id=parent.user_id, password=PASSWORD)
    _, state, _ = await open_page(sign_in_admin(session))
    await state.set_search("Brook")
    assert _user_ids(state) == ["pat.brook@example.com"]

    await state.ask("disable", parent.id)
    assert (state.confirm_action, state.confirm_id) == ("disable", parent.id)
    assert state.confirm_title == "Disable pat.brook@example.com?"
    assert state.confirm_button == "Disable account" and state.confirm_danger
    await state.confirm()
    assert state.confirm_action == "" and state.error == ""
    assert state.notice == "pat.brook@example.com is disabled; it has been signed out everywhere."
    assert state.rows[0].disabled and state.rows[0].status_label == "Disabled"
    assert state.search == "Brook" and _user_ids(state) == ["pat.brook@example.com"]  # search kept
    assert portal_auth.principal_for(session=session, session_id=parent_sid) is None

    await state.ask("enable", parent.id)
    assert state.confirm_title == "Enable pat.brook@example.com?"
    await state.confirm()
    assert not state.rows[0].disabled
    assert portal_auth.sign_in(session=session, user_id=parent.user_id, password=PASSWORD)
    actions = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.account_id == parent.id))]
    assert "account.disable" in actions and "account.enable" in actions


async def test_the_row_stays_in_place_even_when_it_no_longer_matches_the_filter(session, admin):
    parent, _, _, own, _ = family(session)
    _, state, _ = await open_page(sign_in_admin(session))
    await state.set_status("enabled")
    before = list(state.rows)
    await state.ask("disable", parent.id)
    await state.confirm()
    assert state.status == "enabled" and _user_ids(state) == [row.user_id for row in before]
    assert state.rows[0] == before[0]  # the other row is untouched
    assert state.rows[1].disabled


async def test_cancel_forgets_the_choice_so_a_later_confirm_does_nothing(session, admin):
    parent, *_ = family(session)
    _, state, _ = await open_page(sign_in_admin(session))
    await state.ask("disable", parent.id)
    assert state.set_confirm_open(False) is not None  # focus goes back to the button
    assert state.confirm_action == "" and state.confirm_id == 0
    await state.confirm()
    assert _fresh(session, parent.id).status == AccountStatus.ACTIVE


async def test_only_accounts_on_the_page_and_known_actions_can_be_asked(session, admin):
    parent, *_ = family(session)
    stranger = make_account(session, "zed@example.com")
    _, state, _ = await open_page(sign_in_admin(session))
    await state.set_search("Brook")
    await state.ask("disable", stranger.id)
    assert state.error == NOT_ON_PAGE and state.confirm_id == 0
    await state.ask("delete_everything", parent.id)
    assert state.error == NOT_ON_PAGE and state.confirm_action == ""
    await state.ask("disable", "not a number")
    assert state.error == NOT_ON_PAGE


async def test_reset_link_goes_to_the_outbox_and_no_secret_reaches_state(session, admin):
    parent, *_ = family(session)
    root, state, _ = await open_page(sign_in_admin(session))
    await state.ask("reset_link", parent.id)
    assert state.confirm_title == "Send a password-reset link to pat.brook@example.com?"
    await state.confirm()
    assert state.notice == "Reset link sent to pat.brook@example.com by email."
    message = session.exec(select(OutboxMessage)).one()
    assert message.to_address == "pat.brook@example.com"
    secret = session.exec(select(OneTimeSecret)).one()
    token = message.body_text.split("token=")[1].split()[0]
    everything = everything_in_state(root)
    assert token not in everything and secret.secret_hash not in everything
    assert _fresh(session, parent.id).password_hash not in everything


async def test_a_refused_action_shows_its_reason(session, admin):
    parent, *_ = family(session)
    _, state, _ = await open_page(sign_in_admin(session))
    await state.ask("disable", parent.id)
    await state.confirm()
    await state.ask("reset_link", parent.id)
    await state.confirm()
    assert state.notice == "" and "is disabled" in state.error


async def test_unlock_and_force_change_through_the_dialog(session, admin, frozen_clock):
    _, _, _, own, _ = family(session)
    for _ in range(portal_auth.MAX_FAILURES):
        try:
            portal_auth.sign_in(session=session, user_id=own.user_id, password="wrong")
        except portal_auth.SignInFailed:
            pass
    _, state, _ = await open_page(sign_in_admin(session))
    await state.set_status("locked")
    assert _user_ids(state) == ["maria@example.com"] and state.rows[0].locked
    await state.ask("unlock", own.id)
    await state.confirm()
    assert not state.rows[0].locked and state.notice == "maria@example.com is unlocked."
    await state.ask("force_change", own.id)
    await state.confirm()
    assert state.rows[0].must_change
    assert _fresh(session, own.id).locked_until is None


async def test_paging_filter_and_search(session, admin):
    for i in range(60):
        make_account(session, f"user{i:02d}@example.org",
                     status=AccountStatus.DISABLED if i % 3 == 0 else AccountStatus.ACTIVE)
    _, state, _ = await open_page(sign_in_admin(session))
    assert len(state.rows) == 50 and state.has_next and not state.has_prev and state.page_number == 1
    await state.next_page()
    assert _user_ids(state) == [f"user{i:02d}@example.org" for i in range(50, 60)]
    assert state.page_number == 2 and not state.has_next and state.has_prev
    await state.prev_page()
    assert state.page_number == 1 and _user_ids(state)[0] == "user00@example.org"
    await state.set_status("disabled")
    assert len(state.rows) == 20 and all(row.disabled for row in state.rows)
    await state.set_status("no such filter")
    assert state.status == "all" and len(state.rows) == 50
    await state.set_search("user5")
    assert len(state.rows) == 10 and state.page_number == 1


async def test_a_role_change_takes_effect_on_the_next_event(session, admin):
    parent, *_ = family(session)
    sid = staff_with(session, "desk", {Permission.USER_MANAGEMENT: Level.WRITE})
    _, state, _ = await open_page(sid)
    await state.ask("disable", parent.id)
    assert state.confirm_id == parent.id
    grant = session.exec(select(RolePermission).join(Role, col(RolePermission.role_id) == Role.id)
                         .where(Role.name == "role for desk")).one()
    grant.level = int(Level.READ)
    session.add(grant)
    session.commit()
    await state.confirm()
    assert state.error == NO_ACCESS
    assert _fresh(session, parent.id).status == AccountStatus.ACTIVE
    await state.next_page()  # looking is still allowed
    assert state.error == NO_ACCESS and state.rows


async def test_list_handlers_refuse_after_the_session_ends(session, admin):
    family(session)
    sid = sign_in_admin(session)
    _, state, _ = await open_page(sid)
    staff_auth.sign_out(session=session, session_id=sid)
    assert NO_VIEW in str(await state.set_search("Brook"))
    assert state.rows == []


async def test_enabling_an_account_without_a_password_says_what_comes_next(session, admin):
    # "It can sign in with its current password" would be wrong: it has none.
    pending = make_account(session, "new.parent@example.com", status=AccountStatus.DISABLED, password=False)
    _, state, _ = await open_page(sign_in_admin(session))
    await state.ask("enable", pending.id)
    assert state.confirm_title == "Enable new.parent@example.com?"
    assert "no password yet" in state.confirm_text and "send a reset link" in state.confirm_text
    await state.confirm()
    assert _fresh(session, pending.id).status == AccountStatus.PENDING
