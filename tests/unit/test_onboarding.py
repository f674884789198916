"""The onboarding list (keyset pages, search, filters) and the access switches."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import event
from sqlmodel import col, select

from portal_app.models import (
    AccountStatus,
    AuditEvent,
    ChartAccountState,
    OneTimeSecret,
    OutboxMessage,
    Patient,
    PortalAccount,
    PortalConnection,
)
from portal_app.services import accounts, audit, invitations, onboarding, portal_auth
from portal_app.services.errors import NotFound
from portal_app.services.onboarding import Cursor, StatusFilter
from tests.unit.conftest import make_patient, sqlite_plan

PASSWORD = "quiet lantern orbit 73 meadow"

NAMES = [("Ana", "Smith"), ("Bob", "Smith"), ("Cara", "Smithers"), ("Dan", "Jones"),
         ("Eve", "Adams"), ("Finn", "Zeta"), ("Gus", "Smith"), ("Hal", "Brown"), ("Ivy", "Lopez")]


@pytest.fixture
def people(session):
    """Nine charts with distinct chart numbers, DOBs and emails."""
    rows = []
    for i, (first, last) in enumerate(NAMES):
        rows.append(make_patient(session, first=first, last=last, chart=f"C{i + 1:07d}",
                                 email=f"{first.lower()}.{last.lower()}@example.com",
                                 dob=date(1970 + i, 1 + i, 1 + i)))
    return rows


def _names(page):
    return [row.name for row in page.rows]


def _actor(admin):
    return audit.Actor.staff(admin.id, "10.0.0.1")


def _audit_actions(session):
    return [e.action for e in session.exec(select(AuditEvent).order_by(AuditEvent.id))]


def _redeem_invitation(session, patient, admin):
    onboarding.enable_access(session=session, patient_id=patient.id, actor=_actor(admin))
    invitations.send_invitation_or_reset(session=session, patient_id=patient.id, actor=_actor(admin))
    body = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id).desc())).first().body_text
    token = re.search(r"token=([\w-]+)", body).group(1)
    return invitations.redeem_invitation(session=session, token=token, user_id=patient.email,
                                         password=PASSWORD, confirm=PASSWORD)


def test_sort_key_is_last_then_first_lower_cased():
    assert onboarding.sort_key(" Lopez ", "Maria") == "lopez\x1fmaria"


def test_first_page_is_in_name_order_with_view_rows(session, people):
    page = onboarding.list_page(session=session, limit=50)
    assert _names(page) == ["Adams, Eve", "Brown, Hal", "Jones, Dan", "Lopez, Ivy", "Smith, Ana",
                            "Smith, Bob", "Smith, Gus", "Smithers, Cara", "Zeta, Finn"]
    row = page.rows[0]
    assert (row.chart_number, row.dob, row.email, row.enabled, row.account_label) == (
        "C0000005", "05/05/1974", "eve.adams@example.com", False, "No account")
    assert not page.has_next and not page.has_prev


def test_next_and_previous_pages_by_cursor(session, people):
    first = onboarding.list_page(session=session, limit=4)
    assert _names(first) == ["Adams, Eve", "Brown, Hal", "Jones, Dan", "Lopez, Ivy"]
    assert first.has_next and not first.has_prev
    second = onboarding.list_page(session=session, after=first.last, limit=4)
    assert _names(second) == ["Smith, Ana", "Smith, Bob", "Smith, Gus", "Smithers, Cara"]
    assert second.has_next and second.has_prev
    third = onboarding.list_page(session=session, after=second.last, limit=4)
    assert _names(third) == ["Zeta, Finn"]
    assert not third.has_next and third.has_prev
    back = onboarding.list_page(session=session, before=third.first, limit=4)
    assert _names(back) == _names(second)
    assert back.has_prev and back.has_next
    start = onboarding.list_page(session=session, before=back.first, limit=4)
    assert _names(start) == _names(first)
    assert not start.has_prev and start.has_next


def test_same_name_is_ordered_by_id_across_a_page_boundary(session):
    twins = [make_patient(session, first="Sam", last="Lee", chart=f"T{i}", email=f"s{i}@example.com")
             for i in range(5)]
    ids = []
    page = onboarding.list_page(session=session, limit=2)
    while True:
        ids += [row.id for row in page.rows]
        if not page.has_next:
            break
        page = onboarding.list_page(session=session, after=page.last, limit=2)
    assert ids == [p.id for p in twins]


def test_deep_page_matches_offset_order(session):
    session.add_all([Patient(chart_number=f"D{i:05d}", first_name=f"F{i % 7}", last_name=f"L{i % 13}",
                             dob=date(1990, 1, 1), email="", email_lower="",
                             sort_key=onboarding.sort_key(f"L{i % 13}", f"F{i % 7}"))
                     for i in range(230)])
    session.commit()
    expected = [p.id for p in session.exec(select(Patient).order_by(Patient.sort_key, Patient.id))]
    page = onboarding.list_page(session=session, limit=20)
    for _ in range(10):
        page = onboarding.list_page(session=session, after=page.last, limit=20)
    assert [row.id for row in page.rows] == expected[200:220]
    back = onboarding.list_page(session=session, before=page.first, limit=20)
    assert [row.id for row in back.rows] == expected[180:200]


@pytest.mark.parametrize("search, expected", [
    ("smith", ["Smith, Ana", "Smith, Bob", "Smith, Gus", "Smithers, Cara"]),
    ("SMI", ["Smith, Ana", "Smith, Bob", "Smith, Gus", "Smithers, Cara"]),
    ("smith, b", ["Smith, Bob"]),
    ("Smith,Gus", ["Smith, Gus"]),
    ("bob smith", ["Smith, Bob"]),
    ("  Bob   Smith ", ["Smith, Bob"]),
    ("C0000004", ["Jones, Dan"]),
    ("c0000004", ["Jones, Dan"]),
    ("1973-04-04", ["Jones, Dan"]),
    ("04/04/1973", ["Jones, Dan"]),
    ("4/4/1973", ["Jones, Dan"]),
    ("02/30/1973", []),
    ("dan.jones@", ["Jones, Dan"]),
    ("DAN.JONES@EXAMPLE.COM", ["Jones, Dan"]),
    # The start of an email address, before the "@" (issue 15 #13): the page's hint says so.
    ("ivy.lo", ["Lopez, Ivy"]),
    ("IVY.LOPEZ", ["Lopez, Ivy"]),
    ("dan", ["Jones, Dan"]),  # one plain word that starts no last name: an email prefix
    ("smith", ["Smith, Ana", "Smith, Bob", "Smith, Gus", "Smithers, Cara"]),  # a name still wins
    ("nobody", []),
])
def test_search(session, people, search, expected):
    assert _names(onboarding.list_page(session=session, search=search)) == expected


def test_search_pages_with_cursors(session, people):
    page = onboarding.list_page(session=session, search="smith", limit=2)
    assert _names(page) == ["Smith, Ana", "Smith, Bob"] and page.has_next
    page = onboarding.list_page(session=session, search="smith", after=page.last, limit=2)
    assert _names(page) == ["Smith, Gus", "Smithers, Cara"] and not page.has_next


def test_status_filters(session, people, admin):
    actor = _actor(admin)
    ana, bob, cara, dan = people[:4]
    for p in (ana, bob, cara, dan):
        onboarding.enable_access(session=session, patient_id=p.id, actor=actor)
    invitations.send_invitation_or_reset(session=session, patient_id=bob.id, actor=actor)
    _redeem_invitation(session, cara, admin)
    _redeem_invitation(session, dan, admin)
    account = accounts.self_account(session=session, patient_id=dan.id)
    account.status = AccountStatus.DISABLED
    session.add(account)
    accounts.refresh_account_state(session=session, patient=session.get(Patient, dan.id))
    session.commit()

    def names(status, search=""):
        return _names(onboarding.list_page(session=session, status=status, search=search))

    assert names(StatusFilter.ENABLED) == ["Jones, Dan", "Smith, Ana", "Smith, Bob", "Smithers, Cara"]
    assert names(StatusFilter.NOT_ENABLED) == ["Adams, Eve", "Brown, Hal", "Lopez, Ivy", "Smith, Gus",
                                               "Zeta, Finn"]
    assert names(StatusFilter.INVITED) == ["Smith, Bob"]
    assert names(StatusFilter.ACTIVE) == ["Smithers, Cara"]
    assert names(StatusFilter.DISABLED) == ["Jones, Dan"]
    assert len(names(StatusFilter.NO_ACCOUNT)) == 6
    assert names(StatusFilter.ALL) == names(StatusFilter.ALL, "")
    assert names(StatusFilter.ENABLED, "smith") == ["Smith, Ana", "Smith, Bob", "Smithers, Cara"]
    assert names(StatusFilter.NOT_ENABLED, "smith") == ["Smith, Gus"]


def test_iter_matching_ids_walks_every_match_in_chunks(session, people):
    chunks = list(onboarding.iter_matching_ids(session=session, search="smith",
                                               status=StatusFilter.ALL, chunk=3))
    assert [len(c) for c in chunks] == [3, 1]
    expected = [p.id for p in sorted(people, key=lambda p: (p.sort_key, p.id)) if p.last_name.startswith("Smith")]
    assert [i for c in chunks for i in c] == expected


def test_enable_access_turns_green_and_audits(session, patient, admin):
    row = onboarding.enable_access(session=session, patient_id=patient.id, actor=_actor(admin))
    assert row.enabled is True
    session.expire_all()
    assert session.get(Patient, patient.id).portal_enabled is True
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "portal.enable")).one()
    assert (event.patient_id, event.staff_user_id, event.ip) == (patient.id, admin.id, "10.0.0.1")


def test_enable_already_enabled_changes_nothing_and_writes_no_audit(session, admin):
    p = make_patient(session, enabled=True)
    before = session.get(Patient, p.id).updated_at
    count = len(_audit_actions(session))
    row = onboarding.enable_access(session=session, patient_id=p.id, actor=_actor(admin))
    assert row.enabled
    assert len(_audit_actions(session)) == count
    session.expire_all()
    assert session.get(Patient, p.id).updated_at == before


def test_enable_unknown_patient_is_not_found(session, admin):
    with pytest.raises(NotFound):
        onboarding.enable_access(session=session, patient_id=999, actor=_actor(admin))


def test_disable_ends_sessions_and_voids_links(session, patient, admin):
    portal_session = _redeem_invitation(session, patient, admin)
    assert portal_auth.principal_for(session=session, session_id=portal_session) is not None
    invitations.send_invitation_or_reset(session=session, patient_id=patient.id, actor=_actor(admin))
    assert session.exec(select(OneTimeSecret).where(col(OneTimeSecret.revoked_at).is_(None),
                                                    col(OneTimeSecret.used_at).is_(None))).all()
    row = onboarding.disable_access(session=session, patient_id=patient.id, actor=_actor(admin))
    assert row.enabled is False
    assert portal_auth.principal_for(session=session, session_id=portal_session) is None
    assert session.exec(select(OneTimeSecret).where(col(OneTimeSecret.revoked_at).is_(None),
                                                    col(OneTimeSecret.used_at).is_(None))).all() == []
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "portal.disable")).one()
    assert event.detail == "sessions ended=1; links voided=1"
    with pytest.raises(portal_auth.SignInFailed):
        portal_auth.sign_in(session=session, user_id=patient.email, password=PASSWORD)


def test_disable_already_disabled_writes_no_audit(session, patient, admin):
    onboarding.disable_access(session=session, patient_id=patient.id, actor=_actor(admin))
    assert "portal.disable" not in _audit_actions(session)


def test_account_state_transitions(session, patient, admin):
    def state():
        session.expire_all()
        return session.get(Patient, patient.id).account_state

    assert state() == ChartAccountState.NONE
    onboarding.enable_access(session=session, patient_id=patient.id, actor=_actor(admin))
    assert state() == ChartAccountState.NONE
    invitations.send_invitation_or_reset(session=session, patient_id=patient.id, actor=_actor(admin))
    assert state() == ChartAccountState.INVITED
    body = session.exec(select(OutboxMessage)).one().body_text
    invitations.redeem_invitation(session=session, token=re.search(r"token=([\w-]+)", body).group(1),
                                  user_id=patient.email, password=PASSWORD, confirm=PASSWORD)
    assert state() == ChartAccountState.ACTIVE
    account = accounts.self_account(session=session, patient_id=patient.id)
    account.status = AccountStatus.DISABLED
    session.add(account)
    accounts.refresh_account_state(session=session, patient=session.get(Patient, patient.id))
    session.commit()
    assert state() == ChartAccountState.DISABLED
    account.status = AccountStatus.ACTIVE
    session.add(account)
    accounts.refresh_account_state(session=session, patient=session.get(Patient, patient.id))
    session.commit()
    assert state() == ChartAccountState.ACTIVE


def test_self_account_ignores_revoked_connections(session, patient, admin):
    _redeem_invitation(session, patient, admin)
    account = accounts.self_account(session=session, patient_id=patient.id)
    assert isinstance(account, PortalAccount)
    connection = session.exec(select(PortalConnection)).one()
    connection.revoked_at = connection.connected_at
    session.add(connection)
    session.commit()
    assert accounts.self_account(session=session, patient_id=patient.id) is None
    assert accounts.connected_account_ids(session=session, patient_id=patient.id) == []


def test_selective_search_combined_with_a_status_filter(session, people, admin):
    # Two charts share a DOB; only one is enabled and invited.
    twin = make_patient(session, first="Zed", last="Adams", chart="C0000099", email="zed@example.com",
                        dob=people[3].dob)
    onboarding.enable_access(session=session, patient_id=twin.id, actor=_actor(admin))
    invitations.send_invitation_or_reset(session=session, patient_id=twin.id, actor=_actor(admin))

    def names(search, status):
        return _names(onboarding.list_page(session=session, search=search, status=status))

    dob = people[3].dob.strftime("%m/%d/%Y")
    assert names(dob, StatusFilter.ALL) == ["Adams, Zed", "Jones, Dan"]
    assert names(dob, StatusFilter.ENABLED) == ["Adams, Zed"]
    assert names(dob, StatusFilter.NOT_ENABLED) == ["Jones, Dan"]
    assert names(dob, StatusFilter.INVITED) == ["Adams, Zed"]
    assert names(dob, StatusFilter.NO_ACCOUNT) == ["Jones, Dan"]
    assert names(dob, StatusFilter.ACTIVE) == []
    assert names("zed@", StatusFilter.INVITED) == ["Adams, Zed"]
    assert names("zed@", StatusFilter.NOT_ENABLED) == []
    assert names("C0000099", StatusFilter.ENABLED) == ["Adams, Zed"]
    assert names("C0000099", StatusFilter.NOT_ENABLED) == []


def _plan(session, **kwargs):
    """SQLite's plan for the query list_page runs with these arguments."""
    engine = session.get_bind()
    captured = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if "FROM patient" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        onboarding.list_page(session=session, **kwargs)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = captured[-1]
    return [row[-1] for row in session.connection().exec_driver_sql(
        "EXPLAIN QUERY PLAN " + statement, parameters)]


