"""Throttles for the forms anyone can reach, and the bound on concurrent password hashing.

Four flows are throttled: sign-in (staff and patient share one budget), current-password
checks, set-up (Create Account) and forgot-password. Each keeps, per client IP and over all
IPs, a sliding-window count of the tries that count (a failed credential check; every request
of the two message-sending forms). From those counts `check` gives a verdict:

- a few tries go through at once (typos, a double click);
- then each try waits a growing delay (1, 2, 4, 5, 5... seconds; the state handler sleeps
  with `asyncio.sleep`, never blocking the event loop) and its hashing runs in the small
  "suspect" lane (see `HashGate`);
- past the per-IP limit a try is refused before any password is hashed;
- when every IP together fails more than the global limit, every try waits, and tries from
  IPs that have failed are refused past the global hard limit, while an IP with no failures
  still gets through.

A flood is audited as ONE summary row per window per IP ("sign-in throttled: 57 tries from
10.0.0.5 in 60 s"), written by `record_summaries`, never a row per refused try.

The counters sit behind a small interface, `Counter` (a sliding-window counter keyed by
text). `MemoryCounter` keeps them in this process, which is right for one worker. Several
workers share them in Redis: with REFLEX_REDIS_URL set, `use_redis_if_configured` installs
`RedisCounter` (a sorted set per key); nothing else changes.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import os
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, cast

from sqlmodel import Session

from portal_app.services import audit, clock, office_networks

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)

class Counter(Protocol):
    """A sliding-window counter: how many hits each key had in the last `span` seconds."""

    span: float

    def add(self, key: str, now: float) -> int:
        """Count one hit for `key` at `now`; returns the hits in the window, this one included."""
        ...

    def count(self, key: str, now: float) -> int:
        """The hits for `key` in the window ending at `now`."""
        ...


class MemoryCounter:
    """`Counter` in this process: a deque of hit times per key (thread-safe).

    At most `max_keys` keys are kept (a spray from many addresses cannot grow it without end):
    when full, keys whose hits have all left the window go first, then the oldest.
    """

    def __init__(self, span: float, name: str = "", max_keys: int = 50_000) -> None:
        self.span = span
        self._max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            return deque()
        while hits and hits[0] <= now - self.span:
            hits.popleft()
        if not hits:
            del self._hits[key]
        return hits

    def _make_room(self, now: float) -> None:
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self.span]:
            del self._hits[key]
        while len(self._hits) >= self._max_keys:
            del self._hits[next(iter(self._hits))]

    def add(self, key: str, now: float) -> int:
        with self._lock:
            hits = self._trim(key, now)
            if key not in self._hits:
                if len(self._hits) >= self._max_keys:
                    self._make_room(now)
                self._hits[key] = hits
            hits.append(now)
            return len(hits)

    def count(self, key: str, now: float) -> int:
        with self._lock:
            return len(self._trim(key, now))


REDIS_PREFIX = "portal:throttle:"
# A throttle call waits at most this long for Redis (it runs inside a sign-in's handler).
REDIS_TIMEOUT_S = 0.5


class RedisCounter:
    """`Counter` shared by every worker: one Redis sorted set per key, a member per hit, scored
    by its time (ZREMRANGEBYSCORE drops hits that left the window, ZADD counts this one, ZCARD
    counts them, EXPIRE lets an idle key go), all in one MULTI so two workers never interleave.

    When Redis fails mid-run (restarting, unreachable), this worker falls back to counting in
    its own memory (`MemoryCounter`) until Redis answers again, and logs the switch once each
    way. Not fail-open: a spray is still throttled, at worst at the limit times the number of
    workers, and per-account lockouts are in the database and stay exact. Not fail-closed
    either: refusing every sign-in while Redis restarts would be an outage of our own making,
    and a tab whose state is in Redis cannot run an event then anyway.
    """

    def __init__(self, span: float, name: str, client: Redis) -> None:
        self.span = span
        self._name = name
        self._client = client
        self._fallback = MemoryCounter(span)
        self._failing = False

    def _key(self, key: str) -> str:
        return f"{REDIS_PREFIX}{self._name}:{key}"

    def _failed(self, error: Exception) -> None:
        if not self._failing:
            log.warning("throttle %s: Redis failed (%s); counting in this worker until it answers",
                        self._name, type(error).__name__)
        self._failing = True

    def _answered(self) -> None:
        if self._failing:
            log.warning("throttle %s: Redis answers again; counts are shared again", self._name)
        self._failing = False

    def add(self, key: str, now: float) -> int:
        from redis.exceptions import RedisError

        name = self._key(key)
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.zremrangebyscore(name, "-inf", now - self.span)
            pipe.zadd(name, {f"{now!r}:{uuid.uuid4().hex}": now})
            pipe.zcard(name)
            pipe.expire(name, int(self.span) + 1)
            hits = int(pipe.execute()[2])
        except RedisError as error:
            self._failed(error)
            return self._fallback.add(key, now)
        self._answered()
        return hits

    def count(self, key: str, now: float) -> int:
        from redis.exceptions import RedisError

        try:
            hits = cast(int, self._client.zcount(self._key(key), f"({now - self.span!r}", "+inf"))
        except RedisError as error:
            self._failed(error)
            return self._fallback.count(key, now)
        self._answered()
        return hits


def redis_counters(url: str) -> Callable[[float, str], Counter]:
    """A `use(...)` factory of `RedisCounter`s on one client for Redis at `url`."""
    from redis import Redis

    client = Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S)
    return lambda span, name: RedisCounter(span, name, client)


class Flow(str, enum.Enum):
    SIGN_IN = "sign-in"
    PASSWORD_CHECK = "current-password check"
    SETUP = "create-account"
    FORGOT = "forgot-password"


@dataclass(frozen=True)
class Policy:
    """The numbers of one flow's throttle."""

    free: int  # tries per IP in `window` that go through at once
    refuse_at: int  # tries per IP in `window` after which a try is refused unchecked
    window: float  # seconds
    global_free: int  # tries over all IPs in `global_window` before every try waits
    global_refuse_at: int  # ... after which tries from IPs that have failed are refused
    global_window: float = 60.0
    max_delay: float = 5.0


