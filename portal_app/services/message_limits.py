"""Limits on the messages anyone, unsigned, can make the portal send.

Create Account (a verification link, or "you already have an account"), Forgot password (an
invitation or a reset link) and a dead link's "send me a new one" send email and texts to an
address the visitor types. Without limits that is a way to flood a person's inbox or to run up
the practice's text bill (SMS pumping to premium numbers abroad). So:

- texts go only to numbers of the countries Portal Settings allows (default: the practice's
  own, US); another number gets a message beside the field and nothing is sent;
- per address or number: one message a minute (a repeat within the minute is answered as if
  sent, since the first one is on its way), at most 3 an hour and 5 a day;
- per client IP: at most 20 an hour and 50 a day;
- over everyone: at most `DAILY_CAP` a day per channel.

Requests are counted, not messages sent, so the answer is the same whether or not an account
or chart exists. The counters are `throttle.Counter`s (in-process today; see
services/throttle.py for backing them with a shared store).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlmodel import Session

from portal_app.services import clock, office_networks, settings, sms_countries, throttle

MINUTE, HOUR, DAY = 60, 60 * 60, 24 * 60 * 60
# (most, seconds): at most `most` requests in any `seconds`.
PER_DESTINATION = ((3, HOUR), (5, DAY))
PER_IP = ((20, HOUR), (50, DAY))
DAILY_CAP = {"sms": 200, "email": 1000}

TOO_MANY_TO_ADDRESS = ("We have already sent several messages to {what}. Look for them (for email, in the "
                       "spam folder too), or try again tomorrow.")
TOO_MANY_FROM_IP = "Too many requests have come from your network today. Try again tomorrow, or call the practice."
DAILY_CAP_REACHED = ("The portal has sent as many messages as it may today. Try again tomorrow, or call the "
                     "practice.")


@dataclass(frozen=True)
class Decision:
    send: bool  # go on and send
    message: str = ""  # refused: what to show beside the field ("" with send=False: a quiet repeat)


def _counters(limits: tuple[tuple[int, int], ...]) -> list[tuple[int, throttle.Counter]]:
    return [(most, throttle.MemoryCounter(float(span))) for most, span in limits]


@dataclass
class SendLimits:
    """The counters of unsigned sends (one per limit)."""

    repeat: throttle.Counter = field(default_factory=lambda: throttle.MemoryCounter(float(MINUTE)))
    per_destination: list[tuple[int, throttle.Counter]] = field(default_factory=lambda: _counters(PER_DESTINATION))
    per_ip: list[tuple[int, throttle.Counter]] = field(default_factory=lambda: _counters(PER_IP))
    daily: throttle.Counter = field(default_factory=lambda: throttle.MemoryCounter(float(DAY)))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, *, channel: str, destination: str, ip: str, purpose: str = "") -> Decision:
        now = clock.now().timestamp()
        what = "this number" if channel == "sms" else "this address"
        per_ip = [] if office_networks.is_office(ip) else self.per_ip
        with self._lock:  # check every limit, then count in all of them, as one step
            if any(counter.count(destination, now) >= most for most, counter in self.per_destination):
                return Decision(False, TOO_MANY_TO_ADDRESS.format(what=what))
            if any(counter.count(ip, now) >= most for most, counter in per_ip):
                return Decision(False, TOO_MANY_FROM_IP)
            if self.daily.count(channel, now) >= DAILY_CAP.get(channel, DAILY_CAP["email"]):
                return Decision(False, DAILY_CAP_REACHED)
            # A repeat is per form: "Forgot password" just after Create Account still sends.
            if self.repeat.add(f"{purpose}:{destination}", now) > 1:
                return Decision(False)
            for _most, counter in self.per_destination:
                counter.add(destination, now)
            for _most, counter in per_ip:
                counter.add(ip, now)
            self.daily.add(channel, now)
        return Decision(True)


_limits = SendLimits()


def reset() -> None:
    """Start every count afresh (tests)."""
    global _limits
    _limits = SendLimits()


def take(*, channel: str, destination: str, ip: str, purpose: str = "") -> Decision:
    """Whether an unsigned request may send a message on `channel` ("email" or "sms") to
    `destination` (a normalized address or number; any stable key for a link) from `ip`.
    `purpose` names the form: a repeat within the minute is quiet only on the same form.

    A request that may send is counted against every limit.
    """
    return _limits.take(channel=channel, destination=destination, ip=ip, purpose=purpose)


def check_text_country(*, session: Session, user_id: str, field: str = "user_id") -> None:
    """Refuse (beside `field`) a phone number outside the countries Portal Settings allows for
    texts. An email address, or anything that is not a phone number, passes.

    Raises:
        InvalidInput: the number is of another country.
    """
    config = settings.get(session=session)
    sms_countries.check(user_id, allowed=config.sms_countries, phone=config.practice_phone, field=field)