@sqlite_plan
@pytest.mark.parametrize("kwargs, index", [
    ({}, "ix_patient_sort"),
    ({"after": Cursor("lopez\x1fivy", 9)}, "ix_patient_sort"),
    ({"before": Cursor("lopez\x1fivy", 9)}, "ix_patient_sort"),
    ({"search": "smith, a"}, "ix_patient_sort"),
    ({"search": "04/04/1973"}, "ix_patient_dob_sort"),
    ({"search": "C0000004"}, "ix_patient_chart_number"),
    ({"status": StatusFilter.NOT_ENABLED}, "ix_patient_enabled_sort"),
    ({"status": StatusFilter.NOT_ENABLED, "after": Cursor("lopez\x1fivy", 9)}, "ix_patient_enabled_sort"),
    ({"status": StatusFilter.INVITED}, "ix_patient_state_sort"),
    ({"status": StatusFilter.ENABLED, "search": "smi"}, "ix_patient_enabled_sort"),
    ({"status": StatusFilter.INVITED, "search": "smith"}, "ix_patient_state_sort"),
    ({"status": StatusFilter.NOT_ENABLED, "search": "1973-04-04"}, "ix_patient_dob_sort"),
    ({"status": StatusFilter.INVITED, "search": "04/04/1973"}, "ix_patient_dob_sort"),
    ({"status": StatusFilter.NOT_ENABLED, "search": "C0000004"}, "ix_patient_chart_number"),
])
def test_list_queries_filter_and_order_through_one_index(session, people, kwargs, index):
    # Without ANALYZE statistics SQLite plans the same at 9 rows as at 500,000.
    plan = _plan(session, **kwargs)
    assert len(plan) == 1 and index in plan[0], plan
    assert "TEMP B-TREE" not in " ".join(plan)


