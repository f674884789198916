"""Read FHIR R4 Patient resources, one `SourceRow` at a time, without holding the file.

Two shapes of file: a JSON Bundle (`fmt="fhir-bundle"`, up to 200 MB, parsed as a stream with
ijson over `entry[].resource`; `line` is the entry's 1-based position) and the NDJSON of a FHIR
Bulk Data `$export` (`fmt="ndjson"`, one resource per line; `line` is the line number). Each
Patient is validated with the `fhir.resources` R4B model; a resource that fails is a refused row
with the validator's first reason and where it is. A resource of any other type (Observation,
Encounter...) is a skipped row. A cut-short or unreadable NDJSON line is a refused row and reading
goes on; a Bundle that stops being JSON ends with one refused row (the entries before it stand).
A JSON file holding one Patient instead of a Bundle is read as entry 1.

How a Patient becomes a `PatientRecord` (None = the resource does not say, so the chart keeps
what it has; "" = the resource says it is empty):

- chart number: the `identifier` whose `type` is v2-0203 `MR`; or, when the practice set a chart
  identifier system (Portal Settings), the identifier with that `system`. None -> refused.
- first, middle, last name: the `official` name, else the `usual`, else the first (a `maiden`
  name only when there is no other): `given[0]`, the further `given`, `family`. Preferred name:
  the `usual` name's `given`, beside an official one.
- date of birth: `birthDate`; a partial date ("1980", "1980-04") is refused, never guessed.
- sex: `gender` female, male, other, unknown -> Female, Male, Other, Unknown (else refused).
- email: `telecom` system `email`. Mobile and home phone: system `phone` (or `sms`) with use
  `mobile`, use `home`.
- address, city, state, postal code: the `home` address, else the first: `line` joined with
  ", ", `city`, `state`, `postalCode`.
- deceased, date of death: `deceasedBoolean`, or `deceasedDateTime` (deceased; its date as written).
- allows email, allows text messages: our extensions `http://portal-app.example/fhir/
  StructureDefinition/allows-email` and `.../allows-text-messages` (valueBoolean).

Names, telecoms and addresses whose `period` has ended, or whose use is `old`, are passed over;
among telecoms the lowest `rank` wins. FHIR has no standard consent flag for email or texts, so
without our extension consent is left as it is.
"""

from __future__ import annotations

import calendar
import codecs
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import IO, Any

import ijson  # type: ignore[import-untyped]
from fhir.resources.R4B.patient import Patient
from pydantic import ValidationError

from portal_app.services import clock
from portal_app.services.importing.rows import SourceRow
from portal_app.services.patient_records import PatientRecord

FORMATS = ("fhir-bundle", "ndjson")
CONSENT_BASE = "http://portal-app.example/fhir/StructureDefinition/"
ALLOWS_EMAIL = CONSENT_BASE + "allows-email"
ALLOWS_TEXTS = CONSENT_BASE + "allows-text-messages"
MR_SYSTEMS = (None, "http://terminology.hl7.org/CodeSystem/v2-0203", "http://hl7.org/fhir/v2/0203")
SEXES = {"female": "Female", "male": "Male", "other": "Other", "unknown": "Unknown"}
MAX_LINE = 16 * 1024 * 1024  # a Patient (even with a photo) is far smaller; beyond this a line is refused unread
MAX_SINGLE = 16 * 1024 * 1024  # a file holding one resource instead of a Bundle is read whole up to this size
_CHUNK = 1024 * 1024


class Refused(ValueError):
    """A resource we cannot take, with the reason in words."""


def read(path: str, *, fmt: str, chart_system: str = "") -> Iterator[SourceRow]:
    """The rows of a FHIR file, in file order.

    Args:
        path: the uploaded file on disk.
        fmt: "fhir-bundle" (a JSON Bundle) or "ndjson" (Bulk Data export, one resource a line).
        chart_system: the identifier system that holds the chart number; "" = the MR identifier.
    """
    if fmt == "ndjson":
        return _read_ndjson(path, chart_system.strip())
    if fmt == "fhir-bundle":
        return _read_bundle(path, chart_system.strip())
    raise ValueError(f"Unknown FHIR format {fmt!r}; expected one of {', '.join(FORMATS)}.")