SIGN_IN_WINDOW = 15 * 60
POLICIES: dict[Flow, Policy] = {
    # 30 failures from one IP in 15 minutes is no typo; a clinic's shared IP stays far below it.
    Flow.SIGN_IN: Policy(free=10, refuse_at=30, window=SIGN_IN_WINDOW, global_free=60, global_refuse_at=300),
    Flow.PASSWORD_CHECK: Policy(free=3, refuse_at=10, window=SIGN_IN_WINDOW, global_free=30,
                                global_refuse_at=150),
    # Every request of these two counts (each may send a message): a person sends one or two.
    # (What they may send is limited apart, per address, per IP and per day: message_limits.py.)
    Flow.SETUP: Policy(free=10, refuse_at=40, window=60 * 60, global_free=60, global_refuse_at=300),
    Flow.FORGOT: Policy(free=10, refuse_at=40, window=60 * 60, global_free=60, global_refuse_at=300),
}

TOO_MANY = {
    Flow.SIGN_IN: "Too many sign-in tries have come from your network. Wait 15 minutes, then try again.",
    Flow.PASSWORD_CHECK: "Too many wrong current passwords have come from your network. Wait 15 minutes, "
                         "then try again.",
    Flow.SETUP: "Too many requests have come from your network. Wait an hour, then try again, or call "
                "the practice.",
    Flow.FORGOT: "Too many requests have come from your network. Wait an hour, then try again, or call "
                 "the practice.",
}
BUSY = ("The portal is receiving too many tries right now. Wait a few minutes, then try again, or call "
        "the practice.")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    delay: float = 0.0  # seconds to wait before doing the work
    suspect: bool = False  # hash in the small lane (this IP has failed repeatedly, or a flood)
    message: str = ""  # why not, when refused


# ---- the audit summary of a flood ----------------------------------------------------------