@sqlite_plan
@pytest.mark.parametrize("status", [StatusFilter.ALL, StatusFilter.NOT_ENABLED, StatusFilter.INVITED])
def test_email_search_is_driven_by_the_email_index(session, people, status):
    # The prefix always holds the whole local part, so only a handful of rows get sorted.
    plan = _plan(session, search="dan.jones@", status=status)
    assert "ix_patient_email_sort" in plan[0], plan


@pytest.mark.parametrize("search", ["x" * (1024 * 1024), "smith\x00", "\x00", "%", "_", "'; drop table patient; --"])
def test_odd_search_text_answers_with_a_page(session, people, search):
    page = onboarding.list_page(session=session, search=search)
    assert page.rows == [] or _names(page) == ["Smith, Ana", "Smith, Bob", "Smith, Gus", "Smithers, Cara"]
    assert len(onboarding.list_page(session=session).rows) == len(NAMES)


@sqlite_plan
@pytest.mark.parametrize("search", ["dan.jo", "dan"])
@pytest.mark.parametrize("status", [StatusFilter.ALL, StatusFilter.NOT_ENABLED])
def test_email_start_without_at_is_driven_by_the_email_index(session, people, search, status):
    plan = _plan(session, search=search, status=status)
    assert "ix_patient_email_sort" in plan[0], plan
    assert onboarding.count_matching(session=session, search=search, status=status) == 1


