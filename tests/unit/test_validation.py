"""What people type: emails, phones, user IDs, dates of birth and one-line text."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from portal_app.services import validation
from portal_app.services.errors import InvalidInput

ONE_MB = "a" * (1024 * 1024)


def test_email_is_trimmed_and_lower_cased():
    assert validation.normalize_email("  Maria.Lopez@Example.COM ") == "maria.lopez@example.com"


@pytest.mark.parametrize("value", [
    "a@b.com\r\nBcc: x@y.com",
    "a@b.com\nBcc: x@y.com",
    "a@b.com, x@y.com",
    "a@b.com; x@y.com",
    "Maria <a@b.com>",
    "a@b.com\x00",
    "not-an-email",
    "a@",
    "@b.com",
])
def test_malformed_or_header_injected_email_is_refused(value):
    with pytest.raises(InvalidInput) as info:
        validation.normalize_email(value, field="email")
    assert info.value.field == "email"


def test_one_megabyte_email_is_refused_with_the_field_name():
    with pytest.raises(InvalidInput) as info:
        validation.normalize_email(ONE_MB + "@example.com", field="sender_address")
    assert info.value.field == "sender_address"


def test_empty_email_required_or_optional():
    with pytest.raises(InvalidInput, match="Enter an email"):
        validation.normalize_email("   ")
    assert validation.normalize_email("", required=False) == ""


@pytest.mark.parametrize("raw", ["(201) 555-0123", "201-555-0123", "+1 201 555 0123", "2015550123",
                                 "1 (201) 555-0123"])
def test_us_phone_numbers_become_e164(raw):
    assert validation.normalize_phone(raw) == "+12015550123"


def test_foreign_phone_in_international_form_becomes_e164():
    assert validation.normalize_phone("+44 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize("raw", ["12", "abc", "+1 000 000 0000", "2015550123\x00", "1" * 40])
def test_invalid_phone_is_refused(raw):
    with pytest.raises(InvalidInput) as info:
        validation.normalize_phone(raw, field="mobile")
    assert info.value.field == "mobile"


def test_user_id_is_email_or_phone():
    assert validation.normalize_user_id("Maria@Example.com") == "maria@example.com"
    assert validation.normalize_user_id("(201) 555-0123") == "+12015550123"
    with pytest.raises(InvalidInput, match="email address or a phone number"):
        validation.normalize_user_id("maria lopez")
    with pytest.raises(InvalidInput):
        validation.normalize_user_id("a@b.com\r\nBcc: x@y.com")
    with pytest.raises(InvalidInput) as info:
        validation.normalize_user_id(ONE_MB)
    assert info.value.field == "user_id"


@pytest.mark.parametrize("raw", ["1980-04-02", "04/02/1980", "4/2/1980", " 1980-04-02 "])
def test_dob_accepts_both_formats(raw):
    assert validation.parse_dob(raw) == date(1980, 4, 2)


@pytest.mark.parametrize("raw", ["", "02.04.1980", "1980-13-01", "1879-12-31", ONE_MB, "1980-04-02\x00"])
def test_dob_refuses_bad_dates(raw):
    with pytest.raises(InvalidInput) as info:
        validation.parse_dob(raw)
    assert info.value.field == "dob"


def test_dob_in_the_future_is_refused():
    with pytest.raises(InvalidInput, match="not possible"):
        validation.parse_dob("2030-01-01", today=date(2026, 11, 23))
    assert validation.parse_dob("2026-11-23", today=date(2026, 11, 23)) == date(2026, 11, 23)


def test_clean_text_trims_and_normalizes():
    assert validation.clean_text("  Cafe\u0301  ", field="name", label="Name") == "Caf\u00e9"


@pytest.mark.parametrize("value", ["Maria\x00", "Maria\r\nBcc: x", "line\nbreak", "bell\x07"])
def test_clean_text_refuses_control_characters(value):
    with pytest.raises(InvalidInput, match="not allowed") as info:
        validation.clean_text(value, field="practice_name", label="Practice name")
    assert info.value.field == "practice_name"


def test_clean_text_refuses_one_megabyte():
    with pytest.raises(InvalidInput, match="at most 200 characters"):
        validation.clean_text(ONE_MB, field="name", label="Name")


def test_clean_text_required():
    with pytest.raises(InvalidInput, match="Name is required"):
        validation.clean_text("   ", field="name", label="Name", required=True)
    assert validation.clean_text("", field="name", label="Name") == ""


def test_normalize_mobile_accepts_textable_numbers_and_refuses_landlines_and_toll_free():
    from portal_app.services.validation import normalize_mobile

    assert normalize_mobile("(201) 555-0123") == "+12015550123"
    with pytest.raises(InvalidInput, match="cannot receive text messages") as caught:
        normalize_mobile("+44 20 7946 0958", field="sms")  # a London landline
    assert caught.value.field == "sms"
    with pytest.raises(InvalidInput, match="cannot receive text messages"):
        normalize_mobile("+1 800 555 0199")  # toll-free


def test_demo_phone_numbers_are_valid_mobile_numbers(session):
    from portal_app.models import Patient
    from portal_app.services import demo
    from portal_app.services.validation import normalize_mobile

    demo.generate(session=session, count=40)
    numbers = [p.mobile_phone for p in session.exec(select(Patient)) if p.mobile_phone]
    assert numbers and all(normalize_mobile(n) == n for n in numbers)


def test_one_phone_format_everywhere_the_national_one_for_home_numbers():
    from portal_app.services import charts, validation

    assert validation.phone_label("+15125550100") == "(512) 555-0100"
    assert validation.phone_label("+442079460000") == "+44 20 7946 0000"
    assert validation.phone_label("maria@example.org") == "maria@example.org"  # not a phone: as it is
    assert validation.phone_label("") == "" and validation.phone_label(None) == ""
    assert charts.phone_label is validation.phone_label

@pytest.mark.parametrize("address", ["\U0001f600\U0001f600\U0001f600@example.com", "jos\u00e9@example.com",
                                     "\u0430dmin@example.com"])
def test_an_email_that_cannot_receive_mail_is_refused(address):
    with pytest.raises(InvalidInput, match="cannot receive mail") as caught:
        validation.normalize_email(address, field="username")
    assert caught.value.field == "username"
    assert validation.normalize_email("Jose.Lopez+portal@Example.com") == "jose.lopez+portal@example.com"


# Every bidirectional control: embeddings and overrides, isolates, LRM/RLM, the Arabic letter mark.
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def test_bidi_controls_are_stripped_from_one_line_text():
    assert validation.strip_bidi(f"Ma{BIDI}ria") == "Maria"
    assert validation.clean_text(" \u202eairaM\u202c ", field="first_name", label="First name") == "airaM"
    # Letters of right-to-left scripts stay; only the invisible controls go.
    assert validation.clean_text("\u200fمريم\u200f", field="first_name", label="First name") == "مريم"


def test_a_name_of_only_bidi_controls_is_empty_and_so_missing():
    with pytest.raises(InvalidInput, match="First name is required"):
        validation.clean_text("\u202e\u2066", field="first_name", label="First name", required=True)
