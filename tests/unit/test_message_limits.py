"""Limits on what anyone, unsigned, can make the portal send (services/message_limits.py) and the
countries texts may go to (services/sms_countries.py, a Portal Settings list)."""

from __future__ import annotations

from datetime import timedelta

import phonenumbers
import pytest

from portal_app.models import PracticeSettings
from portal_app.services import message_limits, settings, sms_countries
from portal_app.services.errors import FormInvalid, InvalidInput
from portal_app.services.message_limits import Decision
from tests.unit.conftest import START


def _take(destination: str = "pat@example.com", ip: str = "10.0.0.5", channel: str = "email") -> Decision:
    return message_limits.take(channel=channel, destination=destination, ip=ip)


def test_the_same_address_ten_times_sends_once(frozen_clock):
    answers = []
    for n in range(10):
        frozen_clock(START + timedelta(seconds=n))
        answers.append(_take())
    assert answers == [Decision(True)] + [Decision(False)] * 9  # quiet repeats: nothing to show, nothing sent


def test_an_address_gets_at_most_three_an_hour_and_five_a_day(frozen_clock):
    sent = []
    for minute in range(0, 60, 2):
        frozen_clock(START + timedelta(minutes=minute))
        sent.append(_take().send)
    assert sum(sent) == 3
    frozen_clock(START + timedelta(minutes=59))
    refused = _take()
    assert not refused.send
    assert refused.message == message_limits.TOO_MANY_TO_ADDRESS.format(what="this address")
    for hour in range(1, 24):
        frozen_clock(START + timedelta(hours=hour, minutes=5))
        sent.append(_take().send)
    assert sum(sent) == 5
    frozen_clock(START + timedelta(days=1, minutes=10))
    assert _take().send  # a new day


def test_a_number_is_named_as_a_number(frozen_clock):
    for minute in range(0, 8, 2):
        frozen_clock(START + timedelta(minutes=minute))
        last = _take("+12015550123", channel="sms")
    assert last.message == message_limits.TOO_MANY_TO_ADDRESS.format(what="this number")


def test_one_network_gets_at_most_twenty_an_hour(frozen_clock):
    answers = [_take(f"person{n}@example.com") for n in range(21)]
    assert [a.send for a in answers] == [True] * 20 + [False]
    assert answers[-1].message == message_limits.TOO_MANY_FROM_IP
    assert _take("person99@example.com", ip="10.0.0.6").send  # another network is not affected


def test_the_daily_cap_over_everyone(frozen_clock, monkeypatch):
    monkeypatch.setitem(message_limits.DAILY_CAP, "sms", 3)
    answers = [_take(f"+1201555{n:04d}", ip=f"10.0.{n}.1", channel="sms") for n in range(4)]
    assert [a.send for a in answers] == [True, True, True, False]
    assert answers[-1].message == message_limits.DAILY_CAP_REACHED
    assert _take("someone@example.com").send  # email has its own cap


def test_a_refused_request_is_not_counted(frozen_clock):
    for n in range(20):
        _take(f"person{n}@example.com")
    for _ in range(5):
        assert not _take("victim@example.com").send
    assert _take("victim@example.com", ip="10.0.0.6").send


# --- countries for texts ------------------------------------------------------------------------

def test_country_codes_are_checked_and_stored_plainly():
    assert sms_countries.parse_countries(" us, ca;mx US") == "US,CA,MX"
    with pytest.raises(InvalidInput) as caught:
        sms_countries.parse_countries("US, XX")
    assert caught.value.field == "sms_countries"
    assert "XX" in caught.value.message
    with pytest.raises(InvalidInput):
        sms_countries.parse_countries(" , ")
    assert sms_countries.country_names("US,CA,GB") == "the United States, Canada or the United Kingdom"


def test_a_number_abroad_is_refused_beside_the_field_by_default(session):
    message_limits.check_text_country(session=session, user_id="+12015550123")
    message_limits.check_text_country(session=session, user_id="pat@example.co.uk")
    with pytest.raises(InvalidInput) as caught:
        message_limits.check_text_country(session=session, user_id="+447400123456")
    assert caught.value.field == "user_id"
    assert caught.value.message == (
        "We can send text messages only to numbers in the United States. Enter your email address instead, "
        "or call the practice at (555) 010-0100.")
    with pytest.raises(InvalidInput):
        message_limits.check_text_country(session=session, user_id="+33612345678")
    # +1 is not one country: Jamaica and the other +1 islands are a classic text-pumping target.
    jamaica = phonenumbers.example_number_for_type("JM", phonenumbers.PhoneNumberType.MOBILE)
    with pytest.raises(InvalidInput):
        message_limits.check_text_country(
            session=session, user_id=phonenumbers.format_number(jamaica, phonenumbers.PhoneNumberFormat.E164))


def test_the_practice_chooses_the_countries(session, admin):
    view = settings.update(session=session, actor_id=admin.id, portal_active=True, practice_name="Riverside",
                           practice_phone="(555) 010-0100", portal_base_url="http://localhost:3000",
                           sender_address="portal@example.org", invitation_hours=72, reset_minutes=60,
                           sms_countries="us, gb")
    assert view.sms_countries == "US,GB"
    assert session.get(PracticeSettings, 1).sms_countries == "US,GB"
    message_limits.check_text_country(session=session, user_id="+447400123456")
    with pytest.raises(InvalidInput):
        message_limits.check_text_country(session=session, user_id="+33612345678")
    with pytest.raises(FormInvalid) as caught:
        settings.update(session=session, actor_id=admin.id, portal_active=True, practice_name="Riverside",
                        practice_phone="(555) 010-0100", portal_base_url="http://localhost:3000",
                        sender_address="portal@example.org", invitation_hours=72, reset_minutes=60,
                        sms_countries="England")
    assert set(caught.value.errors) == {"sms_countries"}
    # Left out, the stored list stays.
    assert settings.update(session=session, actor_id=admin.id, portal_active=True, practice_name="Riverside",
                           practice_phone="(555) 010-0100", portal_base_url="http://localhost:3000",
                           sender_address="portal@example.org", invitation_hours=72,
                           reset_minutes=60).sms_countries == "US,GB"


def test_a_repeat_is_quiet_only_on_the_same_form(frozen_clock):
    assert _take().send
    assert message_limits.take(channel="email", destination="pat@example.com", ip="10.0.0.5",
                               purpose="forgot-password").send  # "Forgot password" right after Create Account
    assert not message_limits.take(channel="email", destination="pat@example.com", ip="10.0.0.5",
                                   purpose="forgot-password").send


def test_an_office_network_is_not_capped_per_address_but_each_destination_is(frozen_clock, monkeypatch):
    monkeypatch.setenv("PORTAL_OFFICE_NETWORKS", "10.0.0.0/24")
    answers = [_take(f"person{n}@example.com", ip="10.0.0.5") for n in range(30)]
    assert all(a.send for a in answers)  # a kiosk in the waiting room helps thirty patients
    assert not _take("person0@example.com", ip="10.0.0.5").send  # the same address again: still limited
