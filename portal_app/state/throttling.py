"""Throttled handlers (sign-in, current-password checks, Create Account, Forgot password).

The rules are in services/throttle.py and services/message_limits.py; this module does the
parts that belong to the event loop:

- `admit` waits a throttled try's growing delay with `asyncio.sleep` (never blocking the loop)
  and audits the flood summaries that are due;
- `run` runs the work in its hashing lane, on the hashing threads (state/base.py), never in
  the pool every other event uses: tries from IPs that have failed repeatedly go one at a time
  per process, waiting here on the loop (not in a worker thread), so a spray can neither hold
  more than one argon2 slot nor fill the threads that honest sign-ins use;
- `unsigned_send` applies the limits on messages anyone can make the portal send.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from functools import partial
from typing import TypeVar

from portal_app.services import message_limits, throttle
from portal_app.services.throttle import Flow, Verdict
from portal_app.state.base import call, detach

T = TypeVar("T")

# The wait of a throttled try (a module attribute, so a test can record the delays instead).
_sleep = asyncio.sleep
_suspects: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
_flush_scheduled: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def _suspect_lane() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _suspects:
        _suspects[loop] = asyncio.Semaphore(1)
    return _suspects[loop]


async def write_summaries(*, everything: bool = False) -> None:
    """Audit the flood summaries that are due (each once)."""
    summaries = throttle.due_summaries(everything=everything)
    if summaries:
        await call(partial(throttle.record_summaries, summaries=summaries))


def _schedule_flush() -> None:
    """Once a flood opens, audit its summary when its window ends, even if no try follows."""
    loop = asyncio.get_running_loop()
    if loop in _flush_scheduled:
        return
    _flush_scheduled.add(loop)

    def flush() -> None:
        _flush_scheduled.discard(loop)
        detach(write_summaries())
        if throttle.open_episodes():
            _schedule_flush()

    loop.call_later(throttle.SUMMARY_WINDOW + 1, flush)


async def admit(flow: Flow, ip: str) -> Verdict:
    """Before a throttled try: its verdict, after waiting its delay when it is allowed."""
    verdict = throttle.check(flow, ip)
    if not verdict.allowed or verdict.delay:
        _schedule_flush()
    detach(write_summaries())
    if verdict.allowed and verdict.delay:
        await _sleep(verdict.delay)
    return verdict


async def run(verdict: Verdict, work: partial[T]) -> T:
    """`call(work)` in the verdict's hashing lane (see the module's docstring)."""
    if not verdict.suspect:
        return await call(work, hashing=True)
    async with _suspect_lane():
        with throttle.lane(True):
            return await call(work, hashing=True)


def record(flow: Flow, ip: str) -> None:
    """Count a try that counts against `ip`: a failed credential check, or a request that may send."""
    throttle.record(flow, ip)


def refused(flow: Flow, ip: str) -> None:
    """A request refused by a rule of its own (a country texts may not go to): summarized."""
    throttle.note_refused(flow, ip)
    _schedule_flush()


async def unsigned_send(flow: Flow, *, channel: str, destination: str, ip: str) -> message_limits.Decision:
    """Whether a Create Account / Forgot password request may send to `destination`; a refusal
    counts into the IP's flood summary (audited once per window, not per try)."""
    decision = message_limits.take(channel=channel, destination=destination, ip=ip, purpose=flow.value)
    if decision.message:
        throttle.note_refused(flow, ip)
        _schedule_flush()
    return decision


async def may_resend(flow: Flow, *, token: str, ip: str) -> bool:
    """ "Send me a new link" from a dead link: the throttle and the limits on unsigned messages,
    keyed by the link (its address is not known here). The page answers the same either way."""
    verdict = await admit(flow, ip)
    if not verdict.allowed:
        return False
    record(flow, ip)
    key = "link:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return (await unsigned_send(flow, channel="email", destination=key, ip=ip)).send
