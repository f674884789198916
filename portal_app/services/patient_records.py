"""Charts from the practice's EHR: one record shape for every source (CSV, FHIR, HL7 ADT, the
"New patient" form), its checks, and the upsert keyed on the chart number.

A record's optional fields are None when the source did not carry them (the chart keeps what it
has) and "" when the source says the value is empty. Every applied change is audited old -> new;
the automatic access rules (`access_rules`) run after each applied record.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from functools import lru_cache, partial
from operator import itemgetter
from typing import Any

import phonenumbers
from phonenumbers import PhoneNumber
from sqlalchemy import Table, bindparam, insert, inspect
from sqlmodel import Session, col, select

from portal_app.models import AuditEvent, ChartAccountState, ChartAdoption, Patient, ident
from portal_app.services import access_rules, audit, audit_chain, clock, queue
from portal_app.services.adoption import facts
from portal_app.services.errors import InvalidInput
from portal_app.services.onboarding import sort_key
from portal_app.services.validation import BIDI_CONTROLS, clean_text, normalize_email, normalize_phone, strip_bidi

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
# EHRs use anything from "12345" to a 36-character UUID (Synthea, many FHIR servers).
CHART_NUMBER_MAX = 64
FORM_SOURCE = "form"  # the New patient form: what staff type is checked strictly
REQUIRED_FOR_NEW = ("chart_number", "first_name", "last_name", "dob")

# Record field -> Patient column, where the names differ.
_COLUMN = {"address": "address_line1", "state": "region", "last_visit": "last_visit_on"}
_TEXT_LIMITS = {"chart_number": CHART_NUMBER_MAX, "first_name": 100, "middle_name": 100, "last_name": 100,
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


_RECORD_FIELDS = tuple(item.name for item in fields(PatientRecord))


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


def clean(record: PatientRecord, *, region: str = "US", today: date | None = None,
          phones_as_written: bool = False) -> PatientRecord:
    """The record with text trimmed and phones in E.164 (the chart's storage form), or
    InvalidInput naming the field (`field=` the record field's key).

    `phones_as_written`: for the EHR's own data (imports, the ADT feed). A number that is not a
    real one (555-907-9875, a foreign number without its country code) is kept exactly as the EHR
    has it rather than refusing the whole chart; nothing is ever texted to it (every text
    re-checks the number), and the chart shows it as written. A value that is not a phone number
    at all is still refused. Staff typing a number (the New patient form) get the strict check."""
    today = today or clock.now().date()
    record = _without_bidi(record)
    values: dict[str, object] = {}
    for key, limit in _TEXT_LIMITS.items():
        value = getattr(record, key)
        if value is not None:
            values[key] = clean_text(value, field=key, label=FIELDS[key], max_length=limit,
                                     required=key == "chart_number")
    if record.email is not None:
        text = record.email.strip()
        _check_email(text)  # refuses what cannot receive mail
        values["email"] = text
    for key in ("mobile_phone", "home_phone"):
        value = getattr(record, key)
        if value is not None:
            values[key] = _phone(value, field=key, region=region, as_written=phones_as_written)
    _check_date(record.dob, key="dob", today=today)
    _check_date(record.deceased_on, key="deceased", today=today)
    _check_date(record.last_visit, key="last_visit", today=today)
    return replace(record, **values)  # type: ignore[arg-type]


def _without_bidi(record: PatientRecord) -> PatientRecord:
    """The record with bidirectional controls removed from every text field (emails and phones
    too: an invisible mark must not refuse a chart or hide in a stored address)."""
    changed = {name: strip_bidi(value) for name in _RECORD_FIELDS
               if isinstance(value := getattr(record, name), str) and BIDI_CONTROLS.search(value)}
    return replace(record, **changed) if changed else record  # type: ignore[arg-type]


# The common spellings, checked without the validators' full parse (an import checks hundreds of
# thousands): a plain dot-atom address (its domain checked once by email-validator, then cached)
# and a North American number in any usual punctuation (checked by phonenumbers' own metadata).
_PLAIN_EMAIL = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_NANP = re.compile(r"(?:\+?1[ .-]?)?(?:\(([2-9]\d\d)\)|([2-9]\d\d))[ .-]?(\d{3})[ .-]?(\d{4})")


@lru_cache(maxsize=4096)
def _domain_refusal(domain: str) -> str:
    """email-validator's reason for refusing addresses at `domain` ("" when it takes them)."""
    try:
        normalize_email(f"a@{domain}", field="email", required=False)
    except InvalidInput as refused:
        return refused.message
    return ""


def _check_email(text: str) -> None:
    plain = _PLAIN_EMAIL.fullmatch(text)
    if plain is None or len(text) > 254 or text.index("@") > 64:
        normalize_email(text, field="email", required=False)
        return
    reason = _domain_refusal(plain[1].lower())
    if reason:
        raise InvalidInput(reason, field="email")


def _descs() -> list[tuple[frozenset[int], re.Pattern[str]]]:
    """phonenumbers' US number types (its own metadata): the lengths and pattern of each."""
    us = phonenumbers.PhoneMetadata.metadata_for_region("US")
    if us is None:  # (phonenumbers always ships the US)
        return []
    types = (us.premium_rate, us.toll_free, us.shared_cost, us.voip, us.personal_number, us.pager, us.uan,
             us.voicemail, us.fixed_line, us.mobile)
    return [(frozenset(desc.possible_length), re.compile(desc.national_number_pattern))
            for desc in types if desc is not None and desc.national_number_pattern]


_US_META = phonenumbers.PhoneMetadata.metadata_for_region("US")
_US_GENERAL = re.compile(_US_META.general_desc.national_number_pattern or "" if _US_META and _US_META.general_desc
                         else r"(?!)")
_US_TYPES = _descs()


def _valid_in_us(digits: str) -> bool:
    """`phonenumbers.is_valid_number_for_region(+1 digits, "US")`, as that library decides it
    (the general pattern, then one of the number types), without its per-call overheads."""
    if not _US_GENERAL.fullmatch(digits):
        return False
    return any((not lengths or len(digits) in lengths) and pattern.fullmatch(digits) for lengths, pattern in _US_TYPES)


_PHONE_AS_WRITTEN = re.compile(r"[0-9+()./ -]{4,20}")


def _phone(value: str, *, field: str, region: str, as_written: bool = False) -> str:
    """`normalize_phone`, quicker for a US number written (512) 555-0142, 512.555.0142, +1 512...
    With `as_written`, an invalid number made of phone characters comes back trimmed, as written."""
    try:
        return _valid_phone(value, field=field, region=region)
    except InvalidInput:
        text = value.strip()
        if as_written and _PHONE_AS_WRITTEN.fullmatch(text) and sum(c.isdigit() for c in text) >= 4:
            return text
        raise


def _valid_phone(value: str, *, field: str, region: str) -> str:
    text = value.strip()
    nanp = _NANP.fullmatch(text) if region == "US" else None
    if nanp is None:
        return normalize_phone(value, field=field, region=region, required=False)
    digits = (nanp[1] or nanp[2]) + nanp[3] + nanp[4]
    # A valid US number is valid; only the rest needs the search through every +1 country.
    if not (_valid_in_us(digits)
            or phonenumbers.is_valid_number(PhoneNumber(country_code=1, national_number=int(digits)))):
        raise InvalidInput("That phone number is not valid.", field=field)
    return "+1" + digits


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


# (record field, Patient column) for every field but the chart number, worked out once: `_given`
# runs for every imported row.
_GIVEN_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (item.name, _COLUMN.get(item.name, item.name)) for item in fields(PatientRecord) if item.name != "chart_number")


def _given(record: PatientRecord) -> dict[str, object]:
    """Patient column -> value for every field the source carried."""
    given: dict[str, object] = {}
    for name, column in _GIVEN_COLUMNS:
        value = getattr(record, name)
        if value is not None:
            given[column] = value
    return given


# Patient column -> the label a change of it is shown with.
_LABELS = {_COLUMN.get(key, key): label for key, label in FIELDS.items()} | {"deceased_on": "Date of death"}


def diff(patient: Patient, record: PatientRecord) -> tuple[Change, ...]:
    """What applying `record` would change on `patient` (a cleaned record)."""
    labels = _LABELS
    return tuple(Change(column, labels.get(column, column), shown(getattr(patient, column)), shown(value))
                 for column, value in _given(record).items() if getattr(patient, column) != value)


# Built once: every upsert (each ADT message) looks its chart up, and building the select cost
# about as much as running it.
_FIND = select(Patient).where(col(Patient.chart_number) == bindparam("chart_number"))


def find(*, session: Session, chart_number: str) -> Patient | None:
    return session.exec(_FIND, params={"chart_number": chart_number}).first()


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
    # The EHR's own data keeps a number that is not a real one; staff typing one get the strict check.
    record = clean(record, region=region, phones_as_written=source != FORM_SOURCE)
    patient = find(session=session, chart_number=record.chart_number)
    if patient is None:
        return _create(session, record, actor, source, dry_run)
    return _update(session, patient, record, actor, source, dry_run)


def _update(session: Session, patient: Patient, record: PatientRecord, actor: audit.Actor, source: str,
            dry_run: bool) -> Outcome:
    """Apply a cleaned record to its existing chart (or, on a dry run, say what would change)."""
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


def _missing(record: PatientRecord) -> InvalidInput | None:
    missing = [key for key in REQUIRED_FOR_NEW if getattr(record, key) in (None, "")]
    if not missing:
        return None
    return InvalidInput("A new chart needs " + ", ".join(FIELDS[key] for key in missing) + ".", field=missing[0])


def _create(session: Session, record: PatientRecord, actor: audit.Actor, source: str, dry_run: bool) -> Outcome:
    refused = _missing(record)
    if refused is not None:
        raise refused
    if dry_run:
        return Outcome("new", None)
    # One Core INSERT: no Patient object is built or flushed (each ADT A04 registers one chart).
    session.flush()  # (what the session holds goes first, as an ORM insert's flush would)
    key = session.connection().execute(_INSERT_PATIENT, _new_row(record, clock.now())).inserted_primary_key
    patient_id = ident(key[0] if key else None)
    facts.note_created(session, patient_id)
    audit.record(session=session, actor=actor, action="chart.create", patient_id=patient_id, detail=f"source={source}")
    return Outcome("new", patient_id, notes=tuple(_rules_for_new(session, patient_id, record, actor)))


def _rules_for_new(session: Session, patient_id: int, record: PatientRecord, actor: audit.Actor) -> list[str]:
    """The access rules for a new chart: only a deceased one can concern them (a new chart has
    no access, link or account yet otherwise)."""
    if not record.deceased:
        return []
    patient = session.get(Patient, patient_id)
    if patient is None:
        return []
    return access_rules.after_change(session=session, patient=patient, changed=set(_given(record)), old={},
                                     actor=actor)


def _new_row(record: PatientRecord, now: datetime) -> dict[str, object]:
    """A new chart's Patient row (every column: the model's defaults where the source is silent)."""
    row = {**_NEW_DEFAULTS, **_given(record), "chart_number": record.chart_number, "created_at": now,
           "updated_at": now}
    if record.allow_email is None:
        row["allow_email"] = bool(row["email"])
    row["email_lower"] = str(row["email"]).lower()
    row["sort_key"] = sort_key(str(row["last_name"]), str(row["first_name"]))
    return row


# Patient columns a new chart gets when the source does not say (the model's defaults).
_NEW_DEFAULTS: dict[str, object] = {
    "middle_name": "", "preferred_name": "", "sex": "", "email": "", "mobile_phone": "", "home_phone": "",
    "address_line1": "", "city": "", "region": "", "postal_code": "", "allow_sms": False,
    "emergency_contact_name": "", "emergency_contact_phone": "", "pharmacy": "", "allergies": "",
    "portal_enabled": False, "account_state": ChartAccountState.NONE, "deceased": False, "deceased_on": None,
    "last_visit_on": None, "merged_into_id": None, "status_note": "",
}
# (a table model maps one Table)
_PATIENT_TABLE: Table = inspect(Patient).local_table  # type: ignore[assignment]
_INSERT_PATIENT = insert(_PATIENT_TABLE)
# SQLite allows 32,766 bound values a statement; 900 chart numbers a lookup stays far below any limit.
_LOOKUP = 900


def _find_many(session: Session, chart_numbers: list[str]) -> dict[str, Patient]:
    found: dict[str, Patient] = {}
    for start in range(0, len(chart_numbers), _LOOKUP):
        part = chart_numbers[start:start + _LOOKUP]
        for patient in session.exec(select(Patient).where(col(Patient.chart_number).in_(part))):
            found[patient.chart_number] = patient
    return found


# The columns `_current_many` reads: the id, whether the chart was merged, and every imported one.
_CURRENT = ("id", "merged_into_id", *(column for _, column in _GIVEN_COLUMNS))
_ID, _MERGED = 0, 1
_COMPARED = tuple((name, _CURRENT.index(column)) for name, column in _GIVEN_COLUMNS)


def _current_many(session: Session, chart_numbers: list[str]) -> dict[str, tuple[Any, ...]]:
    """Chart number -> the stored values of `_CURRENT` (plain rows: no Patient objects built for
    the charts a re-import leaves unchanged)."""
    # (a table model maps one Table)
    table: Table = inspect(Patient).local_table  # type: ignore[assignment]
    query = table.select().with_only_columns(*(table.c[name] for name in _CURRENT), table.c.chart_number)
    found: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(chart_numbers), _LOOKUP):
        part = chart_numbers[start:start + _LOOKUP]
        for row in session.execute(query.where(table.c.chart_number.in_(part))):
            found[row[-1]] = tuple(row)
    return found


