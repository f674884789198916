"""The "New patient" form: a chart typed in by staff, for a practice without an export.

The form has the import's fields (`patient_records.FIELDS`, without Deceased) and ends in the same
`patient_records.upsert` (its rules, its audit `chart.create` with `source=form`, the automatic
access rules), with two differences that suit a person typing rather than an EHR sending:

- it only creates: a chart number that already exists is refused beside the field instead of
  updating that chart (an import's upsert would quietly overwrite someone else's chart);
- a probable duplicate (same last name, first name and date of birth under another chart number)
  is refused until the user confirms, naming the other chart(s); the confirmation is audited.

Every field is checked before anything is written, so a form with a bad date and a bad email gets
both messages at once (`FormInvalid.errors`, keyed by the record's field names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal_app.models import Patient
from portal_app.services import audit, clock, patient_records
from portal_app.services.errors import FormInvalid, InvalidInput
from portal_app.services.onboarding import sort_key
from portal_app.services.patient_records import FIELDS, PatientRecord

SOURCE = patient_records.FORM_SOURCE
# The choices of the Sex select ("" = not recorded); an import keeps whatever the EHR sends.
SEX_CHOICES = ("Female", "Male", "Other", "Unknown")
# The import's fields on this form, in the order staff see them (Deceased comes only from the EHR).
FORM_FIELDS = tuple(key for key in FIELDS if key != "deceased")
DATE_FIELDS = ("dob", "last_visit")
CONSENT_FIELDS = ("allow_email", "allow_sms")
TEXT_FIELDS = tuple(key for key in FORM_FIELDS if key not in DATE_FIELDS + CONSENT_FIELDS)
DUPLICATE_FIELD = "duplicate"
MAX_DUPLICATES_NAMED = 5

_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})")


@dataclass(frozen=True)
class NewPatientForm:
    """What staff typed: text as typed, the two consent boxes ticked or not (off unless ticked)."""

    chart_number: str = ""
    first_name: str = ""
    middle_name: str = ""
    last_name: str = ""
    preferred_name: str = ""
    sex: str = ""
    dob: str = ""
    email: str = ""
    mobile_phone: str = ""
    home_phone: str = ""
    address: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    allow_email: bool = False
    allow_sms: bool = False
    last_visit: str = ""
    # Chart numbers the user confirmed belong to other people (after a probable-duplicate question).
    different_from: tuple[str, ...] = ()


class ProbableDuplicate(InvalidInput):
    """Another chart has the same last name, first name and date of birth: ask before creating."""

    def __init__(self, chart_numbers: list[str]) -> None:
        self.chart_numbers = chart_numbers
        holds = "already has a patient" if len(chart_numbers) == 1 else "already have patients"
        super().__init__(f"{_charts_phrase(chart_numbers)} {holds} with this name and date of birth. If this "
                         "is a different person, tick the box to confirm and save again.", field=DUPLICATE_FIELD)


@dataclass(frozen=True)
class Created:
    patient_id: int
    chart_number: str
    notes: tuple[str, ...] = ()

    @property
    def notice(self) -> str:
        return " ".join((f"Chart {self.chart_number} created.", *self.notes))


def _charts_phrase(chart_numbers: list[str]) -> str:
    if len(chart_numbers) == 1:
        return f"Chart {chart_numbers[0]}"
    return "Charts " + ", ".join(chart_numbers[:-1]) + f" and {chart_numbers[-1]}"


def taken_message(chart_number: str) -> str:
    return f"Chart number {chart_number} is already in use."


def parse_date(text: str, *, key: str, today: date) -> date | None:
    """A typed date (MM/DD/YYYY, M/D/YY or YYYY-MM-DD, as the import reads them), None when empty.

    A two-digit year is the most recent one that is not in the future (birth and visit dates
    never are). An impossible date (02/30/1990) is refused, never moved to a nearby day.
    """
    raw = text.strip()
    if not raw:
        return None
    label = FIELDS[key]
    iso, us = _ISO.fullmatch(raw), _US.fullmatch(raw)
    if iso:
        year, month, day = (int(part) for part in iso.groups())
    elif us:
        month, day, year = (int(part) for part in us.groups())
        if len(us.group(3)) == 2:
            year = _full_year(year, month, day, today)
    else:
        raise InvalidInput(f"Enter {label.lower()} as MM/DD/YYYY (for example 04/27/1986).", field=key)
    found = _real_date(year, month, day)
    if found is None:
        raise InvalidInput(f"{label} {raw} is not a real date.", field=key)
    return found


def _full_year(short: int, month: int, day: int, today: date) -> int:
    """20YY unless that day is still to come, then 19YY."""
    this_century = _real_date(2000 + short, month, day)
    return 1900 + short if this_century is not None and this_century > today else 2000 + short


def _real_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _text_error(key: str, value: str) -> str:
    """The import's own check of one text field (patient_records.clean), or ""."""
    record = PatientRecord(chart_number=value) if key == "chart_number" else \
        PatientRecord(chart_number="-", **{key: value})  # type: ignore[arg-type]
    try:
        patient_records.clean(record)
    except InvalidInput as refused:
        return refused.message
    return ""