# ---- the count and the jumps (issue 15 #21) ------------------------------------------------


@pytest.fixture
def many(session):
    """130 charts: 26 last names A..Z, five each, so every letter has a known place."""
    rows = []
    for letter_index in range(26):
        last = chr(ord("A") + letter_index) + "ville"
        for n in range(5):
            rows.append(make_patient(session, first=f"P{n}", last=last, chart=f"M{letter_index:02d}{n}",
                                     email=f"p{n}.{last.lower()}@example.com"))
    return rows


def _ordered_ids(session):
    return [row.id for row in onboarding.list_page(session=session, limit=1000).rows]


def test_count_matching_follows_search_and_status(session, many, admin):
    assert onboarding.count_matching(session=session, search="", status=StatusFilter.ALL) == 130
    assert onboarding.count_matching(session=session, search="cville", status=StatusFilter.ALL) == 5
    assert onboarding.count_matching(session=session, search="M010", status=StatusFilter.ALL) == 1  # chart
    # Shaped like a chart number but nobody's: the start of an email address ("p0.aville@...").
    assert onboarding.count_matching(session=session, search="p0", status=StatusFilter.ALL) == 26
    onboarding.enable_access(session=session, patient_id=many[0].id, actor=_actor(admin))
    assert onboarding.count_matching(session=session, search="", status=StatusFilter.ENABLED) == 1


