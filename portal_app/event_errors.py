"""A failed or crafted event leaves one line in the log, never a traceback or the event's payload.

Any client can send any event with any arguments (tests/e2e and the issue 11 probe do). Reflex
logs a failure with its whole traceback ("[Reflex Backend Exception]", "Error processing event
queue entry for Event(... payload ...)", Socket.IO's "message async handler error"), and the
payload or the traceback's locals can hold what a user typed. Here:

- `backend_exception_handler` (the app's `backend_exception_handler`): logs
  "event failed: handler=<State.handler> reason=<ExceptionType: first words>" and shows the user a
  plain "Something went wrong" toast.
- `OneLine`, a logging filter installed on the loggers of Reflex's event processing and of
  Socket.IO/Engine.IO (`install`): a record carrying an exception becomes the same one line; the
  event data Reflex quotes in its warnings is cut off.

PORTAL_LOG_TRACEBACKS=1 keeps the full tracebacks (for a developer chasing a real bug).
"""

import logging
import os
import re
import traceback
from types import TracebackType

import reflex as rx
from reflex.event import EventSpec

LOGGER = logging.getLogger("portal_app.events")
# The loggers Reflex 0.10 and python-socketio log event failures with.
EVENT_LOGGERS = ("reflex.app", "reflex_base.event.processor.event_processor",
                 "reflex_base.event.processor.base_state_processor", "engineio.server", "socketio.server")
REASON_LIMIT = 160
USER_MESSAGE = "Something went wrong. Try again, or reload the page."
# Where Reflex quotes what the client sent (an event's payload, router data) in a message.
_QUOTED_DATA = re.compile(r"(Event data:|event data:|received |for Event\(|for \{).*", re.DOTALL)
_QUALNAME = re.compile(r"^([A-Za-z_][\w.]*)\(\)")


def reason_of(exception: BaseException) -> str:
    """"TypeError: X() missing 1 required positional argument": the type and the message's first
    words, one line, without what follows a colon (where Python quotes the value it refused)."""
    text = str(exception).splitlines()[0] if str(exception) else ""
    text = text.split(": ", 1)[0].strip()
    text = _QUOTED_DATA.sub("", text).strip()
    name = type(exception).__name__
    return (f"{name}: {text}" if text else name)[:REASON_LIMIT]


def handler_of(exception: BaseException) -> str:
    """The handler the exception came from: the innermost frame of our state code, else the
    function Python names in a call's TypeError, else "unknown"."""
    found = ""
    tb: TracebackType | None = exception.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith("portal_app.state"):
            found = tb.tb_frame.f_code.co_qualname
        tb = tb.tb_next
    if found:
        return found
    named = _QUALNAME.match(str(exception))
    return named.group(1) if named else "unknown"


def one_line(exception: BaseException) -> str:
    return f"event failed: handler={handler_of(exception)} reason={reason_of(exception)}"


def _keep_tracebacks() -> bool:
    return os.environ.get("PORTAL_LOG_TRACEBACKS") == "1"


# (No `from __future__ import annotations` here: Reflex checks this signature's annotations as objects.)
def backend_exception_handler(exception: Exception) -> EventSpec:
    """The app's handler for an exception an event handler raised: one log line, a plain toast."""
    if _keep_tracebacks():
        LOGGER.error("%s\n%s", one_line(exception), "".join(traceback.format_exception(exception)))
    else:
        LOGGER.error(one_line(exception))
    return rx.toast.error(USER_MESSAGE, id="backend_error", close_button=True)


class OneLine(logging.Filter):
    """A record with an exception becomes "<what failed>: handler=... reason=..." on one line, and
    client data quoted in a message is cut off."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _keep_tracebacks():
            return True
        message = _QUOTED_DATA.sub("(data not logged)", record.getMessage()).splitlines()[0][:200] \
            if record.getMessage() else ""
        if record.exc_info and record.exc_info[1] is not None:
            message = f"{message.rstrip(':')}: {one_line(record.exc_info[1])}"
        record.msg, record.args = message, None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def install() -> None:
    """Put `OneLine` on the loggers of event processing (once)."""
    for name in EVENT_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(existing, OneLine) for existing in target.filters):
            target.addFilter(OneLine())