# --- NDJSON ---------------------------------------------------------------------------------------

def _read_ndjson(path: str, chart_system: str) -> Iterator[SourceRow]:
    with open(path, "rb") as handle:
        for number, raw in _lines(handle):
            if raw is None:
                yield SourceRow(number, error=f"Line {number} is longer than {MAX_LINE // (1024 * 1024)} MB; "
                                "no Patient is that large, so it was not read.")
                continue
            if not raw.strip():
                continue
            try:
                resource = json.loads(raw.decode("utf-8-sig").strip())
            except UnicodeDecodeError:
                yield SourceRow(number, error=f"Line {number} is not UTF-8 text (FHIR JSON always is).")
                continue
            except json.JSONDecodeError as bad:
                yield SourceRow(number, error=f"Line {number} is cut short or is not JSON "
                                f"({bad.msg.lower().removesuffix(' at')} at column {bad.colno}).")
                continue
            except RecursionError:
                yield SourceRow(number, error=f"Line {number} is nested too deeply to be a FHIR resource.")
                continue
            yield from _row(number, resource, chart_system)


def _lines(handle: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) for each line; None instead of the bytes of a line over MAX_LINE,
    whose rest is read past in chunks so memory stays bounded."""
    number = 0
    while True:
        raw = handle.readline(MAX_LINE + 1)
        if not raw:
            return
        number += 1
        if len(raw) <= MAX_LINE or raw.endswith(b"\n"):
            yield number, raw
            continue
        while raw and not raw.endswith(b"\n"):
            raw = handle.readline(_CHUNK)
        yield number, None


# --- Bundle ---------------------------------------------------------------------------------------

def _read_bundle(path: str, chart_system: str) -> Iterator[SourceRow]:
    """Entries as they stream past (ijson builds one entry at a time in C); nothing else is kept."""
    position = 0
    with _json_file(path) as handle:
        try:
            for entry in ijson.items(handle, "entry.item", use_float=True):
                position += 1
                yield from _entry(position, entry, chart_system)
        except (ijson.JSONError, UnicodeDecodeError, RecursionError) as bad:
            yield SourceRow(position + 1, error=_broken(position, bad))
            return
    if position == 0:
        with _json_file(path) as handle:
            top_type = next(ijson.items(handle, "resourceType"), None)
        if top_type != "Bundle":
            yield from _not_a_bundle(path, top_type, chart_system)


@contextmanager
def _json_file(path: str) -> Iterator[IO[bytes]]:
    """The file opened for reading JSON, past a UTF-8 byte order mark if it starts with one."""
    with open(path, "rb") as handle:
        if handle.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:
            handle.seek(0)
        yield handle


def _entry(position: int, entry: object, chart_system: str) -> Iterator[SourceRow]:
    if not isinstance(entry, dict):
        yield SourceRow(position, error=f"Entry {position} of the Bundle is not a resource entry.")
        return
    resource = entry.get("resource")
    if resource is None:  # e.g. a transaction's DELETE: nothing to read
        yield SourceRow(position, skipped=True)
        return
    yield from _row(position, resource, chart_system)


def _broken(position: int, bad: Exception) -> str:
    reason = str(bad).splitlines()[0][:120] if str(bad) else "the file ends too soon"
    if not position:
        return f"The file is not valid JSON ({reason}); nothing in it could be read."
    return (f"The file stops being valid JSON after entry {position} ({reason}); "
            "the entries before that point were read, nothing after it.")


def _not_a_bundle(path: str, top_type: object, chart_system: str) -> Iterator[SourceRow]:
    """A file holding one resource rather than a Bundle: a Patient is read (it is small); any other
    resource is skipped; JSON that is no FHIR resource at all is refused."""
    if top_type == "Patient":
        with open(path, "rb") as handle:
            text = handle.read(MAX_SINGLE + 1).removeprefix(codecs.BOM_UTF8)
        if len(text) > MAX_SINGLE:
            yield SourceRow(1, error="This Patient resource is too large to read.")
            return
        yield from _row(1, json.loads(text), chart_system)
    elif isinstance(top_type, str):
        yield SourceRow(1, skipped=True)
    else:
        yield SourceRow(1, error="This JSON file is not a FHIR Bundle (it has no resourceType).")


# --- One resource ---------------------------------------------------------------------------------

def _row(line: int, resource: object, chart_system: str) -> Iterator[SourceRow]:
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        yield SourceRow(line, error="Not a FHIR resource (it has no resourceType).")
        return
    if resource["resourceType"] != "Patient":
        yield SourceRow(line, skipped=True)
        return
    chart = _chart_as_sent(resource, chart_system)
    try:
        patient = Patient.model_validate(resource)
    except ValidationError as invalid:
        yield SourceRow(line, error=_reason(invalid), chart_number=chart)
        return
    except (ValueError, TypeError) as invalid:  # the model's own checks outside pydantic's
        yield SourceRow(line, error=f"Not a valid FHIR Patient: {str(invalid)[:200]}", chart_number=chart)
        return
    try:
        record = to_record(patient, chart_system=chart_system)
    except Refused as refused:
        yield SourceRow(line, error=str(refused), chart_number=chart)
        return
    yield SourceRow(line, record=record, chart_number=record.chart_number)


_PLAIN = {
    "extra_forbidden": "is not a field of a FHIR Patient",
    "string_pattern_mismatch": "is empty or has characters FHIR does not allow",
    "list_type": "should be a list",
    "missing": "is required",
    "date_from_datetime_parsing": "is not a real date",
    "datetime_from_date_parsing": "is not a real date and time",
}


def _reason(invalid: ValidationError) -> str:
    """The validator's first error, short: "Not a valid FHIR Patient: name[0].given: should be a list"."""
    errors = invalid.errors(include_url=False)
    first = errors[0]
    where = ""
    for part in first["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = _PLAIN.get(first["type"]) or first["msg"].removeprefix("Value error, ")
    if first["type"].startswith(("date", "datetime")) and isinstance(first.get("input"), str):
        message = f"{first['input'][:40]} {message}"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"Not a valid FHIR Patient: {where or 'Patient'}: {message[:160]}{more}"


def _chart_as_sent(resource: dict[str, Any], chart_system: str) -> str:
    """The chart number read from the raw resource, so a refused row can still name its chart."""
    for identifier in resource.get("identifier") or ():
        if not isinstance(identifier, dict) or not isinstance(identifier.get("value"), str):
            continue
        if chart_system:
            matches = identifier.get("system") == chart_system
        else:
            kind = identifier.get("type")
            codings = kind.get("coding") or () if isinstance(kind, dict) else ()
            matches = any(isinstance(coding, dict) and coding.get("code") == "MR" for coding in codings)
        if matches:
            return identifier["value"].strip()[:40]
    return ""


# --- Mapping --------------------------------------------------------------------------------------

def to_record(patient: Patient, *, chart_system: str = "", today: date | None = None) -> PatientRecord:
    """The `PatientRecord` a validated Patient says (the table in this module's docstring).

    Raises:
        Refused: no chart number, a partial birth date, or a gender FHIR does not define.
    """
    today = today or clock.now().date()
    chart = _chart_number(patient, chart_system)
    values: dict[str, Any] = {"dob": _birth_date(patient), "sex": _sex(patient), **_names(patient, today),
                              **_telecoms(patient, today), **_address(patient, today), **_deceased(patient),
                              **_consent(patient)}
    return PatientRecord(chart_number=chart, **values)


def _chart_number(patient: Patient, chart_system: str) -> str:
    for identifier in patient.identifier or ():
        value = (identifier.value or "").strip()
        if identifier.use == "old" or not value:
            continue
        if chart_system:
            if identifier.system == chart_system:
                return value
        elif identifier.type is not None and any(
                coding.code == "MR" and coding.system in MR_SYSTEMS for coding in identifier.type.coding or ()):
            return value
    if chart_system:
        raise Refused(f"No chart number (identifier with system {chart_system}).")
    raise Refused("No chart number (MR identifier).")


def _current(items: Iterable[Any], today: date) -> list[Any]:
    """The items still in use: not `old`, and no `period` that has ended."""
    return [item for item in items if item.use != "old" and not _ended(item.period, today)]


def _ended(period: Any, today: date) -> bool:
    end = period.end if period is not None else None
    if end is None:
        return False
    if isinstance(end, datetime):
        return end < clock.now() if end.tzinfo else end.date() < today
    if isinstance(end, date):
        return end < today
    year, _, month = str(end).partition("-")  # a partial date: "2020" or "2020-04"
    last = date(int(year), int(month or 12), 1)
    return last.replace(day=calendar.monthrange(last.year, last.month)[1]) < today


def _names(patient: Patient, today: date) -> dict[str, str | None]:
    names = _current(patient.name or (), today)
    by_use = {name.use: name for name in reversed(names)}  # the first of each use wins
    chosen = by_use.get("official") or by_use.get("usual") or next(
        (name for name in names if name.use not in ("maiden", "anonymous")), names[0] if names else None)
    if chosen is None:
        return {}
    given = [part.strip() for part in chosen.given or () if part and part.strip()]
    found: dict[str, str | None] = {
        "first_name": given[0] if given else None,
        "middle_name": " ".join(given[1:]) if given else None,
        "last_name": chosen.family.strip() if chosen.family else None,
    }
    usual = by_use.get("usual")
    preferred = " ".join(part.strip() for part in usual.given or () if part and part.strip()) if usual else ""
    if chosen.use == "official" and preferred and preferred != found["first_name"]:
        found["preferred_name"] = preferred
    return found


def _birth_date(patient: Patient) -> date | None:
    value = patient.birthDate
    if value is None or isinstance(value, date):
        return value
    raise Refused(f"Date of birth {value} is only partly known; the chart needs the day, month and year.")


def _sex(patient: Patient) -> str | None:
    if patient.gender is None:
        return None
    sex = SEXES.get(patient.gender.strip().lower())
    if sex is None:
        raise Refused(f"Gender {patient.gender!r} is not a FHIR gender (female, male, other, unknown).")
    return sex


def _telecoms(patient: Patient, today: date) -> dict[str, str]:
    found: dict[str, tuple[int, str]] = {}
    for order, point in enumerate(_current(patient.telecom or (), today)):
        value = (point.value or "").strip()
        if not value:
            continue
        key = None
        if point.system == "email":
            key = "email"
        elif point.system in ("phone", "sms") and point.use == "mobile":
            key = "mobile_phone"
        elif point.system == "phone" and point.use == "home":
            key = "home_phone"
        rank = (point.rank or 10**6) * 1000 + order  # the lowest rank, then the first
        if key is not None and (key not in found or rank < found[key][0]):
            found[key] = (rank, value)
    return {key: value for key, (_rank, value) in found.items()}


def _address(patient: Patient, today: date) -> dict[str, str]:
    addresses = _current(patient.address or (), today)
    chosen = next((address for address in addresses if address.use == "home"), addresses[0] if addresses else None)
    if chosen is None:
        return {}
    return {"address": ", ".join(line.strip() for line in chosen.line or () if line and line.strip()),
            "city": (chosen.city or "").strip(), "state": (chosen.state or "").strip(),
            "postal_code": (chosen.postalCode or "").strip()}


def _deceased(patient: Patient) -> dict[str, Any]:
    if patient.deceasedDateTime is not None:
        when = patient.deceasedDateTime
        on = when.date() if isinstance(when, datetime) else when if isinstance(when, date) else None
        return {"deceased": True, "deceased_on": on}  # a partial date ("2004") says deceased, day unknown
    if patient.deceasedBoolean is not None:
        return {"deceased": bool(patient.deceasedBoolean)}
    return {}


def _consent(patient: Patient) -> dict[str, bool]:
    found: dict[str, bool] = {}
    for extension in patient.extension or ():
        key = {ALLOWS_EMAIL: "allow_email", ALLOWS_TEXTS: "allow_sms"}.get(extension.url or "")
        if key is not None and extension.valueBoolean is not None:
            found[key] = bool(extension.valueBoolean)
    return found