@pytest.mark.parametrize("row", [1, 20, 49, 50, 129])
def test_cursor_before_row_opens_the_page_at_that_row(session, many, row):
    ids = _ordered_ids(session)
    cursor = onboarding.cursor_before_row(session=session, search="", status=StatusFilter.ALL, row=row)
    page = onboarding.list_page(session=session, after=cursor, limit=10)
    assert [r.id for r in page.rows] == ids[row:row + 10]
    assert page.has_prev


def test_cursor_before_row_zero_or_past_the_end_is_none(session, many):
    assert onboarding.cursor_before_row(session=session, search="", status=StatusFilter.ALL, row=0) is None
    assert onboarding.cursor_before_row(session=session, search="", status=StatusFilter.ALL, row=131) is None


@pytest.mark.parametrize("letter, before", [("A", 0), ("c", 10), ("M", 60), ("Z", 125)])
def test_letter_cursor_seeks_the_first_last_name_from_that_letter(session, many, letter, before):
    cursor = onboarding.letter_cursor(letter)
    page = onboarding.list_page(session=session, after=cursor, limit=3)
    assert page.rows[0].name == f"{letter.upper()}ville, P0"
    for cap in (None, 200):  # all of them, or up to a cap they stay under
        assert onboarding.count_before(session=session, search="", status=StatusFilter.ALL, cursor=cursor,
                                       cap=cap) == before