def _same(stored: tuple[Any, ...], record: PatientRecord) -> bool:
    """Whether the chart already has every value the (cleaned) record carries (`diff` is empty)."""
    for name, index in _COMPARED:
        value = getattr(record, name)
        if value is not None and stored[index] != value:
            return False
    return True


def _insert_new(session: Session, records: list[PatientRecord], actor: audit.Actor, source: str) -> list[Outcome]:
    """New charts in bulk INSERTs (patients, their "chart.create" audit events, their adoption
    rows), and the access rules run for those that could concern them (a deceased chart: a new
    chart has no access, link or account yet otherwise)."""
    now = clock.now()
    rows = [_new_row(record, now) for record in records]
    # Not through the session: the adoption rows are built below for exactly these charts.
    bulk_insert(session, inspect(Patient).local_table, rows)
    charts = [record.chart_number for record in records]
    made: dict[str, int] = {}
    for start in range(0, len(charts), _LOOKUP):
        made.update((chart, pid) for pid, chart in session.execute(
            select(col(Patient.id), col(Patient.chart_number)).where(col(Patient.chart_number)
                                                                     .in_(charts[start:start + _LOOKUP]))))
    ids = [made[chart] for chart in charts]
    bulk_insert(session, inspect(AuditEvent).local_table, audit_chain.chain_rows(session.connection(), [
        {"at": now, "actor_type": actor.kind, "staff_user_id": actor.staff_user_id,
         "portal_account_id": actor.portal_account_id, "actor_label": actor.label, "ip": actor.ip[:64],
         "action": "chart.create", "patient_id": pid, "account_id": None, "detail": f"source={source}"}
        for pid in ids]))
    _adoption_rows(session, ids)
    return [Outcome("new", pid, notes=tuple(_rules_for_new(session, pid, record, actor)))
            for pid, record in zip(ids, records, strict=True)]


