"""A failed or crafted event logs one line (handler, reason): no traceback, no payload."""

from __future__ import annotations

import logging

import pytest

from portal_app import event_errors
from portal_app.state.onboarding import OnboardingState

SECRET = "Hunter2-typed-password"


def _raised(fn, *args):
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001
        return exc
    raise AssertionError("expected an exception")


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO)
    return caplog


def _only_line(logs) -> str:
    assert len(logs.records) == 1
    text = logs.text.strip()
    assert "\n" not in text and "Traceback" not in text and SECRET not in text
    return text


def test_a_handler_called_with_missing_arguments_logs_one_line(logs):
    state = object.__new__(OnboardingState)
    exc = _raised(OnboardingState.event_handlers["set_bulk_resend"].fn, state)  # a crafted event: no argument

    toast = event_errors.backend_exception_handler(exc)

    line = _only_line(logs)
    assert "event failed: handler=OnboardingState.set_bulk_resend" in line
    assert "reason=TypeError: OnboardingState.set_bulk_resend() missing 1 required positional argument" in line
    assert event_errors.USER_MESSAGE in str(toast)


def test_the_value_a_handler_refused_is_not_logged(logs):
    # ValueError: invalid literal for int() with base 10: '<what the client sent>'
    event_errors.backend_exception_handler(_raised(int, SECRET))
    line = _only_line(logs)
    assert "reason=ValueError: invalid literal for int() with base 10" in line


@pytest.mark.parametrize("logger_name,message", [
    ("reflex_base.event.processor.event_processor",
     f"Error processing event queue entry for Event(token='t', name='x.y', payload={{'password': '{SECRET}'}}) "
     "[txid=1]:"),
    ("engineio.server", "message async handler error"),
])
def test_reflex_and_socketio_failures_are_one_line_without_the_event_data(logs, logger_name, message):
    event_errors.install()
    try:
        raise KeyError(f"No registered handler found for event: {SECRET}")
    except KeyError:
        logging.getLogger(logger_name).exception(message)
    line = _only_line(logs)
    assert "event failed: handler=unknown reason=KeyError" in line


def test_quoted_event_data_in_a_warning_is_cut_off(logs):
    event_errors.install()
    logging.getLogger("reflex.app").warning(
        f"Received event data as a string. This generally should not happen. Event data: {{'x': '{SECRET}'}}")
    assert "(data not logged)" in _only_line(logs)


def test_tracebacks_can_be_kept_for_a_developer(logs, monkeypatch):
    monkeypatch.setenv("PORTAL_LOG_TRACEBACKS", "1")
    event_errors.backend_exception_handler(_raised(int, "x"))
    assert "Traceback" in logs.text


def test_the_app_uses_this_handler():
    from portal_app.portal_app import app

    assert app.backend_exception_handler is event_errors.backend_exception_handler
