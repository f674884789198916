"""Cleaning and checking what people type. Raises InvalidInput with the field's name."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from portal_app.services.errors import InvalidInput

MAX_TEXT = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Bidirectional controls: embeddings and overrides (U+202A-202E), isolates (U+2066-2069), the
# left-to-right / right-to-left marks (U+200E, U+200F) and the Arabic letter mark (U+061C). Invisible,
# they reorder what is shown around them: "invoice\u202efdp.exe" reads as "invoiceexe.pdf", a name can
# be made to look like another. Nobody types them on purpose; they are removed wherever text comes in.
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def strip_bidi(value: str) -> str:
    """`value` without bidirectional control characters (names, file names, imported fields)."""
    return BIDI_CONTROLS.sub("", value)


def clean_text(value: str | None, *, field: str, label: str, max_length: int = MAX_TEXT,
               required: bool = False) -> str:
    """Trim a one-line text value; refuse control characters and over-long input."""
    value = strip_bidi(unicodedata.normalize("NFC", value or "")).strip()
    if len(value) > max_length:
        raise InvalidInput(f"{label} must be at most {max_length} characters.", field=field)
    if _CONTROL.search(value) or "\n" in value or "\r" in value:
        raise InvalidInput(f"{label} contains characters that are not allowed.", field=field)
    if required and not value:
        raise InvalidInput(f"{label} is required.", field=field)
    return value


def bounded_text(text: str, *, field: str, limit: int, name: str, missing: str = "", advice: str = "") -> str:
    """`text` (trimmed by the caller), or InvalidInput beside `field`: `missing` when it is empty
    (empty is allowed without one); "<name> can be at most <limit> characters; this one has <n>."
    and `advice` when it is too long."""
    if missing and not text:
        raise InvalidInput(missing, field=field)
    if len(text) > limit:
        raise InvalidInput(f"{name} can be at most {limit:,} characters; this one has {len(text):,}.{advice}",
                           field=field)
    return text


def normalize_email(value: str | None, *, field: str = "email", required: bool = True) -> str:
    """Return the lower-cased, validated address, or '' when optional and empty."""
    raw = (value or "").strip()
    if not raw:
        if required:
            raise InvalidInput("Enter an email address.", field=field)
        return ""
    if len(raw) > 254 or _CONTROL.search(raw) or any(c in raw for c in "\r\n,;<>"):
        raise InvalidInput("Enter a single, valid email address.", field=field)
    try:
        # No SMTPUTF8: a local part outside ASCII (an emoji, an accented letter) is refused, since
        # most mail servers (and our providers) cannot deliver to it.
        result = validate_email(raw, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        if any(ord(char) > 127 for char in raw.split("@", 1)[0]):
            raise InvalidInput("That email address cannot receive mail: use only letters a-z, digits and "
                               ". _ - + before the @.", field=field) from None
        raise InvalidInput(f"That email address is not valid: {exc}", field=field) from None
    return result.normalized.lower()


def normalize_phone(value: str | None, *, field: str = "phone", region: str = "US",
                    required: bool = True) -> str:
    """Return the number in E.164 (+15550100), or '' when optional and empty."""
    raw = (value or "").strip()
    if not raw:
        if required:
            raise InvalidInput("Enter a phone number.", field=field)
        return ""
    if len(raw) > 32 or _CONTROL.search(raw):
        raise InvalidInput("Enter a valid phone number.", field=field)
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidInput("Enter a valid phone number.", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput("That phone number is not valid.", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_label(value: str | None, *, region: str = "US") -> str:
    """A stored phone number (E.164) as people read it, on every page that shows one: the
    practice's national format for its own numbers ((512) 555-0100), international for others
    (+44 20 7946 0000). Anything that is not a phone number comes back as it is."""
    if not value or not value.strip().startswith("+"):
        return value or ""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return value
    home = number.country_code == phonenumbers.country_code_for_region(region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL if home
                                      else phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def normalize_user_id(value: str | None, *, field: str = "user_id") -> str:
    """A portal user ID is an email address or a phone number; both normalized."""
    raw = (value or "").strip()
    if not raw:
        raise InvalidInput("Enter your email address or phone number.", field=field)
    if "@" in raw:
        return normalize_email(raw, field=field)
    if re.fullmatch(r"[\d\s()+.\-]{7,32}", raw):
        return normalize_phone(raw, field=field)
    raise InvalidInput("Enter an email address or a phone number.", field=field)


def parse_dob(value: str | None, *, field: str = "dob", today: date | None = None) -> date:
    """Accept YYYY-MM-DD (the date input's format) or MM/DD/YYYY."""
    raw = (value or "").strip()
    if not raw:
        raise InvalidInput("Enter a date of birth.", field=field)
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            parsed = datetime.strptime(raw, fmt).date()
            break
        except ValueError:
            continue
    else:
        raise InvalidInput("Enter the date of birth as MM/DD/YYYY.", field=field)
    today = today or date.today()
    if parsed > today or parsed.year < 1880:
        raise InvalidInput("That date of birth is not possible.", field=field)
    return parsed


_TEXTABLE = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


def normalize_mobile(value: str | None, *, field: str = "phone", region: str = "US") -> str:
    """A number that can receive text messages, in E.164; a landline gets a clear error."""
    number = normalize_phone(value, field=field, region=region)
    if phonenumbers.number_type(phonenumbers.parse(number)) not in _TEXTABLE:
        raise InvalidInput("That number cannot receive text messages. Enter a mobile number.",
                           field=field)
    return number
