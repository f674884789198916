"""The sign-in throttles (services/throttle.py): sliding windows, growing delays, per-IP and global
limits, one audit summary per flood window, and the bound on concurrent argon2 work."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlmodel import select

from portal_app.models import AuditEvent
from portal_app.services import passwords, throttle
from portal_app.services.throttle import POLICIES, Flow, HashGate, MemoryCounter
from tests.unit.conftest import START

SIGN_IN = POLICIES[Flow.SIGN_IN]


def _fail(ip: str, times: int, flow: Flow = Flow.SIGN_IN) -> None:
    for _ in range(times):
        throttle.record(flow, ip)


# --- the sliding window -----------------------------------------------------------------------

def test_a_window_counts_the_hits_of_its_last_span_only():
    counter = MemoryCounter(60)
    assert counter.add("a", 0) == 1
    assert counter.add("a", 10) == 2
    assert counter.add("b", 10) == 1
    assert counter.count("a", 59) == 2
    assert counter.count("a", 65) == 1  # the hit at 0 has left the window
    assert counter.count("a", 71) == 0
    assert counter.count("b", 69) == 1


def test_a_window_keeps_a_bounded_number_of_keys():
    counter = MemoryCounter(60, max_keys=3)
    for n, key in enumerate("abcde"):
        counter.add(key, n)
    assert sum(counter.count(key, 5) for key in "abcde") == 3  # the oldest keys made room
    assert counter.count("e", 5) == 1


# --- delays and limits per IP -----------------------------------------------------------------

def test_failures_from_one_ip_wait_longer_and_longer_then_are_refused(frozen_clock):
    ip = "10.0.0.5"
    delays = []
    for _ in range(SIGN_IN.refuse_at):
        verdict = throttle.check(Flow.SIGN_IN, ip)
        assert verdict.allowed
        delays.append(verdict.delay)
        throttle.record(Flow.SIGN_IN, ip)
    assert delays[:SIGN_IN.free] == [0.0] * SIGN_IN.free  # typos go through at once
    assert delays[SIGN_IN.free:SIGN_IN.free + 4] == [1.0, 2.0, 4.0, 5.0]  # then growing, at most 5 s
    assert set(delays[SIGN_IN.free + 3:]) == {SIGN_IN.max_delay}
    refused = throttle.check(Flow.SIGN_IN, ip)
    assert not refused.allowed
    assert refused.message == throttle.TOO_MANY[Flow.SIGN_IN]
    # Another address is not slowed by this one.
    assert throttle.check(Flow.SIGN_IN, "10.0.0.6") == throttle.Verdict(True, 0.0, False)


def test_a_repeat_offender_hashes_in_the_small_lane(frozen_clock):
    _fail("10.0.0.5", SIGN_IN.free - 1)
    assert not throttle.check(Flow.SIGN_IN, "10.0.0.5").suspect
    _fail("10.0.0.5", 1)
    assert throttle.check(Flow.SIGN_IN, "10.0.0.5").suspect


def test_the_ip_window_slides(frozen_clock):
    _fail("10.0.0.5", SIGN_IN.refuse_at)
    assert not throttle.check(Flow.SIGN_IN, "10.0.0.5").allowed
    frozen_clock(START + timedelta(seconds=SIGN_IN.window + 1))
    assert throttle.check(Flow.SIGN_IN, "10.0.0.5") == throttle.Verdict(True, 0.0, False)


def test_each_flow_has_its_own_budget(frozen_clock):
    _fail("10.0.0.5", POLICIES[Flow.FORGOT].refuse_at, Flow.FORGOT)
    assert not throttle.check(Flow.FORGOT, "10.0.0.5").allowed
    assert throttle.check(Flow.SIGN_IN, "10.0.0.5").allowed


# --- over all IPs -------------------------------------------------------------------------------

def test_a_spray_from_many_addresses_slows_everyone_but_refuses_only_those_who_failed(frozen_clock):
    for n in range(SIGN_IN.global_free):
        throttle.record(Flow.SIGN_IN, f"10.1.{n // 250}.{n % 250}")
    honest = throttle.check(Flow.SIGN_IN, "192.0.2.10")
    assert honest.allowed and honest.delay == 1.0 and not honest.suspect  # a clean IP keeps the wide lane
    sprayer = throttle.check(Flow.SIGN_IN, "10.1.0.0")
    assert sprayer.allowed and sprayer.suspect

    for n in range(SIGN_IN.global_refuse_at):
        throttle.record(Flow.SIGN_IN, f"10.2.{n // 250}.{n % 250}")
    assert throttle.check(Flow.SIGN_IN, "10.2.0.0") == throttle.Verdict(False, message=throttle.BUSY)
    still = throttle.check(Flow.SIGN_IN, "192.0.2.10")
    assert still.allowed and still.delay == SIGN_IN.max_delay  # an honest sign-in still gets through

    frozen_clock(START + timedelta(seconds=SIGN_IN.global_window + 1))
    assert throttle.check(Flow.SIGN_IN, "192.0.2.10").delay == 0.0


# --- one audit row per flood --------------------------------------------------------------------

def test_a_flood_is_audited_once_per_window_not_per_try(session, frozen_clock):
    _fail("10.0.0.5", SIGN_IN.refuse_at)
    for _ in range(57):
        throttle.check(Flow.SIGN_IN, "10.0.0.5")
    assert throttle.due_summaries() == []  # the window is still open
    frozen_clock(START + timedelta(seconds=throttle.SUMMARY_WINDOW))
    throttle.record_summaries(session=session, summaries=throttle.due_summaries())
    throttle.record_summaries(session=session, summaries=throttle.due_summaries())  # nothing twice

    rows = list(session.exec(select(AuditEvent).where(AuditEvent.action == "throttle.summary")))
    assert [(r.ip, r.detail) for r in rows] == [
        ("10.0.0.5", "sign-in throttled: 57 tries from 10.0.0.5 in 60 s (57 refused unchecked)")]


def test_a_fresh_window_gets_its_own_summary(session, frozen_clock):
    _fail("10.0.0.5", SIGN_IN.free + 2)
    throttle.check(Flow.SIGN_IN, "10.0.0.5")  # delayed: counts into the summary
    frozen_clock(START + timedelta(seconds=61))
    throttle.check(Flow.SIGN_IN, "10.0.0.5")
    summaries = throttle.due_summaries(everything=True)
    assert [(s.ip, s.tries, s.refused, s.seconds) for s in summaries] == [("10.0.0.5", 1, 0, 60),
                                                                          ("10.0.0.5", 1, 0, 1)]


# --- the bound on argon2 work ---------------------------------------------------------------------

class _BlockingHash:
    """Stands in for argon2: each call waits for `release` and counts who is hashing at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.active = 0
        self.most = 0
        self.honest_done = threading.Event()

    def verify(self, password: str, _hash: str) -> bool:
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            if password != "honest":
                self.release.wait(30)
            return True
        finally:
            with self.lock:
                self.active -= 1