def _adoption_rows(session: Session, ids: list[int]) -> None:
    """The adoption board's rows for charts just inserted together. `facts.refresh` builds the
    first from its (empty) history; every other chart of the batch has the same empty history
    and the same creation time, so its row is that one with its own patient id (a test checks
    that a full `facts.refresh` afterwards changes none of them)."""
    facts.refresh(session, ids[:1])
    # (a table model maps one Table)
    table: Table = inspect(ChartAdoption).local_table  # type: ignore[assignment]
    first = dict(session.execute(table.select().where(table.c.patient_id == ids[0])).mappings().one())
    if len(ids) > 1:
        bulk_insert(session, table, [{**first, "patient_id": pid} for pid in ids[1:]])


_NOTHING = object()
_INSERTS: dict[tuple[str, str, tuple[str, ...]], tuple[str, list[str], list[Callable[[Any], Any] | None]]] = {}


def bulk_insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT `rows` (dicts with the same keys) in one executemany on the session's connection,
    each value put in its stored form by the column type's own bind processor. A quicker
    `connection.execute(insert(table), rows)` (which spends most of its time per value in Python)."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    keys = tuple(rows[0])
    cache_key = (dialect.name, table.name, keys)
    if cache_key not in _INSERTS:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
        order = list(compiled.positiontup or keys) if compiled.positional else list(keys)
        missing = set(order) - set(keys)
        if missing:
            raise ValueError(f"bulk_insert into {table.name} needs values for {sorted(missing)}")
        processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order]
        _INSERTS[cache_key] = (str(compiled), order, processors)
    sql, order, processors = _INSERTS[cache_key]
    take = itemgetter(*order)
    convert = [(index, process) for index, process in enumerate(processors) if process is not None]
    values = []
    # The same object in a column (the batch's one `now`, an actor's label) is processed once:
    # each column remembers its last value and its stored form.
    last: list[list[Any]] = [[_NOTHING, None] for _ in convert]
    for row in rows:
        cells = list(take(row)) if len(order) > 1 else [take(row)]
        for (index, process), memo in zip(convert, last, strict=True):
            value = cells[index]
            if value is None:
                continue
            if value is not memo[0]:
                memo[0], memo[1] = value, process(value)
            cells[index] = memo[1]
        values.append(cells)
    if dialect.positional:
        connection.exec_driver_sql(sql, [tuple(cells) for cells in values])
    else:
        connection.exec_driver_sql(sql, [dict(zip(order, cells, strict=True)) for cells in values])


