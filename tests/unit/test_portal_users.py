"""Portal user management (services.portal_users): the list, its filters, search and paging,
and the staff actions with what they end, void, send and audit."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from functools import lru_cache

import pytest
from sqlalchemy import text
from sqlmodel import select

from portal_app import routes
from portal_app.models import (
    AccessType,
    AccountStatus,
    AuditEvent,
    ChartAccountState,
    OneTimeSecret,
    OutboxMessage,
    Patient,
    PortalAccount,
    PortalConnection,
    SecretPurpose,
)
from portal_app.notify import transports
from portal_app.services import audit, invitations, passwords, portal_auth, portal_users, settings, tokens
from portal_app.services.errors import InvalidInput, NotFound, PortalUnavailable
from portal_app.services.portal_users import AccountFilter, ChartLink
from tests.unit.conftest import ON_POSTGRES, START, make_patient, sqlite_plan

PASSWORD = "quiet lantern orbit 73 meadow"
NEW_PASSWORD = "copper kettle harbor 19 violet"


@lru_cache(maxsize=1)
def _hash() -> str:
    return passwords.hash_password(PASSWORD)


def make_account(session, user_id: str, *, first: str = "", last: str = "",
                 status: AccountStatus = AccountStatus.ACTIVE, password: bool = True,
                 **extra) -> PortalAccount:
    account = PortalAccount(user_id=user_id, first_name=first, last_name=last, status=status,
                            password_hash=_hash() if password else None, **extra)
    session.add(account)
    session.commit()
    session.refresh(account)
    return account


def connect(session, account: PortalAccount, patient: Patient, *,
            access: AccessType = AccessType.SELF, relationship: str = "") -> PortalConnection:
    connection = PortalConnection(account_id=account.id, patient_id=patient.id, access_type=access,
                                  relationship=relationship, permissions="messages,forms")
    session.add(connection)
    session.commit()
    return connection


def family(session):
    """A parent (own name on the account) acting for two children, and a self account whose
    name comes from its chart. Returns (parent, kid1, kid2, maria_account, maria)."""
    maria = make_patient(session, first="Maria", last="Lopez", email="maria@example.com",
                         enabled=True, chart="C100")
    kid1 = make_patient(session, first="Tom", last="Brook", email="", enabled=True, chart="C101")
    kid2 = make_patient(session, first="Ann", last="Brook", email="", enabled=True, chart="C102")
    parent = make_account(session, "pat.brook@example.com", first="Pat", last="Brook")
    connect(session, parent, kid1, access=AccessType.REPRESENTATIVE, relationship="parent")
    connect(session, parent, kid2, access=AccessType.REPRESENTATIVE, relationship="guardian")
    own = make_account(session, "maria@example.com")
    connect(session, own, maria)
    return parent, kid1, kid2, own, maria


def staff_actor(admin) -> audit.Actor:
    return audit.Actor.staff(admin.id, "10.0.0.9")


def events(session, action: str) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


def user_ids(page) -> list[str]:
    return [row.user_id for row in page.rows]


def fresh(session, account_id: int) -> PortalAccount:
    session.expire_all()
    return session.get(PortalAccount, account_id)


# ---- the list -----------------------------------------------------------------------


def test_rows_show_user_id_names_charts_as_what_status_and_last_sign_in(session, frozen_clock):
    parent, kid1, kid2, own, maria_chart = family(session)
    own.last_sign_in_at = START - timedelta(days=1)
    session.add(own)
    session.commit()
    page = portal_users.list_page(session=session)
    by_id = {row.user_id: row for row in page.rows}
    assert by_id["pat.brook@example.com"] == portal_users.AccountRow(
        id=parent.id, user_id="pat.brook@example.com", name="Brook, Pat",
        charts=[ChartLink("Brook, Tom (C101): Authorized representative (parent)",
                          f"/staff/portal-accounts?patient={kid1.id}"),
                ChartLink("Brook, Ann (C102): Authorized representative (guardian)",
                          f"/staff/portal-accounts?patient={kid2.id}")],
        status="active", status_label="Active", disabled=False, locked=False, locked_label="",
        must_change=False, has_password=True, last_sign_in="Never")
    maria = by_id["maria@example.com"]
    # No name on the account: the name of its own chart stands in.
    assert (maria.name, [c.label for c in maria.charts], maria.last_sign_in) == (
        "Lopez, Maria", ["Lopez, Maria (C100): Self"], "11/22/2026 3:00PM (UTC)")
    # Each chart leads to its Portal Account Setup (to change permissions or remove it).
    assert maria.charts[0].href == routes.portal_accounts(maria_chart.id)
    assert user_ids(page) == ["maria@example.com", "pat.brook@example.com"]


def test_a_revoked_connection_is_not_listed(session, frozen_clock):
    parent, kid1, _, _, _ = family(session)
    connection = session.exec(select(PortalConnection).where(
        PortalConnection.account_id == parent.id, PortalConnection.patient_id == kid1.id)).one()
    connection.revoked_at = START
    session.add(connection)
    session.commit()
    row = portal_users.account_row(session=session, account_id=parent.id)
    assert [c.label for c in row.charts] == ["Brook, Ann (C102): Authorized representative (guardian)"]


def test_rows_hold_no_secret(session, frozen_clock):
    family(session)
    fields = {field.name for field in dataclasses.fields(portal_users.AccountRow)}
    assert not fields & {"password_hash", "secret_hash", "token", "salt"}
    everything = repr(portal_users.list_page(session=session))
    assert _hash() not in everything and "argon2" not in everything


def test_filters_enabled_disabled_locked_and_must_change(session, frozen_clock):
    make_account(session, "a.active@example.com")
    make_account(session, "b.pending@example.com", status=AccountStatus.PENDING, password=False)
    make_account(session, "c.disabled@example.com", status=AccountStatus.DISABLED)
    make_account(session, "d.locked@example.com", locked_until=START + timedelta(minutes=5))
    make_account(session, "e.lock-over@example.com", locked_until=START - timedelta(minutes=1))
    make_account(session, "f.change@example.com", must_change_password=True)

    def shown(status: AccountFilter) -> list[str]:
        return [u.split(".")[0] for u in user_ids(portal_users.list_page(session=session, status=status))]

    assert shown(AccountFilter.ALL) == ["a", "b", "c", "d", "e", "f"]
    assert shown(AccountFilter.ENABLED) == ["a", "b", "d", "e", "f"]
    assert shown(AccountFilter.DISABLED) == ["c"]
    assert shown(AccountFilter.LOCKED) == ["d"]
    assert shown(AccountFilter.MUST_CHANGE) == ["f"]
    locked = portal_users.list_page(session=session, status=AccountFilter.LOCKED).rows[0]
    assert locked.locked and locked.locked_label == "Locked until 11/23/2026 3:05PM (UTC)"
    # The lock runs out by itself: the same account is no longer "locked".
    frozen_clock(START + timedelta(minutes=6))
    assert shown(AccountFilter.LOCKED) == []


def test_an_unknown_filter_value_means_all():
    assert portal_users.parse_filter("locked") == AccountFilter.LOCKED
    assert portal_users.parse_filter("status; DROP TABLE") == AccountFilter.ALL


@pytest.mark.parametrize("search, expected", [
    ("pat.br", ["pat.brook@example.com"]),                   # start of an email user ID
    ("PAT.BROOK@EXAMPLE.COM", ["pat.brook@example.com"]),   # case does not matter
    ("(555) 010-44", ["+15550104477"]),                      # start of a phone user ID
    ("+1 555 010 4477", ["+15550104477"]),
    ("Brook", ["pat.brook@example.com"]),                    # the account's own last name
    ("Brook, Pat", ["pat.brook@example.com"]),
    ("pat brook", ["pat.brook@example.com"]),
    ("Brook, Tom", ["pat.brook@example.com"]),               # a chart the parent acts for
    ("lopez", ["maria@example.com"]),                        # the self chart's name
    ("Lopez, Maria", ["maria@example.com"]),
    ("c102", ["pat.brook@example.com"]),                     # a connected chart's number
    ("Nobody", []),
    ("", ["+15550104477", "maria@example.com", "pat.brook@example.com"]),
])
def test_search_by_user_id_name_or_connected_patient(session, frozen_clock, search, expected):
    family(session)
    make_account(session, "+15550104477", first="Sam", last="Reed")
    assert user_ids(portal_users.list_page(session=session, search=search)) == expected


def test_search_combines_with_a_filter(session, frozen_clock):
    parent, *_ = family(session)
    portal_users.disable(session=session, account_id=parent.id, actor=audit.Actor.system())
    assert user_ids(portal_users.list_page(session=session, search="Brook",
                                           status=AccountFilter.DISABLED)) == ["pat.brook@example.com"]
    assert user_ids(portal_users.list_page(session=session, search="Brook",
                                           status=AccountFilter.ENABLED)) == []


def test_search_does_not_match_through_a_revoked_connection(session, frozen_clock):
    parent, kid1, kid2, _, _ = family(session)
    for connection in session.exec(select(PortalConnection).where(PortalConnection.account_id == parent.id)):
        connection.revoked_at = START
        session.add(connection)
    session.commit()
    assert user_ids(portal_users.list_page(session=session, search="Brook, Tom")) == []


def test_pages_of_fifty_forward_and_back(session, frozen_clock):
    session.add_all([PortalAccount(user_id=f"user{i:03d}@example.org", status=AccountStatus.ACTIVE)
                     for i in range(120)])
    session.commit()
    first = portal_users.list_page(session=session)
    assert len(first.rows) == 50 and first.has_next and not first.has_prev
    assert (first.first, first.last) == ("user000@example.org", "user049@example.org")
    second = portal_users.list_page(session=session, after=first.last)
    assert user_ids(second)[0] == "user050@example.org" and second.has_next and second.has_prev
    third = portal_users.list_page(session=session, after=second.last)
    assert len(third.rows) == 20 and not third.has_next and third.has_prev
    back = portal_users.list_page(session=session, before=third.first)
    assert user_ids(back) == user_ids(second) and back.has_next and back.has_prev
    start = portal_users.list_page(session=session, before=back.first)
    assert user_ids(start) == user_ids(first) and not start.has_prev


def test_paging_keeps_the_filter(session, frozen_clock):
    session.add_all([PortalAccount(user_id=f"user{i:03d}@example.org",
                                   status=AccountStatus.DISABLED if i % 2 else AccountStatus.ACTIVE)
                     for i in range(130)])
    session.commit()
    first = portal_users.list_page(session=session, status=AccountFilter.DISABLED)
    second = portal_users.list_page(session=session, status=AccountFilter.DISABLED, after=first.last)
    assert len(first.rows) == 50 and len(second.rows) == 15 and not second.has_next
    assert all(row.disabled for row in first.rows + second.rows)


def _plan(session, **kwargs) -> str:
    """SQLite's plan for the page query `list_page` runs with these arguments."""
    captured = []
    real_exec = session.exec

    def spy(statement, *args, **kw):
        if not captured:
            captured.append(statement)
        return real_exec(statement, *args, **kw)

    session.exec = spy
    try:
        portal_users.list_page(session=session, **kwargs)
    finally:
        session.exec = real_exec
    sql = str(captured[0].compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    return "\n".join(row[3] for row in session.exec(text("EXPLAIN QUERY PLAN " + sql)))


@sqlite_plan
@pytest.mark.parametrize("kwargs", [
    {}, {"after": "m@example.org"}, {"before": "m@example.org"},
    {"status": AccountFilter.DISABLED}, {"status": AccountFilter.MUST_CHANGE},
    {"status": AccountFilter.LOCKED}, {"search": "jane@ex"}, {"search": "555 01"},
    {"search": "Lopez, Ma"}, {"search": "Lopez", "status": AccountFilter.DISABLED},
    {"search": "C0001234"},
])
def test_no_query_walks_the_account_table(session, frozen_clock, kwargs):
    plan = _plan(session, **kwargs)
    assert not re.search(r"SCAN portalaccount(?! USING INDEX ix_portalaccount_user_id)", plan), plan
    if kwargs.get("status") in (AccountFilter.DISABLED, AccountFilter.MUST_CHANGE, AccountFilter.LOCKED) \
            and "search" not in kwargs:
        assert "SCAN" not in plan, plan  # a rare filter goes straight to its rows


# ---- disable and enable -------------------------------------------------------------------


def test_disable_ends_every_session_voids_links_and_is_audited(session, admin, frozen_clock):
    _, _, _, own, maria = family(session)
    sid = portal_auth.sign_in(session=session, user_id="maria@example.com", password=PASSWORD)
    other_sid = portal_auth.sign_in(session=session, user_id="maria@example.com", password=PASSWORD)
    _, link = tokens.issue(session=session, purpose=SecretPurpose.PASSWORD_RESET,
                           lifetime=timedelta(hours=1), patient_id=maria.id, account_id=own.id)
    session.commit()
    assert portal_auth.principal_for(session=session, session_id=sid) is not None

    result = portal_users.disable(session=session, account_id=own.id, actor=staff_actor(admin))
    assert result.row.disabled and result.row.status_label == "Disabled" and result.ok
    assert portal_auth.principal_for(session=session, session_id=sid) is None
    assert portal_auth.principal_for(session=session, session_id=other_sid) is None
    session.expire_all()
    assert session.get(OneTimeSecret, link.id).revoked_at is not None
    # The onboarding list shows the chart's account as disabled.
    assert session.get(Patient, maria.id).account_state == ChartAccountState.DISABLED
    with pytest.raises(portal_auth.SignInFailed):
        portal_auth.sign_in(session=session, user_id="maria@example.com", password=PASSWORD)
    [event] = events(session, "account.disable")
    assert (event.staff_user_id, event.account_id, event.ip) == (admin.id, own.id, "10.0.0.9")
    assert event.detail == "status active -> disabled; sessions ended=2; links voided=1"


def test_disable_twice_changes_and_logs_nothing_the_second_time(session, admin, frozen_clock):
    parent, *_ = family(session)
    portal_users.disable(session=session, account_id=parent.id, actor=staff_actor(admin))
    again = portal_users.disable(session=session, account_id=parent.id, actor=staff_actor(admin))
    assert again.message == "pat.brook@example.com is already disabled."
    assert len(events(session, "account.disable")) == 1


def test_enable_lets_the_account_sign_in_again(session, admin, frozen_clock):
    _, _, _, own, maria = family(session)
    portal_users.disable(session=session, account_id=own.id, actor=staff_actor(admin))
    result = portal_users.enable(session=session, account_id=own.id, actor=staff_actor(admin))
    assert not result.row.disabled and result.row.status == "active"
    assert portal_auth.sign_in(session=session, user_id="maria@example.com", password=PASSWORD)
    session.expire_all()
    assert session.get(Patient, maria.id).account_state == ChartAccountState.ACTIVE
    [event] = events(session, "account.enable")
    assert (event.staff_user_id, event.detail) == (admin.id, "status disabled -> active")


def test_enable_an_account_that_never_had_a_password_makes_it_pending(session, admin, frozen_clock):
    account = make_account(session, "new@example.com", status=AccountStatus.DISABLED, password=False)
    result = portal_users.enable(session=session, account_id=account.id, actor=staff_actor(admin))
    assert result.row.status == "pending"
    assert events(session, "account.enable")[0].detail == "status disabled -> pending"


def test_an_unknown_account_is_not_found(session, admin):
    with pytest.raises(NotFound):
        portal_users.disable(session=session, account_id=999, actor=staff_actor(admin))
    with pytest.raises(NotFound):
        portal_users.account_row(session=session, account_id=999)


# ---- force a password change, unlock ---------------------------------------------------------


def test_force_password_change_sends_the_next_sign_in_to_the_password_page(session, admin, frozen_clock):
    _, _, _, own, _ = family(session)
    sid = portal_auth.sign_in(session=session, user_id="maria@example.com", password=PASSWORD)
    result = portal_users.force_password_change(session=session, account_id=own.id,
                                                actor=staff_actor(admin))
    assert result.row.must_change and fresh(session, own.id).must_change_password
    # The live session must change it before going on (the page guard sends it to /portal/password).
    assert portal_auth.principal_for(session=session, session_id=sid).must_change_password
    new_sid = portal_auth.sign_in(session=session, user_id="maria@example.com", password=PASSWORD)
    assert portal_auth.principal_for(session=session, session_id=new_sid).must_change_password
    [event] = events(session, "account.force_password_change")
    assert (event.staff_user_id, event.detail) == (admin.id, "must_change_password False -> True")
    portal_users.force_password_change(session=session, account_id=own.id, actor=staff_actor(admin))
    assert len(events(session, "account.force_password_change")) == 1


def test_force_password_change_needs_a_password(session, admin):
    account = make_account(session, "new@example.com", status=AccountStatus.PENDING, password=False)
    with pytest.raises(InvalidInput, match="send a reset link"):
        portal_users.force_password_change(session=session, account_id=account.id,
                                           actor=staff_actor(admin))


def test_unlock_clears_the_lock_and_the_wrong_tries(session, admin, frozen_clock):
    _, _, _, own, _ = family(session)
    for _ in range(portal_auth.MAX_FAILURES):
        with pytest.raises(portal_auth.SignInFailed):
            portal_auth.sign_in(session=session, user_id="maria@example.com", password="wrong")
    with pytest.raises(portal_auth.SignInFailed):  # locked: even the right password fails
        portal_auth.sign_in(session=session, user_id="maria@example.com", password=PASSWORD)
    locked = portal_users.list_page(session=session, status=AccountFilter.LOCKED)
    assert user_ids(locked) == ["maria@example.com"]
    account = fresh(session, own.id)
    account.failed_logins = 3
    session.add(account)
    session.commit()

    result = portal_users.unlock(session=session, account_id=own.id, actor=staff_actor(admin))
    assert not result.row.locked and result.message == "maria@example.com is unlocked."
    account = fresh(session, own.id)
    assert (account.locked_until, account.failed_logins) == (None, 0)
    assert portal_auth.sign_in(session=session, user_id="maria@example.com", password=PASSWORD)
    [event] = events(session, "account.unlock")
    assert event.staff_user_id == admin.id
    assert event.detail == "locked_until 11/23/2026 3:15PM (UTC) -> none; failed_logins 3 -> 0"


def test_unlock_an_unlocked_account_logs_nothing(session, admin, frozen_clock):
    parent, *_ = family(session)
    assert portal_users.unlock(session=session, account_id=parent.id,
                               actor=staff_actor(admin)).message == "pat.brook@example.com is not locked."
    assert events(session, "account.unlock") == []


# ---- reset links ---------------------------------------------------------------------------


def _link(message: OutboxMessage) -> str:
    return re.search(r"token=([\w-]+)", message.body_text).group(1)


def test_reset_link_goes_to_the_email_user_id_through_the_outbox_and_works(session, admin, frozen_clock):
    parent, kid1, _, _, _ = family(session)
    result = portal_users.send_reset_link(session=session, account_id=parent.id, actor=staff_actor(admin))
    assert result.ok and result.message == "Reset link sent to pat.brook@example.com by email."
    [message] = session.exec(select(OutboxMessage)).all()
    assert (message.channel, message.kind, message.to_address) == ("email", "reset", "pat.brook@example.com")
    assert "Hello Pat," in message.body_text and "/setup?p=reset&token=" in message.body_text
    [event] = events(session, "reset.send")
    assert (event.staff_user_id, event.account_id, event.patient_id) == (admin.id, parent.id, kid1.id)
    assert _link(message) not in event.detail and "by email to pat.brook@example.com" in event.detail
    # The link is the ordinary reset link: it sets a new password and signs the parent in.
    sid = invitations.redeem_reset(session=session, token=_link(message), password=NEW_PASSWORD,
                                   confirm=NEW_PASSWORD)
    assert portal_auth.principal_for(session=session, session_id=sid).account_id == parent.id


def test_reset_link_for_a_phone_user_id_goes_by_text(session, admin, frozen_clock):
    patient = make_patient(session, first="Sam", last="Reed", email="", enabled=True)
    account = make_account(session, "+15550104477")
    connect(session, account, patient)
    result = portal_users.send_reset_link(session=session, account_id=account.id, actor=staff_actor(admin))
    assert result.message == "Reset link sent to +15550104477 by text message."
    [message] = session.exec(select(OutboxMessage)).all()
    assert (message.channel, message.to_address) == ("sms", "+15550104477")
    assert "/setup?p=reset&token=" in message.body_text and len(message.body_text) < 320
    secret = session.exec(select(OneTimeSecret)).one()
    assert (secret.channel, secret.destination, secret.purpose) == (
        "sms", "+15550104477", SecretPurpose.PASSWORD_RESET)


def test_reset_link_for_a_plain_username_uses_the_email_on_its_own_chart(session, admin, frozen_clock):
    patient = make_patient(session, email="Jo.Doe@Example.com", enabled=True)
    account = make_account(session, "jodoe2")
    connect(session, account, patient)
    assert portal_users.send_reset_link(session=session, account_id=account.id,
                                        actor=staff_actor(admin)).message.endswith("by email.")
    assert session.exec(select(OutboxMessage.to_address)).one() == "Jo.Doe@Example.com"
    other = make_account(session, "kid3")
    connect(session, other, make_patient(session, first="Kid", email="", enabled=True),
            access=AccessType.REPRESENTATIVE)
    with pytest.raises(InvalidInput, match="neither an email address nor a phone number"):
        portal_users.send_reset_link(session=session, account_id=other.id, actor=staff_actor(admin))


def test_a_second_click_within_a_minute_sends_one_link(session, admin, frozen_clock):
    parent, *_ = family(session)
    portal_users.send_reset_link(session=session, account_id=parent.id, actor=staff_actor(admin))
    again = portal_users.send_reset_link(session=session, account_id=parent.id, actor=staff_actor(admin))
    assert again.message == "A reset link was just sent to pat.brook@example.com by email."
    assert len(session.exec(select(OutboxMessage)).all()) == 1
    frozen_clock(START + timedelta(minutes=2))
    portal_users.send_reset_link(session=session, account_id=parent.id, actor=staff_actor(admin))
    first, second = session.exec(select(OneTimeSecret).order_by(OneTimeSecret.id)).all()
    assert first.revoked_at is not None and second.revoked_at is None  # the older link is void


def test_no_reset_link_for_a_disabled_account_or_without_a_usable_chart(session, admin, frozen_clock):
    parent, kid1, kid2, _, _ = family(session)
    portal_users.disable(session=session, account_id=parent.id, actor=staff_actor(admin))
    with pytest.raises(InvalidInput, match="is disabled"):
        portal_users.send_reset_link(session=session, account_id=parent.id, actor=staff_actor(admin))
    portal_users.enable(session=session, account_id=parent.id, actor=staff_actor(admin))
    for kid in (kid1, kid2):
        kid.portal_enabled = False
        session.add(kid)
    session.commit()
    with pytest.raises(InvalidInput, match="has portal access enabled"):
        portal_users.send_reset_link(session=session, account_id=parent.id, actor=staff_actor(admin))
    assert session.exec(select(OutboxMessage)).all() == []


def test_no_reset_link_while_the_portal_is_off(session, admin, frozen_clock):
    parent, *_ = family(session)
    config = settings.get(session=session)
    config.portal_active = False
    session.add(config)
    session.commit()
    with pytest.raises(PortalUnavailable):
        portal_users.send_reset_link(session=session, account_id=parent.id, actor=staff_actor(admin))


def test_a_failed_send_stays_in_the_outbox_and_says_so(session, admin, frozen_clock):
    parent, *_ = family(session)

    class Broken:
        name = "broken"

        def send(self, message, *, sender):
            raise transports.SendFailed("provider down")

    transports.use("email", Broken())
    result = portal_users.send_reset_link(session=session, account_id=parent.id, actor=staff_actor(admin))
    assert not result.ok and "could not be sent" in result.message
    assert session.exec(select(OutboxMessage.status)).one().value == "failed"


def test_a_deleted_account_is_not_listed_and_no_action_reaches_it(session, admin, frozen_clock):
    # Deleted in Portal Account Setup: the row stays for the audit log, closed for good.
    account = make_account(session, "deleted-7-gone@example.com", status=AccountStatus.DISABLED,
                           password=False, deleted_at=START)
    assert "deleted-7-gone@example.com" not in user_ids(portal_users.list_page(session=session))
    for action in (portal_users.enable, portal_users.disable, portal_users.force_password_change,
                   portal_users.send_reset_link, portal_users.unlock):
        with pytest.raises(NotFound):
            action(session=session, account_id=account.id, actor=staff_actor(admin))
    with pytest.raises(NotFound):
        portal_users.account_row(session=session, account_id=account.id)
    assert fresh(session, account.id).status == AccountStatus.DISABLED
    assert not events(session, "account.enable")


def test_one_or_two_letters_search_user_ids_only(session, frozen_clock):
    """Names need three letters; shorter searches stay one ordered index range on user IDs."""
    _, _, _, own, maria = family(session)
    assert [r.user_id for r in portal_users.list_page(session=session, search="ma").rows] == ["maria@example.com"]
    assert portal_users.list_page(session=session, search="Lo").rows == []  # no user ID starts with "lo"
    assert "maria@example.com" in [r.user_id for r in portal_users.list_page(session=session, search="Lop").rows]
    if not ON_POSTGRES:  # (SQLite's plan)
        assert "SCAN" not in _plan(session, search="s")
