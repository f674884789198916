"""The adoption board's numbers from constructed ChartAdoption rows (the read model), frozen clock."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from portal_app import db
from portal_app.models import AuditEvent, ChartAdoption
from portal_app.services import audit, clock, settings, staff_auth
from portal_app.services.adoption import board, reasons
from portal_app.services.adoption.board import StuckCursor, StuckFilter
from portal_app.services.adoption.labels import Channel, Reason
from portal_app.services.csv_export import safe_cell
from portal_app.services.errors import InvalidInput
from tests.unit.conftest import make_patient
from tests.unit.test_letters import page_text

# A Friday noon in Chicago (CST, UTC-6); the week began Monday Nov 30 at 06:00 UTC.
NOW = datetime(2026, 12, 4, 18, 0, tzinfo=timezone.utc)


@pytest.fixture
def now():
    clock.freeze(NOW)
    yield NOW
    clock.freeze(None)


@pytest.fixture
def chicago(session):
    row = settings.get(session=session)
    row.time_zone = "America/Chicago"
    row.practice_name = "Riverside Family Practice"
    session.add(row)
    session.commit()


_charts = iter(range(1, 10_000))


def chart(session: Session, *, added: datetime = NOW - timedelta(days=400), stage: int = 1,
          first: str = "Maria", last: str | None = None, patient: dict | None = None, **columns) -> ChartAdoption:
    """A chart and its adoption row, inserted directly (the read model is what the board reads)."""
    n = next(_charts)
    person = make_patient(session, first=first, last=last or f"Last{n:04d}", chart=f"A{n:05d}",
                          email=f"p{n}@example.com", **(patient or {}))
    # The commit listener has made the chart's row already: replace it with the one under test.
    row = session.merge(ChartAdoption(patient_id=person.id, added_at=added, stage=stage, enabled=stage >= 2,
                                      **columns))
    session.commit()
    return row


def stuck(session: Session, reason: Reason, *, since: datetime, **extra) -> ChartAdoption:
    """A chart stuck for `reason` since `since` (its newest attempt or its account then)."""
    attempt = dict(stage=3, attempt_at=since, attempt_expires_at=NOW + timedelta(days=2),
                   attempt_channel=Channel.INVITATION_EMAIL.value, since_at=since)
    account = dict(stage=5, account_at=since, since_at=since, channel=Channel.INVITATION_EMAIL.value)
    shapes = {
        Reason.LOCKED_OUT: {**account, "locked_until": NOW + timedelta(minutes=20)},
        Reason.TEMP_PASSWORD_EXPIRED: {**account, "temp_password_expires_at": NOW - timedelta(hours=1)},
        Reason.NEVER_SIGNED_IN: account,
        Reason.EMAIL_FAILED: {**attempt, "delivery_failed": "email"},
        Reason.TEXT_FAILED: {**attempt, "delivery_failed": "sms", "attempt_channel": Channel.KEY_TEXT.value},
        Reason.DETAILS_MISMATCH: {**attempt, "attempt_tries": 5, "attempt_channel": Channel.KEY_EMAIL.value},
        Reason.LETTER_UNREDEEMED: {**attempt, "attempt_channel": Channel.KEY_LETTER.value},
        Reason.LINK_EXPIRED: {**attempt, "attempt_expires_at": NOW - timedelta(minutes=1)},
        Reason.OPENED_NO_ACCOUNT: {**attempt, "stage": 4, "attempt_opened_at": since + timedelta(hours=1)},
    }
    row = chart(session, **{**shapes[reason], **extra})
    assert reasons.reason_of(row, NOW) == reason  # the construction is what the rule calls it
    return row


# ---- funnel ------------------------------------------------------------------------------------

def _steps(result: board.Funnel) -> list[tuple[int, str, str]]:
    return [(s.count, s.percent_of_charts, s.percent_of_previous) for s in result.steps]


def test_funnel_counts_each_stage_reached_and_the_active_ones(session, now, chicago):
    for stage in (1, 2, 3, 3, 4, 5, 5):
        chart(session, stage=stage)
    chart(session, stage=6, last_sign_in_at=NOW - timedelta(days=10))
    chart(session, stage=6, last_sign_in_at=NOW - timedelta(days=90))  # exactly 90 days: still active
    chart(session, stage=6, last_sign_in_at=NOW - timedelta(days=90, seconds=1))
    result = board.funnel(session=session, period="all")
    assert [s.label for s in result.steps] == [
        "Charts", "Access enabled", "Invited or key/token sent", "Link opened", "Account created",
        "Signed in at least once", "Active in the last 90 days"]
    assert [s.stage for s in result.steps] == [1, 2, 3, 4, 5, 6, 7]
    assert _steps(result) == [
        (10, "100.0%", ""), (9, "90.0%", "90.0%"), (8, "80.0%", "88.9%"), (6, "60.0%", "75.0%"),
        (5, "50.0%", "83.3%"), (3, "30.0%", "60.0%"), (2, "20.0%", "66.7%")]
    assert (result.period, result.period_label) == ("all", "All time")
    assert result.as_of == "12/04/2026 12:00PM (CST)"


def test_funnel_period_follows_charts_added_in_it(session, now):
    chart(session, stage=6, added=NOW - timedelta(days=7), last_sign_in_at=NOW - timedelta(days=1))
    chart(session, stage=3, added=NOW - timedelta(days=2))
    chart(session, stage=5, added=NOW - timedelta(days=7, seconds=1))  # just outside 7 days
    chart(session, stage=2, added=NOW - timedelta(days=29))
    chart(session, stage=6, added=NOW - timedelta(days=300), last_sign_in_at=NOW - timedelta(days=3))
    assert _steps(board.funnel(session=session, period="7")) == [
        (2, "100.0%", ""), (2, "100.0%", "100.0%"), (2, "100.0%", "100.0%"), (1, "50.0%", "50.0%"),
        (1, "50.0%", "100.0%"), (1, "50.0%", "100.0%"), (1, "50.0%", "100.0%")]
    assert [s.count for s in board.funnel(session=session, period="30").steps] == [4, 4, 3, 2, 2, 1, 1]
    assert [s.count for s in board.funnel(session=session, period="365").steps] == [5, 5, 4, 3, 3, 2, 2]
    assert board.funnel(session=session, period="90").period_label == "Added in the last 90 days"


def test_funnel_of_an_empty_period_is_zero_percent_not_an_error(session, now):
    chart(session, stage=6, added=NOW - timedelta(days=100))
    result = board.funnel(session=session, period="7")
    assert _steps(result) == [(0, "0.0%", "")] + [(0, "0.0%", "0.0%")] * 6
    assert result.as_of == "12/04/2026 6:00PM (UTC)"


def test_funnel_refuses_an_unknown_period(session, now):
    with pytest.raises(InvalidInput):
        board.funnel(session=session, period="14")


# ---- trends ------------------------------------------------------------------------------------

def test_trends_weeks_begin_monday_midnight_in_the_practice_zone(session, now, chicago):
    monday = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)  # 00:00 CST
    first_monday = datetime(2026, 6, 8, 5, 0, tzinfo=timezone.utc)  # 00:00 CDT, 25 weeks earlier
    chart(session, stage=5, account_at=monday)
    chart(session, stage=5, account_at=monday - timedelta(seconds=1))  # Sunday 23:59:59 CST
    chart(session, stage=5, account_at=monday - timedelta(seconds=2))
    chart(session, stage=5, account_at=first_monday)
    chart(session, stage=5, account_at=first_monday - timedelta(seconds=1))  # before the window
    chart(session, stage=6, account_at=first_monday - timedelta(days=3), first_sign_in_at=NOW - timedelta(hours=1))
    result = board.trends(session=session, breakdown="total")
    assert [(s.key, s.label) for s in result.series] == [("s0", "All patients")]
    assert len(result.new_accounts) == len(result.first_sign_ins) == board.TREND_WEEKS
    assert result.new_accounts[0] == {"week": "Jun 8", "s0": 1}
    assert result.new_accounts[-2] == {"week": "Nov 23", "s0": 2}
    assert result.new_accounts[-1] == {"week": "Nov 30", "s0": 1}
    assert sum(int(w["s0"]) for w in result.new_accounts) == 4
    assert [w["s0"] for w in result.first_sign_ins] == [0] * 25 + [1]
    assert result.new_accounts[21]["week"] == "Nov 2"  # the first Monday after DST ended


def test_trends_by_channel_one_series_per_channel_present_in_declaration_order(session, now):
    at = NOW - timedelta(days=1)
    chart(session, stage=5, account_at=at, channel=Channel.KEY_TEXT.value)
    chart(session, stage=6, account_at=at, first_sign_in_at=at, channel=Channel.INVITATION_EMAIL.value)
    chart(session, stage=5, account_at=at, channel=Channel.KEY_TEXT.value)
    chart(session, stage=5, account_at=NOW - timedelta(days=400), channel=Channel.TOKEN.value)  # outside
    result = board.trends(session=session, breakdown="channel")
    assert [(s.key, s.label) for s in result.series] == [("s0", "Email invitation"),
                                                          ("s1", "Connection key by text")]
    assert result.new_accounts[-1] == {"week": "Nov 30", "s0": 1, "s1": 2}
    assert result.first_sign_ins[-1] == {"week": "Nov 30", "s0": 1, "s1": 0}
    assert result.new_accounts[0] == {"week": "Jun 8", "s0": 0, "s1": 0}


def test_trends_by_staff_member_who_started_it(session, now, admin):
    zed = staff_auth.create_staff(session=session, username="zed", full_name="Zed Young",
                                  password="correct horse battery staple 43")
    at = NOW - timedelta(days=8)
    chart(session, stage=5, account_at=at, started_by_staff_id=zed.id, channel=Channel.KEY_EMAIL.value)
    chart(session, stage=5, account_at=at, started_by_staff_id=admin.id, channel=Channel.KEY_TEXT.value)
    chart(session, stage=5, account_at=at, started_by_staff_id=admin.id, channel=Channel.KEY_EMAIL.value)
    chart(session, stage=5, account_at=at, channel=Channel.SELF_SETUP.value)
    chart(session, stage=5, account_at=at, channel=Channel.INVITATION_EMAIL.value)
    result = board.trends(session=session, breakdown="staff")
    assert [(s.key, s.label) for s in result.series] == [
        ("s0", "Ada Admin"), ("s1", "Zed Young"), ("s2", "Patient (self set-up)"), ("s3", "Not recorded")]
    assert result.new_accounts[-2] == {"week": "Nov 23", "s0": 2, "s1": 1, "s2": 1, "s3": 1}
    assert result.new_accounts[-1] == {"week": "Nov 30", "s0": 0, "s1": 0, "s2": 0, "s3": 0}


# ---- why stuck ---------------------------------------------------------------------------------

@pytest.fixture
def every_reason(session, now, chicago) -> dict[Reason, ChartAdoption]:
    """One chart stuck for each reason, each a day older than the one before; and charts that
    are not stuck (signed in, access off, a live invitation not yet opened)."""
    rows = {reason: stuck(session, reason, since=NOW - timedelta(days=3 + i * 10))
            for i, reason in enumerate(Reason)}
    chart(session, stage=6, account_at=NOW - timedelta(days=5), first_sign_in_at=NOW - timedelta(days=4),
          since_at=NOW - timedelta(days=5))
    off = chart(session, stage=1, attempt_at=NOW - timedelta(days=9), delivery_failed="email",
                since_at=NOW - timedelta(days=9))
    assert reasons.reason_of(off, NOW) is None
    chart(session, stage=3, attempt_at=NOW - timedelta(days=1), attempt_expires_at=NOW + timedelta(days=1),
          attempt_channel=Channel.KEY_EMAIL.value, since_at=NOW - timedelta(days=1))
    return rows


def _ids(page: board.StuckPage) -> list[int]:
    return [row.id for row in page.rows]


@pytest.mark.parametrize("reason", list(Reason))
def test_stuck_page_filtered_by_each_reason(session, every_reason, reason):
    page = board.stuck_page(session=session, filters=StuckFilter(reason=reason.value))
    assert _ids(page) == [every_reason[reason].patient_id]
    assert (page.rows[0].reason, page.rows[0].reason_label) == (reason.value, reason.label)


def test_stuck_page_lists_only_stuck_charts_newest_step_first(session, every_reason):
    page = board.stuck_page(session=session, filters=StuckFilter())
    assert _ids(page) == [every_reason[r].patient_id for r in Reason]
    assert not page.has_next and not page.has_prev
    assert board.reason_counts(session=session) == {r.value: 1 for r in Reason}


def test_stuck_row_shows_what_staff_need(session, now, chicago):
    since = datetime(2026, 11, 20, 15, 30, tzinfo=timezone.utc)
    stuck(session, Reason.EMAIL_FAILED, since=since, first="Ivy", last="Nguyen",
          patient={"dob": date(1975, 3, 9), "mobile_phone": "5550100199", "allow_sms": True,
                   "address_line1": "12 Elm Street", "city": "Springfield", "region": "IL", "postal_code": "62701"})
    stuck(session, Reason.NEVER_SIGNED_IN, since=since - timedelta(days=1), attempt_channel="")
    first, second = board.stuck_page(session=session, filters=StuckFilter()).rows
    assert (first.name, first.dob, first.reason_label, first.channel_label) == (
        "Nguyen, Ivy", "03/09/1975", "Email failed", "Email invitation")
    assert first.chart_number.startswith("A") and first.explanation == "The last email could not be delivered."
    assert (first.since, first.days) == ("11/20/2026 9:30AM (CST)", 14)
    # The failed email's other channel first (a mobile number and text consent), then the same
    # channel, then the rest that consent and contact data allow (a full address: a letter).
    assert first.steps == ["key_text", "resend_invitation", "key_email", "key_letter"]
    assert first.step_labels[0] == "Send a connection key by text"
    assert (second.channel_label, second.steps, second.days) == ("", ["setup_link"], 15)


def test_stuck_page_without_a_postal_address_offers_no_letter(session, now):
    stuck(session, Reason.LINK_EXPIRED, since=NOW - timedelta(days=2), patient={"address_line1": "12 Elm Street"})
    (row,) = board.stuck_page(session=session, filters=StuckFilter()).rows
    assert row.steps == ["resend_invitation", "key_email"]


def test_stuck_for_keeps_charts_stuck_at_least_that_long(session, now):
    exactly = stuck(session, Reason.LINK_EXPIRED, since=NOW - timedelta(days=7))
    stuck(session, Reason.LINK_EXPIRED, since=NOW - timedelta(days=7) + timedelta(seconds=1))
    older = stuck(session, Reason.NEVER_SIGNED_IN, since=NOW - timedelta(days=31))
    assert _ids(board.stuck_page(session=session, filters=StuckFilter(stuck_for="7"))) == [
        exactly.patient_id, older.patient_id]
    assert _ids(board.stuck_page(session=session, filters=StuckFilter(stuck_for="30"))) == [older.patient_id]
    assert _ids(board.stuck_page(session=session, filters=StuckFilter(stuck_for="90"))) == []
    assert len(board.stuck_page(session=session, filters=StuckFilter(stuck_for="0")).rows) == 3


def test_stuck_filtered_by_channel_of_the_newest_attempt(session, now):
    text = stuck(session, Reason.TEXT_FAILED, since=NOW - timedelta(days=2))
    stuck(session, Reason.EMAIL_FAILED, since=NOW - timedelta(days=3))
    letter = stuck(session, Reason.LETTER_UNREDEEMED, since=NOW - timedelta(days=30))
    assert _ids(board.stuck_page(session=session, filters=StuckFilter(channel="key_text"))) == [text.patient_id]
    assert _ids(board.stuck_page(session=session, filters=StuckFilter(channel="key_letter"))) == [letter.patient_id]
    assert _ids(board.stuck_page(session=session, filters=StuckFilter(
        channel="key_letter", reason=Reason.TEXT_FAILED.value))) == []


@pytest.mark.parametrize("filters", [StuckFilter(reason="bounced"), StuckFilter(stuck_for="5"),
                                     StuckFilter(channel="fax")])
def test_stuck_page_refuses_unknown_filter_values(session, now, filters):
    with pytest.raises(InvalidInput):
        board.stuck_page(session=session, filters=filters)


@pytest.fixture
def eight_stuck(session, now) -> list[int]:
    """Eight stuck charts, three sharing one since_at (the id breaks the tie); newest first."""
    rows = [stuck(session, Reason.LINK_EXPIRED, since=NOW - timedelta(days=d)) for d in (2, 5, 5, 5, 9, 11, 12, 20)]
    chart(session, stage=6, account_at=NOW - timedelta(days=5), first_sign_in_at=NOW - timedelta(days=5),
          since_at=NOW - timedelta(days=5))  # not stuck, between them
    return [r.patient_id for r in sorted(rows, key=lambda r: (r.since_at, r.patient_id), reverse=True)]


def test_keyset_forward_and_back_across_three_pages(session, eight_stuck):
    filters = StuckFilter()
    one = board.stuck_page(session=session, filters=filters, page_size=3)
    assert (one.has_prev, one.has_next) == (False, True)
    two = board.stuck_page(session=session, filters=filters, cursor=one.last, page_size=3)
    assert (two.has_prev, two.has_next) == (True, True)
    three = board.stuck_page(session=session, filters=filters, cursor=two.last, page_size=3)
    assert (three.has_prev, three.has_next) == (True, False)
    assert _ids(one) + _ids(two) + _ids(three) == eight_stuck
    back = board.stuck_page(session=session, filters=filters, direction="before", cursor=three.first, page_size=3)
    assert _ids(back) == _ids(two) and (back.has_prev, back.has_next) == (True, True)
    start = board.stuck_page(session=session, filters=filters, direction="before", cursor=back.first, page_size=3)
    assert _ids(start) == _ids(one) and (start.has_prev, start.has_next) == (False, True)


def test_keyset_places_a_chart_without_since_last(session, now):
    dated = stuck(session, Reason.LINK_EXPIRED, since=NOW - timedelta(days=2))
    undated = [stuck(session, Reason.LINK_EXPIRED, since=NOW - timedelta(days=3), since_at=None) for _ in range(2)]
    filters = StuckFilter()
    ids = []
    page = board.stuck_page(session=session, filters=filters, page_size=1)
    while True:
        ids += _ids(page)
        if not page.has_next:
            break
        page = board.stuck_page(session=session, filters=filters, cursor=page.last, page_size=1)
    assert ids == [dated.patient_id, undated[1].patient_id, undated[0].patient_id]
    back = board.stuck_page(session=session, filters=filters, direction="before", cursor=page.first, page_size=1)
    assert _ids(back) == [undated[1].patient_id]
    back = board.stuck_page(session=session, filters=filters, direction="before", cursor=back.first, page_size=1)
    assert _ids(back) == [dated.patient_id] and not back.has_prev
    assert page.rows[0].days == 0 and page.rows[0].since == ""


def test_a_page_loads_only_its_own_patients_in_two_queries(session, eight_stuck, db_url):
    statements: list[str] = []

    def capture(_conn, _cursor, statement, _parameters, _context, _many):
        if "patient" in statement and statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = db.engine(db_url)
    event.listen(engine, "before_cursor_execute", capture)
    try:
        empty = board.stuck_page(session=session, filters=StuckFilter(), cursor=StuckCursor(None, 0), page_size=3)
        assert empty.rows == [] and len(statements) == 1  # an empty page loads no contacts
        statements.clear()
        page = board.stuck_page(session=session, filters=StuckFilter(), page_size=3)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert len(page.rows) == 3 and len(statements) == 2
    assert "LIMIT" in statements[0]
    # the page's three, no more (SQLite's "?" or psycopg's "%(id_1_1)s::INTEGER")
    ids = re.search(r"WHERE patient\.id IN \((.*)\)$", statements[1])
    assert ids is not None and len(ids.group(1).split(", ")) == 3, statements[1]


# ---- audit and exports -------------------------------------------------------------------------

def _events(session: Session, action: str) -> list[AuditEvent]:
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_audit_view_records_who_looked(session, now, admin):
    board.audit_view(session=session, actor=audit.Actor.staff(admin.id, "10.0.0.9"), detail="funnel=all")
    (event_,) = _events(session, "adoption.view")
    assert (event_.staff_user_id, event_.ip, event_.detail) == (admin.id, "10.0.0.9", "funnel=all")


def test_safe_cell_neutralises_formulas():
    assert [safe_cell(v) for v in ("=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "Lopez", 7, None)] == [
        "'=1+1", "'+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "Lopez", "7", ""]


def test_stuck_csv_holds_every_row_of_the_list_formula_safe_and_is_audited(session, now, chicago, admin,
                                                                          monkeypatch):
    monkeypatch.setattr(board, "STUCK_CSV_BATCH", 2)  # several keyset batches
    evil = stuck(session, Reason.EMAIL_FAILED, since=NOW - timedelta(days=4), first="Bob",
                 last='=HYPERLINK("http://evil.example","x")')
    for days in (1, 2, 3, 6, 8):
        stuck(session, Reason.NEVER_SIGNED_IN, since=NOW - timedelta(days=days))
    stuck(session, Reason.LINK_EXPIRED, since=NOW - timedelta(days=5))
    filters = StuckFilter(stuck_for="0")
    listed = []
    page = board.stuck_page(session=session, filters=filters, page_size=3)
    while True:
        listed += page.rows
        if not page.has_next:
            break
        page = board.stuck_page(session=session, filters=filters, cursor=page.last, page_size=3)

    name, data = board.stuck_csv(session=session, filters=filters, actor=audit.Actor.staff(admin.id))
    assert name == "portal-adoption-stuck-2026-12-04.csv"
    header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert header[:4] == ["Patient", "Chart number", "Date of birth", "Reason"]
    assert len(rows) == len(listed) == 7
    assert [r[1] for r in rows] == [row.chart_number for row in listed]
    bad = next(r for r in rows if r[1] == board.stuck_page(
        session=session, filters=StuckFilter(reason="email_failed")).rows[0].chart_number)
    assert bad[0] == '\'=HYPERLINK("http://evil.example","x"), Bob' and evil.patient_id
    (event_,) = _events(session, "adoption.export")
    assert event_.staff_user_id == admin.id and "stuck csv; rows=7" in event_.detail


def test_stuck_csv_follows_the_filters(session, now, admin):
    stuck(session, Reason.EMAIL_FAILED, since=NOW - timedelta(days=4))
    stuck(session, Reason.NEVER_SIGNED_IN, since=NOW - timedelta(days=4))
    _name, data = board.stuck_csv(session=session, filters=StuckFilter(reason="email_failed"),
                                  actor=audit.Actor.staff(admin.id))
    assert len(list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))) == 2
    assert "rows=1; reason=email_failed" in _events(session, "adoption.export")[0].detail


def test_funnel_csv_has_each_step_and_is_audited(session, now, chicago, admin):
    for stage in (1, 3, 6):
        chart(session, stage=stage, last_sign_in_at=NOW if stage == 6 else None)
    name, data = board.funnel_csv(session=session, period="all", actor=audit.Actor.staff(admin.id))
    assert name == "portal-adoption-funnel-2026-12-04.csv"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["Step", "Charts", "Percent of charts", "Percent of previous step"]
    assert rows[1] == ["Charts", "3", "100.0%", ""]
    assert rows[3] == ["Invited or key/token sent", "2", "66.7%", "100.0%"]
    assert rows[7] == ["Active in the last 90 days", "1", "33.3%", "100.0%"]
    assert rows[8] == ["Period", "All time", "As of", "12/04/2026 12:00PM (CST)"]
    assert _events(session, "adoption.export")[0].detail == "funnel csv; period=all"


def test_funnel_pdf_is_one_page_with_every_step_and_is_audited(session, now, chicago, admin):
    for stage in (1, 2, 5):
        chart(session, stage=stage)
    name, pdf = board.funnel_pdf(session=session, period="30", actor=audit.Actor.staff(admin.id))
    assert name == "portal-adoption-funnel-2026-12-04.pdf"
    assert pdf.startswith(b"%PDF") and b"/Count 1" in pdf
    text = page_text(pdf)
    for needle in (b"Riverside Family Practice", b"Added in the last 30 days", b"12/04/2026 12:00PM (CST)",
                   b"Charts", b"Access enabled", b"Invited or key/token sent", b"Link opened",
                   b"Account created", b"Signed in at least once", b"Active in the last 90 days"):
        assert needle in text, needle
    assert _events(session, "adoption.export")[0].detail == "funnel pdf; period=30"


def test_funnel_pdf_reports_the_counts(session, now, admin):
    for stage in (1, 2, 5):
        chart(session, stage=stage, added=NOW - timedelta(days=1))
    _name, pdf = board.funnel_pdf(session=session, period="7", actor=audit.Actor.staff(admin.id))
    text = page_text(pdf)
    assert b"3 (100.0%)" in text and b"2 (66.7%)" in text and b"1 (33.3%)" in text