def upsert_many(*, session: Session, records: Iterable[PatientRecord], actor: audit.Actor, source: str,
                dry_run: bool = False, region: str = "US") -> list[Outcome | InvalidInput]:
    """`upsert` for a batch (the caller commits once): each record's outcome, or the InvalidInput
    that refused it. A refused record changes nothing.

    Quick for large batches: one lookup per 900 chart numbers, new charts in bulk inserts, a
    savepoint only around each update. A chart number repeated in the batch is applied in turn.
    """
    today = clock.now().date()
    results: list[Outcome | InvalidInput | None] = []
    firsts: list[tuple[int, PatientRecord]] = []
    later: list[tuple[int, PatientRecord]] = []
    seen: set[str] = set()
    for index, record in enumerate(records):
        results.append(None)
        try:
            cleaned = clean(record, region=region, today=today, phones_as_written=True)
        except InvalidInput as refused:
            results[index] = refused
            continue
        (later if cleaned.chart_number in seen else firsts).append((index, cleaned))
        seen.add(cleaned.chart_number)
    current = _current_many(session, [record.chart_number for _, record in firsts])
    new: list[tuple[int, PatientRecord]] = []
    changing: list[tuple[int, PatientRecord]] = []
    for index, record in firsts:
        stored = current.get(record.chart_number)
        if stored is None:
            lacking = _missing(record)
            if lacking is not None or dry_run:
                results[index] = lacking or Outcome("new", None)
            else:
                new.append((index, record))
        elif stored[_MERGED] is None and _same(stored, record):
            results[index] = Outcome("unchanged", stored[_ID])  # (no chart loaded, no savepoint: the common case)
        else:
            changing.append((index, record))
    existing = _find_many(session, [record.chart_number for _, record in changing])
    for index, record in changing:
        results[index] = _guarded(session, dry_run, partial(_update, session, existing[record.chart_number], record,
                                                            actor, source, dry_run))
    if new:
        for (index, _), outcome in zip(new, _insert_new(session, [r for _, r in new], actor, source), strict=True):
            results[index] = outcome
    for index, record in later:
        results[index] = _guarded(session, dry_run, partial(upsert, session=session, record=record, actor=actor,
                                                            source=source, dry_run=dry_run, region=region))
    return [result for result in results if result is not None]


def _guarded(session: Session, dry_run: bool, apply: Callable[[], Outcome]) -> Outcome | InvalidInput:
    """`apply()` in a savepoint (nothing of a refused record stays), or the InvalidInput."""
    try:
        if dry_run:
            return apply()
        with session.begin_nested():
            return apply()
    except InvalidInput as refused:
        return refused