SUMMARY_WINDOW = 60.0
ALL_IPS = "*"


@dataclass
class _Episode:
    started: float
    tries: int = 0
    refused: int = 0


@dataclass(frozen=True)
class Summary:
    flow: Flow
    ip: str
    tries: int
    refused: int
    seconds: int

    def sentence(self) -> str:
        source = "many addresses" if self.ip == ALL_IPS else (self.ip or "an unknown address")
        return (f"{self.flow.value} throttled: {self.tries} tries from {source} in {self.seconds} s "
                f"({self.refused} refused unchecked)")


# ---- the throttle ----------------------------------------------------------------------------

def _now() -> float:
    return clock.now().timestamp()


@dataclass
class Throttle:
    """Per-IP and global sliding windows per flow, and the open flood episodes."""

    counter_factory: Callable[[float, str], Counter] = MemoryCounter
    _per_ip: dict[Flow, Counter] = field(default_factory=dict)
    _global: dict[Flow, Counter] = field(default_factory=dict)
    _episodes: dict[tuple[Flow, str], _Episode] = field(default_factory=dict)
    _closed: list[tuple[tuple[Flow, str], _Episode]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for flow, policy in POLICIES.items():
            # Named: in Redis, each flow's per-IP and global counts are keys of their own.
            self._per_ip[flow] = self.counter_factory(policy.window, f"{flow.name.lower()}:ip")
            self._global[flow] = self.counter_factory(policy.global_window, f"{flow.name.lower()}:all")

    def check(self, flow: Flow, ip: str) -> Verdict:
        """What to do with a try of `flow` from `ip`, before doing any work."""
        policy, now = POLICIES[flow], _now()
        mine = 0 if office_networks.is_office(ip) else self._per_ip[flow].count(ip, now)
        everyone = self._global[flow].count(ALL_IPS, now)
        if mine >= policy.refuse_at:
            verdict = Verdict(False, message=TOO_MANY[flow])
        elif everyone >= policy.global_refuse_at and mine > 0:
            verdict = Verdict(False, message=BUSY)
        else:
            delay = _growing(mine - policy.free, policy.max_delay)
            flood = everyone >= policy.global_free
            if flood:
                delay = max(delay, _growing(everyone // policy.global_free - 1, policy.max_delay))
            verdict = Verdict(True, delay=delay, suspect=mine >= policy.free or (flood and mine > 0))
        if not verdict.allowed or verdict.delay:
            self._note(flow, ip if mine >= policy.free else ALL_IPS, now, refused=not verdict.allowed)
        return verdict

    def record(self, flow: Flow, ip: str) -> None:
        """Count a try that counts: a failed credential check, or a request that may send."""
        now = _now()
        if not office_networks.is_office(ip):
            self._per_ip[flow].add(ip, now)
        self._global[flow].add(ALL_IPS, now)

    def note_refused(self, flow: Flow, ip: str) -> None:
        """A request of `flow` refused by another limit (services/message_limits.py): summarized."""
        self._note(flow, ip, _now(), refused=True)

    def _note(self, flow: Flow, ip: str, now: float, *, refused: bool) -> None:
        with self._lock:
            episode = self._episodes.get((flow, ip))
            if episode is not None and now - episode.started >= SUMMARY_WINDOW:
                self._closed.append(((flow, ip), episode))  # its window is over: a new one starts
                episode = None
            if episode is None:
                episode = self._episodes[(flow, ip)] = _Episode(started=now)
            episode.tries += 1
            episode.refused += int(refused)

    def due(self, *, everything: bool = False) -> list[Summary]:
        """The flood episodes whose window has passed (all of them with `everything`), removed."""
        now = _now()
        with self._lock:
            keys = [key for key, episode in self._episodes.items()
                    if everything or now - episode.started >= SUMMARY_WINDOW]
            episodes = self._closed + [(key, self._episodes.pop(key)) for key in keys]
            self._closed = []
        # A window is SUMMARY_WINDOW long; one cut short by `everything` says how long it lasted.
        return [Summary(flow, ip, e.tries, e.refused, int(min(SUMMARY_WINDOW, max(1.0, now - e.started))))
                for (flow, ip), e in episodes]

    def open_episodes(self) -> int:
        with self._lock:
            return len(self._episodes) + len(self._closed)


def _growing(steps: int, cap: float) -> float:
    """0 for steps < 0; then 1, 2, 4... seconds, at most `cap`."""
    return 0.0 if steps < 0 else min(cap, float(2 ** min(steps, 16)))


_throttle = Throttle()


def use(counter_factory: Callable[[float, str], Counter]) -> None:
    """Back the throttles with another `Counter` (e.g. Redis, shared by several workers).

    Also starts every count afresh (tests call `use(MemoryCounter)`).
    """
    global _throttle
    _throttle = Throttle(counter_factory=counter_factory)


def use_redis_if_configured() -> None:
    """With REFLEX_REDIS_URL set (several workers), count in that Redis (at the app's start)."""
    url = os.environ.get("REFLEX_REDIS_URL", "").strip()
    if url:
        use(redis_counters(url))


def check(flow: Flow, ip: str) -> Verdict:
    """What to do with a try of `flow` from `ip` (see the module's docstring)."""
    return _throttle.check(flow, ip)


def record(flow: Flow, ip: str) -> None:
    """Count a try that counts: a failed credential check, or a request that may send."""
    _throttle.record(flow, ip)


def note_refused(flow: Flow, ip: str) -> None:
    """Count a refusal by another limit into this IP's flood summary (no audit row of its own)."""
    _throttle.note_refused(flow, ip)


def due_summaries(*, everything: bool = False) -> list[Summary]:
    """The flood summaries ready to be audited (each is returned once)."""
    return _throttle.due(everything=everything)


def record_summaries(*, session: Session, summaries: list[Summary]) -> None:
    """Audit each flood once: one row per window per IP, "sign-in throttled: 57 tries from ..."."""
    for summary in summaries:
        audit.record(session=session, actor=audit.Actor.anonymous("throttle", summary.ip.replace(ALL_IPS, "")),
                     action="throttle.summary", detail=summary.sentence())
    session.commit()


# ---- the bound on concurrent argon2 work -----------------------------------------------------

# How many argon2 hashes run at once in this process: one per core, at least 2.
HASH_SLOTS = max(2, os.cpu_count() or 2)


class HashGate:
    """At most `total` argon2 hashes at once in this process, and at most `suspect` of them
    from the suspect lane (tries from IPs that have failed repeatedly).

    One hash per core (at least 2), half of them for suspects: with 2 cores, 2 at once and 1
    for suspects. A spray therefore holds at most one slot and an honest sign-in (an IP with no
    failures) waits at most for another honest hash, never behind the sprayer's queue.
    """

    def __init__(self, total: int = HASH_SLOTS, suspect: int | None = None) -> None:
        suspect = max(1, total // 2) if suspect is None else suspect
        self._total = threading.BoundedSemaphore(total)
        self._suspect = threading.BoundedSemaphore(suspect)

    @contextmanager
    def slot(self, *, suspect: bool) -> Iterator[None]:
        if suspect:
            self._suspect.acquire()
        try:
            with self._total:
                yield
        finally:
            if suspect:
                self._suspect.release()


_gate = HashGate()
# Which lane the hashing of this task runs in; `asyncio.to_thread` copies it into the worker.
_suspect_lane: contextvars.ContextVar[bool] = contextvars.ContextVar("suspect_lane", default=False)


@contextmanager
def lane(suspect: bool) -> Iterator[None]:
    """Run the hashing of the work started inside in the suspect lane (or the normal one)."""
    token = _suspect_lane.set(suspect)
    try:
        yield
    finally:
        _suspect_lane.reset(token)


@contextmanager
def hashing() -> Iterator[None]:
    """Hold a hashing slot of this task's lane (services/passwords.py wraps every argon2 call)."""
    with _gate.slot(suspect=_suspect_lane.get()):
        yield
