"""AdoptionState handlers, called directly (no browser, no server).

The board and next-step services are replaced by a small fake that keeps what it was asked
(the state's job is to guard, pass the right arguments and show the answers); the guards, the
sessions and the refusal audit are the real ones, against the per-test database.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import pytest
from sqlmodel import select

from portal_app import routes
from portal_app.models import AuditEvent, OutboxMessage
from portal_app.notify import transports
from portal_app.services import audit, invitations
from portal_app.services.adoption import board, next_steps
from portal_app.services.adoption.board import Funnel, FunnelStep, StuckCursor, StuckFilter, StuckPage, StuckRow
from portal_app.services.adoption.next_steps import BulkResult, StepResult
from portal_app.services.permissions import Level, Permission
from portal_app.state.adoption import NO_STEPS, NO_VIEW, NOT_A_STEP, AdoptionState
from tests.unit.conftest import make_patient
from tests.unit.state_support import everything_in_state, set_cookies, sign_in_admin, staff_with, state_for

TOTAL = 60


def _row(number: int) -> StuckRow:
    return StuckRow(id=number, chart_number=f"C{number:05d}", name=f"Patient{number:03d}, Ann", dob="01/02/1980",
                    reason="email_failed", reason_label="Email failed",
                    explanation="The last email could not be delivered.", channel_label="Email invitation",
                    since="11/20/2026", days=3, steps=["key_text", "key_letter"],
                    step_labels=["Send a connection key by text", "Print a connection key letter"])


@dataclass
class FakeServices:
    """Stands in for board and next_steps: answers from a list of 60 stuck rows, records calls."""

    filters: list[StuckFilter] = field(default_factory=list)
    periods: list[str] = field(default_factory=list)
    views: list[tuple[str, str]] = field(default_factory=list)
    runs: list[tuple[int, str, str]] = field(default_factory=list)
    bulk: list[tuple[list[int], str]] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)

    def funnel(self, *, session, period):
        self.periods.append(period)
        return Funnel(period=period, period_label="All time", as_of="11/23/2026 10:00 AM",
                      steps=[FunnelStep(1, "Charts", 10, "100.0%", ""),
                             FunnelStep(5, "Account created", 4, "40.0%", "80.0%")])

    def trends(self, *, session, breakdown):
        return board.Trends(breakdown=breakdown, series=[board.TrendSeries("total", "All patients")],
                            new_accounts=[{"week": "Nov 16", "total": 2}],
                            first_sign_ins=[{"week": "Nov 16", "total": 1}])

    def reason_counts(self, *, session):
        return {"email_failed": 3, "never_signed_in": 2}

    def stuck_page(self, *, session, filters, direction="after", cursor=None, page_size=board.STUCK_PAGE_SIZE):
        self.filters.append(filters)
        ids = list(range(1, TOTAL + 1))
        if cursor is None:
            window = ids[:page_size]
        elif direction == "after":
            window = [i for i in ids if i > cursor.patient_id][:page_size]
        else:
            window = [i for i in ids if i < cursor.patient_id][-page_size:]
        return StuckPage(rows=[_row(i) for i in window],
                         first=StuckCursor(None, window[0]) if window else None,
                         last=StuckCursor(None, window[-1]) if window else None,
                         has_next=bool(window) and window[-1] < TOTAL,
                         has_prev=bool(window) and window[0] > 1)

    def audit_view(self, *, session, actor, detail):
        self.views.append((actor.label if hasattr(actor, "label") else str(actor), detail))

    def funnel_csv(self, *, session, period, actor):
        self.exports.append(f"funnel.csv:{period}")
        return "funnel.csv", b"Stage,Patients\r\n"

    def run(self, *, session, patient_id, step, actor):
        self.runs.append((patient_id, step, str(actor)))
        if step == "key_letter":
            return StepResult(patient_id, True, "Letter made: print it and post it.", ("key-letter.pdf", b"%PDF-"))
        return StepResult(patient_id, True, "Connection key texted to (555) 010-0199.")

    def run_many(self, *, session, patient_ids, step, actor):
        self.bulk.append((list(patient_ids), step))
        return BulkResult(done=len(patient_ids) - 1, skipped=1,
                          message=f"Sent {len(patient_ids) - 1}; skipped 1 (text not allowed: 1).")


@pytest.fixture
def fake(monkeypatch) -> FakeServices:
    services = FakeServices()
    for name in ("funnel", "trends", "reason_counts", "stuck_page", "audit_view", "funnel_csv"):
        monkeypatch.setattr(board, name, getattr(services, name))
    monkeypatch.setattr(next_steps, "run", services.run)
    monkeypatch.setattr(next_steps, "run_many", services.run_many)
    return services


async def _open(session_id: str) -> tuple[object, AdoptionState, object]:
    root, state = await state_for(AdoptionState, session_id=session_id, path=routes.ADOPTION)
    result = await state.load_page()
    return root, state, result


def _ids(state: AdoptionState) -> list[int]:
    return [row.id for row in state.rows]


def _refusals(session) -> list[str]:
    session.expire_all()
    return [e.detail for e in session.exec(select(AuditEvent).where(AuditEvent.action == "access.refused"))]


# ---- guards -----------------------------------------------------------------------------


async def test_no_session_goes_to_sign_in_and_reads_nothing(session, fake):
    root, state, result = await _open("")
    assert routes.STAFF_LOGIN in str(result)
    assert state.rows == [] and state.funnel_steps == [] and state.allowed is False
    assert fake.filters == [] and fake.views == []
    assert routes.STAFF_LOGIN in str(await state.run_step(1, "key_text"))
    assert fake.runs == []


async def test_without_the_permission_nothing_is_read_and_the_refusal_is_audited(session, admin, fake):
    sid = staff_with(session, "clerk", {Permission.OUTBOX: Level.UPDATE})
    root, state, result = await _open(sid)
    assert state.allowed is False and state.rows == [] and state.error == NO_VIEW
    assert "error" in str(result)
    await state.set_reason("email_failed")
    await state.download_funnel_csv()
    assert fake.filters == [] and fake.exports == [] and fake.views == []
    assert any("AdoptionState.load_page" in d for d in _refusals(session))
    assert any("AdoptionState.set_reason" in d for d in _refusals(session))


async def test_read_only_sees_the_board_but_cannot_run_a_step(session, admin, fake):
    sid = staff_with(session, "viewer", {Permission.PORTAL_ADMIN: Level.READ})
    root, state, _ = await _open(sid)
    assert state.allowed is True and state.can_run_steps is False
    assert _ids(state) == list(range(1, 26))

    await state.run_step(1, "key_text")
    state.selected_ids = [1, 2]  # even a forged selection runs nothing
    async for _ in state.run_selected():
        pass
    assert fake.runs == [] and fake.bulk == []
    assert state.error == NO_STEPS
    assert _ids(state) == list(range(1, 26))  # the page stays usable
    assert any("AdoptionState.run_step" in d and "portal_admin>=update" in d for d in _refusals(session))


# ---- load, audit, filters, paging ---------------------------------------------------------


async def test_load_shows_the_board_and_audits_the_view_once(session, admin, fake):
    root, state, _ = await _open(sign_in_admin(session))
    assert [(s.label, s.count) for s in state.funnel_steps] == [("Charts", 10), ("Account created", 4)]
    assert [s.key for s in state.series] == ["total"] and state.new_accounts == [{"week": "Nov 16", "total": 2}]
    assert ("email_failed", "Email failed (3)") in state.reason_options
    assert ("", "Every reason (5)") in state.reason_options
    assert ("locked_out", "Locked out (0)") in state.reason_options
    assert len(fake.views) == 1

    await state.set_reason("email_failed")
    await state.next_page()
    await state.set_period("30")
    assert len(fake.views) == 1  # once per load, not per click
    await state.load_page()
    assert len(fake.views) == 2


async def test_filters_reach_the_service_and_unknown_values_mean_all(session, admin, fake):
    root, state, _ = await _open(sign_in_admin(session))
    await state.set_reason("email_failed")
    await state.set_stuck_for("30")
    await state.set_channel("key_text")
    assert fake.filters[-1] == StuckFilter(reason="email_failed", stuck_for="30", channel="key_text")
    await state.set_reason("'; drop table patient; --")
    await state.set_stuck_for("12")
    await state.set_channel("pigeon")
    assert fake.filters[-1] == StuckFilter(reason="", stuck_for="0", channel="")
    await state.set_period("365")
    await state.set_period("forever")
    assert fake.periods[-2:] == ["365", "all"]


async def test_paging_walks_the_keyset_and_keeps_cursors_on_the_server(session, admin, fake):
    root, state, _ = await _open(sign_in_admin(session))
    assert (state.page_number, state.has_prev, state.has_next) == (1, False, True)
    await state.next_page()
    assert _ids(state) == list(range(26, 51)) and state.page_number == 2
    await state.next_page()
    assert _ids(state) == list(range(51, 61)) and (state.page_number, state.has_next) == (3, False)
    await state.next_page()
    assert state.page_number == 3
    await state.prev_page()
    assert _ids(state) == list(range(26, 51)) and state.page_number == 2
    await state.set_reason("email_failed")  # a new filter starts at page 1
    assert _ids(state) == list(range(1, 26)) and state.page_number == 1
    public = root.dict()
    assert "StuckCursor" not in str(public)
    assert "StuckCursor" in everything_in_state(root)  # kept, but only as a backend var


# ---- next steps ----------------------------------------------------------------------------


async def test_one_click_step_runs_it_and_shows_the_message_beside_the_row(session, admin, fake):
    root, state, _ = await _open(sign_in_admin(session))
    result = await state.run_step(2, "key_text")
    assert result is None
    assert fake.runs == [(2, "key_text", fake.runs[0][2])]
    assert state.rows[1].message == "Connection key texted to (555) 010-0199." and state.rows[1].ok
    assert state.rows[0].message == "" and _ids(state) == list(range(1, 26))


async def test_a_letter_step_downloads_its_pdf(session, admin, fake):
    root, state, _ = await _open(sign_in_admin(session))
    result = await state.run_step(3, "key_letter")
    assert "key-letter.pdf" in str(result)
    assert state.rows[2].message == "Letter made: print it and post it."


async def test_a_step_the_row_does_not_offer_or_a_row_off_the_page_runs_nothing(session, admin, fake):
    root, state, _ = await _open(sign_in_admin(session))
    assert NOT_A_STEP in str(await state.run_step(2, "unlock"))
    assert "not on this page" in str(await state.run_step(59, "key_text"))
    assert fake.runs == []


async def test_run_for_selected_runs_the_chosen_step_and_shows_the_summary(session, admin, fake):
    root, state, _ = await _open(sign_in_admin(session))
    await state.toggle_selected(4, True)
    await state.toggle_selected(5, True)
    await state.toggle_selected(999, True)  # not on this page: ignored
    await state.toggle_selected(5, False)
    assert state.selected_ids == [4]
    await state.toggle_page(True)
    assert state.selected_ids == list(range(1, 26)) and state.page_all_selected
    await state.set_bulk_step("key_letter")
    seen_running = []
    async for _ in state.run_selected():
        seen_running.append(state.bulk_running)
    assert seen_running[0] is True and state.bulk_running is False
    assert fake.bulk == [(list(range(1, 26)), "key_letter")]
    assert state.bulk_message == "Sent 24; skipped 1 (text not allowed: 1)."
    assert state.selected_ids == []


async def test_the_session_ending_forgets_the_rows(session, admin, fake):
    root, state, _ = await _open(sign_in_admin(session))
    assert state.rows
    set_cookies(state, staff="ended")
    await state.next_page()
    assert state.rows == [] and state.funnel_steps == [] and state.new_accounts == []
    assert "Patient0" not in str(root.dict())


async def test_funnel_export_downloads_the_service_file_for_the_chosen_period(session, admin, fake):
    root, state, _ = await _open(sign_in_admin(session))
    await state.set_period("90")
    result = await state.download_funnel_csv()
    assert fake.exports == ["funnel.csv:90"]
    assert "funnel.csv" in str(result) and "text/csv" in str(result)


# ---- with the real services ------------------------------------------------------------------


class _RefusingMail:
    name = "refusing"

    def send(self, message, *, sender: str) -> str:
        raise transports.SendFailed("550 mailbox unavailable")


def _failed_invitation(session, admin):
    patient = make_patient(session, enabled=True, mobile_phone="+16155550123", allow_sms=True, allow_email=True)
    transports.use("email", _RefusingMail())
    result = invitations.send_invitation_or_reset(session=session, patient_id=patient.id,
                                                  actor=audit.Actor.staff(admin.id))
    transports.use("email", None)
    assert result.status == "failed"
    return patient


def _actions(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


def _services_written() -> bool:
    """The board and next-step bodies are written on other branches; until they reach this one the
    interface raises NotImplementedError and this test waits (it runs once they are merged)."""
    return all("NotImplementedError" not in inspect.getsource(fn) for fn in (board.stuck_page, next_steps.run))


@pytest.mark.skipif(not _services_written(), reason="board/next_steps bodies not merged yet")
async def test_real_board_lists_a_failed_email_and_one_click_texts_a_key(session, admin):
    patient = _failed_invitation(session, admin)
    root, state, _ = await _open(sign_in_admin(session))
    assert len(_actions(session, "adoption.view")) == 1
    assert ("email_failed", "Email failed (1)") in state.reason_options

    await state.set_reason("email_failed")
    assert _ids(state) == [patient.id]
    assert state.rows[0].steps[0] == "key_text"
    await state.set_reason("never_signed_in")
    assert _ids(state) == []
    await state.set_reason("email_failed")

    await state.run_step(patient.id, "key_text")
    assert state.rows[0].ok and state.rows[0].message
    session.expire_all()
    texts = session.exec(select(OutboxMessage).where(OutboxMessage.channel == "sms")).all()
    assert [(m.to_address, m.kind) for m in texts] == [("+16155550123", "connection_key")]
    assert [e.patient_id for e in _actions(session, "adoption.next_step")] == [patient.id]
    assert len(_actions(session, "adoption.view")) == 1
    await state.refresh()
    assert _ids(state) == []  # sent by text now: no longer stuck on the failed email
