"""The countries whose phone numbers the portal may text from the unsigned forms (a Portal
Settings list, default the practice's own country) and the message a number from elsewhere gets."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import geocoder

from portal_app.services.errors import InvalidInput

DEFAULT_COUNTRIES = "US"
_SPLIT = re.compile(r"[\s,;]+")


def parse_countries(value: str | None, *, field: str = "sms_countries") -> str:
    """A list of two-letter country codes ("US, CA"), checked and stored as "US,CA".

    Raises:
        InvalidInput: empty, or a code that is not a country's.
    """
    codes = [code.upper() for code in _SPLIT.split((value or "").strip()) if code]
    if not codes:
        raise InvalidInput("Enter at least one country code, like US.", field=field)
    unknown = [code for code in codes if code not in phonenumbers.SUPPORTED_REGIONS]
    if unknown:
        raise InvalidInput(f"Not a country code: {', '.join(unknown[:5])[:60]}. Use two-letter codes like US, CA "
                           "or MX, separated by commas.", field=field)
    return ",".join(dict.fromkeys(codes))


def country_names(stored: str) -> str:
    """ "US,CA" -> "the United States or Canada" (for the message a refused number gets)."""
    names = []
    for code in stored.split(","):
        if code in phonenumbers.SUPPORTED_REGIONS:
            name = geocoder.country_name_for_number(phonenumbers.example_number(code) or
                                                    phonenumbers.PhoneNumber(), "en") or code
            names.append(f"the {name}" if name.startswith(("United", "Netherlands", "Philippines")) else name)
    if len(names) <= 1:
        return names[0] if names else "no country"
    return ", ".join(names[:-1]) + " or " + names[-1]


COUNTRY_REFUSED = ("We can send text messages only to numbers in {countries}. Enter your email address "
                   "instead, or call the practice at {phone}.")


def check(user_id: str, *, allowed: str, phone: str, field: str = "user_id") -> None:
    """Refuse (beside `field`) a phone number (E.164) outside `allowed` ("US,CA"); an email address,
    or anything that is not a phone number, passes. `phone` is the practice's, for the message.

    Raises:
        InvalidInput: the number belongs to another country.
    """
    if "@" in user_id or not user_id.startswith("+"):
        return
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(user_id, None))
    except phonenumbers.NumberParseException:
        return  # not a number: the form's own checks refuse it
    codes = (allowed or DEFAULT_COUNTRIES).split(",")
    if region not in codes:
        raise InvalidInput(COUNTRY_REFUSED.format(countries=country_names(",".join(codes)), phone=phone),
                           field=field)