def test_a_spray_in_threads_never_blocks_an_honest_hash_behind_its_queue(monkeypatch):
    fake = _BlockingHash()
    monkeypatch.setattr(passwords, "_context", fake)
    monkeypatch.setattr(throttle, "_gate", HashGate(total=2, suspect=1))

    def sprayer() -> None:
        with throttle.lane(True):
            passwords.verify_password("guess", "hash")

    spray = [threading.Thread(target=sprayer, daemon=True) for _ in range(8)]
    for thread in spray:
        thread.start()
    honest = threading.Thread(target=lambda: passwords.verify_password("honest", "hash"), daemon=True)
    honest.start()
    honest.join(30)  # a deadlock guard only: the honest hash needs no sprayer to finish
    try:
        assert not honest.is_alive()
        assert not fake.release.is_set()  # every sprayer is still holding or queued
        assert fake.most <= 2
    finally:
        fake.release.set()
        for thread in spray:
            thread.join(30)
    assert fake.most <= 2  # never more than two hashes at once, the sprayers included


def test_honest_hashes_are_bounded_too():
    gate = HashGate(total=2, suspect=1)
    inside = threading.Semaphore(0)
    release = threading.Event()
    third_in = threading.Event()

    def hold() -> None:
        with gate.slot(suspect=False):
            inside.release()
            release.wait(30)

    holders = [threading.Thread(target=hold, daemon=True) for _ in range(2)]
    for thread in holders:
        thread.start()
    assert inside.acquire(timeout=30) and inside.acquire(timeout=30)

    def third() -> None:
        with gate.slot(suspect=False):
            third_in.set()

    waiting = threading.Thread(target=third, daemon=True)
    waiting.start()
    assert not third_in.wait(0.2)  # both slots are taken: the third waits its turn
    release.set()
    assert third_in.wait(30)
    for thread in (*holders, waiting):
        thread.join(30)


# --- the practice's own networks ------------------------------------------------------------------

def test_an_office_address_is_not_throttled_per_address_but_the_global_limits_still_hold(frozen_clock, monkeypatch):
    monkeypatch.setenv("PORTAL_OFFICE_NETWORKS", "203.0.113.0/24, 2001:db8::/32")
    office = "203.0.113.7"
    _fail(office, SIGN_IN.refuse_at + 5)  # a busy office's typos, all from one public address
    assert throttle.check(Flow.SIGN_IN, office) == throttle.Verdict(True, 0.0, False)
    assert throttle.check(Flow.SIGN_IN, "2001:db8::5").allowed
    # Outside the office the same count slows and then refuses.
    _fail("198.51.100.9", SIGN_IN.refuse_at)
    assert not throttle.check(Flow.SIGN_IN, "198.51.100.9").allowed
    # A spray over all addresses still slows the office too.
    for n in range(SIGN_IN.global_free * 2):
        throttle.record(Flow.SIGN_IN, f"10.3.{n // 250}.{n % 250}")
    assert throttle.check(Flow.SIGN_IN, office).delay > 0


def test_no_address_is_an_office_unless_configured(monkeypatch):
    from portal_app.services import office_networks

    monkeypatch.delenv("PORTAL_OFFICE_NETWORKS", raising=False)
    assert not office_networks.is_office("127.0.0.1")
    monkeypatch.setenv("PORTAL_OFFICE_NETWORKS", "127.0.0.0/8")
    assert office_networks.is_office("127.0.0.1")
    assert not office_networks.is_office("not an address") and not office_networks.is_office("")
