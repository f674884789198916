"""Charts from the practice's EHR: one record shape for every source (CSV, FHIR, HL7 ADT, the
"New patient" form), its checks, and the upsert keyed on the chart number.

A record's optional fields are None when the source did not carry them (the chart keeps what it
has) and "" when the source says the value is empty. Every applied change is audited old -> new;
the automatic access rules (`access_rules`) run after each applied record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import date

from sqlmodel import Session, col, select

from portal_app.models import Patient, ident
from portal_app.services import access_rules, audit, clock, queue
from portal_app.services.errors import InvalidInput
from portal_app.services.onboarding import sort_key
from portal_app.services.validation import clean_text, normalize_email, normalize_phone

# Our fields, in the order staff see them (mapping step, preview, "New patient" form): key -> label.
FIELDS: dict[str, str] = {
    "chart_number": "Chart number",
    "first_name": "First name",
    "middle_name": "Middle name",
    "last_name": "Last name",
    "preferred_name": "Preferred name",
    "sex": "Sex",
    "dob": "Date of birth",
    "email": "Email",
    "mobile_phone": "Mobile phone",
    "home_phone": "Home phone",
    "address": "Address",
    "city": "City",
    "state": "State",
    "postal_code": "Postal code",
    "allow_email": "Allows email",
    "allow_sms": "Allows text messages",
    "deceased": "Deceased",
    "last_visit": "Last visit date",
}
REQUIRED_FOR_NEW = ("chart_number", "first_name", "last_name", "dob")

# Record field -> Patient column, where the names differ.
_COLUMN = {"address": "address_line1", "state": "region", "last_visit": "last_visit_on"}
_TEXT_LIMITS = {"chart_number": 20, "first_name": 100, "middle_name": 100, "last_name": 100,
                "preferred_name": 100, "sex": 20, "address": 200, "city": 100, "state": 50, "postal_code": 20}


@dataclass(frozen=True)
class PatientRecord:
    chart_number: str
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    preferred_name: str | None = None
    sex: str | None = None
    dob: date | None = None
    email: str | None = None
    mobile_phone: str | None = None
    home_phone: str | None = None
    address: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    allow_email: bool | None = None
    allow_sms: bool | None = None
    deceased: bool | None = None
    deceased_on: date | None = None
    last_visit: date | None = None


@dataclass(frozen=True)
class Change:
    field: str
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class Outcome:
    kind: str  # new, updated, unchanged
    patient_id: int | None  # None on a dry run's new chart
    changes: tuple[Change, ...] = ()
    notes: tuple[str, ...] = ()  # what the automatic rules did ("invitation voided", "access off: deceased")

    def changed_fields(self) -> str:
        return ", ".join(change.label for change in self.changes)


def clean(record: PatientRecord, *, region: str = "US", today: date | None = None) -> PatientRecord:
    """The record with text trimmed and phones in E.164 (the chart's storage form), or
    InvalidInput naming the field (`field=` the record field's key)."""
    today = today or clock.now().date()
    values: dict[str, object] = {}
    for key, limit in _TEXT_LIMITS.items():
        value = getattr(record, key)
        if value is not None:
            values[key] = clean_text(value, field=key, label=FIELDS[key], max_length=limit,
                                     required=key == "chart_number")
    if record.email is not None:
        text = record.email.strip()
        normalize_email(text, field="email", required=False)  # refuses what cannot receive mail
        values["email"] = text
    for key in ("mobile_phone", "home_phone"):
        value = getattr(record, key)
        if value is not None:
            values[key] = normalize_phone(value, field=key, required=False)
    _check_date(record.dob, key="dob", today=today)
    _check_date(record.deceased_on, key="deceased", today=today)
    _check_date(record.last_visit, key="last_visit", today=today)
    return replace(record, **values)  # type: ignore[arg-type]


def _check_date(value: date | None, *, key: str, today: date) -> None:
    if value is not None and (value > today or value.year < 1880):
        raise InvalidInput(f"{FIELDS[key]} {value:%m/%d/%Y} is not possible.", field=key)


def shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.strftime("%m/%d/%Y")
    return str(value)


def _given(record: PatientRecord) -> dict[str, object]:
    """Patient column -> value for every field the source carried."""
    given: dict[str, object] = {}
    for item in fields(record):
        value = getattr(record, item.name)
        if value is None or item.name == "chart_number":
            continue
        given[_COLUMN.get(item.name, item.name)] = value
    return given


def diff(patient: Patient, record: PatientRecord) -> tuple[Change, ...]:
    """What applying `record` would change on `patient` (a cleaned record)."""
    labels = {_COLUMN.get(key, key): label for key, label in FIELDS.items()}
    labels["deceased_on"] = "Date of death"
    return tuple(Change(column, labels.get(column, column), shown(getattr(patient, column)), shown(value))
                 for column, value in _given(record).items() if getattr(patient, column) != value)


def find(*, session: Session, chart_number: str) -> Patient | None:
    return session.exec(select(Patient).where(col(Patient.chart_number) == chart_number)).first()


def upsert(*, session: Session, record: PatientRecord, actor: audit.Actor, source: str,
           dry_run: bool = False, region: str = "US") -> Outcome:
    """Create or update the chart with `record.chart_number` (the caller commits).

    Args:
        record: what the source says about the chart (cleaned here).
        actor: who (staff on the import page, "ADT feed", the command line).
        source: a short word for the audit log ("csv", "fhir", "adt A08", "form").
        dry_run: only say what would happen; nothing is added to the session.

    Raises:
        InvalidInput: a field is not acceptable (`field=` names it), a new chart lacks a required
            field, or the chart was merged into another one.
    """
    record = clean(record, region=region)
    patient = find(session=session, chart_number=record.chart_number)
    if patient is None:
        return _create(session, record, actor, source, dry_run)
    if patient.merged_into_id is not None:
        raise InvalidInput(f"Chart {record.chart_number} was merged into another chart; send the surviving "
                           "chart's number.", field="chart_number")
    changes = diff(patient, record)
    if not changes:
        return Outcome("unchanged", ident(patient))
    if dry_run:
        return Outcome("updated", ident(patient), changes)
    old_sort = patient.sort_key
    for column, value in _given(record).items():
        setattr(patient, column, value)
    patient.email_lower = patient.email.lower()
    patient.sort_key = sort_key(patient.last_name, patient.first_name)
    patient.updated_at = clock.now()
    session.add(patient)
    if patient.sort_key != old_sort:
        queue.follow_chart_name(session=session, patient_id=ident(patient), sort_key=patient.sort_key)
    audit.record(session=session, actor=actor, action="chart.update", patient_id=patient.id,
                 detail=f"source={source}; " + "; ".join(f"{c.label}: {c.old} -> {c.new}" for c in changes))
    notes = access_rules.after_change(session=session, patient=patient, changed={c.field for c in changes},
                                      old={c.field: c.old for c in changes}, actor=actor)
    return Outcome("updated", ident(patient), changes, tuple(notes))


def _create(session: Session, record: PatientRecord, actor: audit.Actor, source: str, dry_run: bool) -> Outcome:
    missing = [key for key in REQUIRED_FOR_NEW if getattr(record, key) in (None, "")]
    if missing:
        raise InvalidInput("A new chart needs " + ", ".join(FIELDS[key] for key in missing) + ".",
                           field=missing[0])
    if dry_run:
        return Outcome("new", None)
    values = {column: value for column, value in _given(record).items()}
    patient = Patient(chart_number=record.chart_number, **values)  # type: ignore[arg-type]
    if record.allow_email is None:
        patient.allow_email = bool(patient.email)
    patient.email_lower = patient.email.lower()
    patient.sort_key = sort_key(patient.last_name, patient.first_name)
    session.add(patient)
    session.flush()
    audit.record(session=session, actor=actor, action="chart.create", patient_id=patient.id, detail=f"source={source}")
    notes = access_rules.after_change(session=session, patient=patient, changed=set(values), old={}, actor=actor)
    return Outcome("new", ident(patient), notes=tuple(notes))


def upsert_many(*, session: Session, records: Iterable[PatientRecord], actor: audit.Actor, source: str,
                dry_run: bool = False, region: str = "US") -> list[Outcome | InvalidInput]:
    """`upsert` for a batch (the caller commits once): each record's outcome, or the InvalidInput
    that refused it. A refused record changes nothing."""
    results: list[Outcome | InvalidInput] = []
    for record in records:
        try:
            with session.begin_nested():
                results.append(upsert(session=session, record=record, actor=actor, source=source,
                                      dry_run=dry_run, region=region))
        except InvalidInput as refused:
            results.append(refused)
    return results