def check(form: NewPatientForm, *, today: date | None = None) -> PatientRecord:
    """The record the form describes, or FormInvalid with a message for every field in error."""
    today = today or clock.now().date()
    errors: dict[str, str] = {}
    for key in TEXT_FIELDS:
        if message := _text_error(key, getattr(form, key)):
            errors[key] = message
    if form.sex.strip() and form.sex.strip() not in SEX_CHOICES:
        errors["sex"] = "Choose the patient's sex from the list."
    dates: dict[str, date | None] = {}
    for key in DATE_FIELDS:
        try:
            dates[key] = parse_date(getattr(form, key), key=key, today=today)
        except InvalidInput as refused:
            errors[key] = refused.message
    for key in patient_records.REQUIRED_FOR_NEW:
        typed = getattr(form, key)
        if key not in errors and not typed.strip():
            errors[key] = f"{FIELDS[key]} is required."
    if not errors:
        text = {key: getattr(form, key) for key in TEXT_FIELDS}
        record = PatientRecord(**text, dob=dates["dob"], last_visit=dates["last_visit"],
                               allow_email=form.allow_email, allow_sms=form.allow_sms)
        try:  # dates in the future or before 1880: the import's own range check
            return patient_records.clean(record, today=today)
        except InvalidInput as refused:
            errors[refused.field or "form"] = refused.message
    # In the form's order, so the first message is about the first field in error.
    order = {key: index for index, key in enumerate(FORM_FIELDS)}
    raise FormInvalid(dict(sorted(errors.items(), key=lambda item: order.get(item[0], len(order)))))


def probable_duplicates(*, session: Session, record: PatientRecord) -> list[str]:
    """Chart numbers of live charts (not merged away) with the record's last name, first name
    (case and spacing aside) and date of birth, under another chart number."""
    key = sort_key(record.last_name or "", record.first_name or "")
    query = (select(Patient.chart_number)
             .where(col(Patient.dob) == record.dob, col(Patient.sort_key) == key,
                    col(Patient.chart_number) != record.chart_number, col(Patient.merged_into_id).is_(None))
             .order_by(col(Patient.chart_number)).limit(MAX_DUPLICATES_NAMED))
    return list(session.exec(query).all())


def create(*, session: Session, form: NewPatientForm, actor: audit.Actor) -> Created:
    """Create the chart the form describes and commit.

    Raises:
        FormInvalid: one or more fields are not acceptable (`errors` by field).
        InvalidInput: the chart number is already in use (`field="chart_number"`).
        ProbableDuplicate: another chart looks like the same person and was not confirmed.
    """
    record = check(form)
    if patient_records.find(session=session, chart_number=record.chart_number) is not None:
        raise InvalidInput(taken_message(record.chart_number), field="chart_number")
    duplicates = probable_duplicates(session=session, record=record)
    unconfirmed = [number for number in duplicates if number not in form.different_from]
    if unconfirmed:
        raise ProbableDuplicate(duplicates)
    try:
        with session.begin_nested():
            outcome = patient_records.upsert(session=session, record=record, actor=actor, source=SOURCE)
            if outcome.kind != "new" or outcome.patient_id is None:
                # The number was taken between our look and the write: never update that chart.
                raise InvalidInput(taken_message(record.chart_number), field="chart_number")
    except IntegrityError:  # another session created the same chart number at the same moment
        raise InvalidInput(taken_message(record.chart_number), field="chart_number") from None
    if duplicates:
        audit.record(session=session, actor=actor, action="chart.duplicate_confirmed", patient_id=outcome.patient_id,
                     detail=f"source={SOURCE}; confirmed a different person from chart(s) {', '.join(duplicates)}")
    session.commit()
    return Created(outcome.patient_id, record.chart_number, outcome.notes)


def form_from(values: dict[str, str], *, ticked: set[str], different_from: tuple[str, ...] = ()) -> NewPatientForm:
    """A NewPatientForm from submitted text `values` (by field key) and the ticked consent boxes."""
    text = {item.name: values.get(item.name, "") for item in fields(NewPatientForm)
            if item.name not in CONSENT_FIELDS and item.name != "different_from"}
    return NewPatientForm(**text, allow_email="allow_email" in ticked, allow_sms="allow_sms" in ticked,
                          different_from=different_from)