def _count_statements(session, work):
    """The SELECT count statements `work()` runs, with their parameters."""
    captured = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if "count(" in statement.lower():
            captured.append((statement, parameters))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        result = work()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return result, captured


def test_a_capped_count_stops_one_past_the_cap(session, many):
    def count(cap, search="", status=StatusFilter.ALL):
        return onboarding.count_matching(session=session, search=search, status=status, cap=cap)

    assert [count(cap) for cap in (None, 500, 130, 129, 60)] == [130, 130, 130, 130, 61]
    assert count(20, search="p0") == 21 and count(26, search="p0") == 26  # "p0.aville@..": 26 match
    assert count(4, search="cville") == 5 and count(5, search="cville") == 5
    assert count(0, search="nobody-here") == 0
    # Bounded work: the capped count reads at most cap + 1 rows (a LIMIT), the exact one all of them.
    value, statements = _count_statements(session, lambda: count(60))
    assert value == 61 and len(statements) == 1 and "LIMIT" in statements[0][0].upper()
    assert 61 in _parameter_values(statements[0][1])
    _value, statements = _count_statements(session, lambda: count(None))
    assert "LIMIT" not in statements[0][0].upper()


def _parameter_values(parameters) -> list:
    return list(parameters.values()) if isinstance(parameters, dict) else list(parameters)


def test_a_capped_count_before_a_letter_stops_one_past_the_cap(session, many):
    def before(letter, cap):
        return onboarding.count_before(session=session, search="", status=StatusFilter.ALL,
                                       cursor=onboarding.letter_cursor(letter), cap=cap)

    assert [before("Z", cap) for cap in (None, 125, 124, 100)] == [125, 125, 125, 101]
    assert before("M", 100) == 60 and before("M", 59) == 60 and before("A", 0) == 0
    value, statements = _count_statements(session, lambda: before("W", 50))
    assert value == 51 and "LIMIT" in statements[0][0].upper()


def test_first_page_and_page_from_a_letter_come_with_their_capped_count(session, many):
    ids = _ordered_ids(session)
    found = onboarding.first_page(session=session, search="", status=StatusFilter.ALL, cap=60)
    assert [r.id for r in found.page.rows] == ids[:50] and found.count == 61
    assert found.page.has_next and not found.page.has_prev
    found = onboarding.first_page(session=session, search="bville", status=StatusFilter.ALL, cap=60)
    assert [r.name for r in found.page.rows] == [f"Bville, P{n}" for n in range(5)] and found.count == 5

    at_m = onboarding.page_from(session=session, search="", status=StatusFilter.ALL,
                                cursor=onboarding.letter_cursor("M"), cap=100)
    assert [r.id for r in at_m.page.rows] == ids[60:110] and at_m.count == 60 and at_m.page.has_prev
    at_w = onboarding.page_from(session=session, search="", status=StatusFilter.ALL,
                                cursor=onboarding.letter_cursor("W"), cap=100)
    assert [r.id for r in at_w.page.rows] == ids[110:] and at_w.count == 101  # more than 100 before W


def test_the_page_before_the_end_is_the_last_page(session, many):
    ids = _ordered_ids(session)
    page = onboarding.list_page(session=session, before=onboarding.END, limit=50)
    assert [r.id for r in page.rows] == ids[80:]
    assert page.has_prev and not page.has_next
    filtered = onboarding.list_page(session=session, search="zville", before=onboarding.END)
    assert [r.name for r in filtered.rows] == [f"Zville, P{n}" for n in range(5)] and not filtered.has_prev


@pytest.mark.parametrize("value, cap", [("", 2_000), ("120", 100), ("10", 50), ("5000", 5_000),
                                        ("lots", 2_000), ("-5", 2_000), ("\u0661\u0662\u0660", 2_000)])
def test_the_count_cap_is_whole_pages_from_the_environment(monkeypatch, value, cap):
    monkeypatch.setenv("PORTAL_LIST_COUNT_CAP", value)
    assert onboarding._count_cap() == cap


@sqlite_plan
def test_letter_jump_plan_uses_the_name_index(session, many):
    plan = _plan(session, after=onboarding.letter_cursor("m"))
    assert len(plan) == 1 and "ix_patient_sort" in plan[0], plan
    assert "TEMP B-TREE" not in " ".join(plan)
