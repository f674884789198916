"""Portal forms: the intake form (prefilled from the chart), consent and health history, and the
rules staff follow to merge an intake form's changes into the chart.

A submitted form becomes one Intake Form item in the queue with one IntakeChange row per answer:
for the intake form only the fields the patient changed (the chart's value then, and the new one);
for consent and history every answer, shown to staff but never merged (`mergeable` False).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from portal_app.models import IntakeChange, Patient, PortalTask, TaskKind, TaskStatus, ident
from portal_app.services import accounts, audit, charts, clock, form_requests, onboarding, queue, settings, validation
from portal_app.services.errors import DomainError, FormInvalid, InvalidInput, NotFound
from portal_app.services.portal_auth import ChartView

# Patient column name -> label, in the order the form shows them.
INTAKE_FIELDS: dict[str, str] = {
    "first_name": "First name",
    "middle_name": "Middle name",
    "last_name": "Last name",
    "preferred_name": "Preferred name",
    "sex": "Sex",
    "email": "Email",
    "mobile_phone": "Mobile phone",
    "home_phone": "Home phone",
    "address_line1": "Street address",
    "city": "City",
    "region": "State",
    "postal_code": "ZIP code",
    "emergency_contact_name": "Emergency contact name",
    "emergency_contact_phone": "Emergency contact phone",
    "pharmacy": "Pharmacy",
    "allergies": "Allergies",
}

SEX_CHOICES = ("Female", "Male", "Other", "Prefer not to say")

CONSENT_TEXT = (
    "I agree to receive examination, diagnosis and treatment from this practice and its clinicians. "
    "I understand that I may ask questions about any treatment before it is given, that I may refuse "
    "or stop a treatment at any time, and that no result can be guaranteed. I understand that the "
    "practice keeps a record of my care, keeps it private as the law requires, and may share it with "
    "those who pay for or take part in my care. This consent stays in effect until I withdraw it in "
    "writing."
)
CONSENT_FIELDS: dict[str, str] = {"signature": "Signed (full name)", "agreed": "I agree"}

HISTORY_FIELDS: dict[str, str] = {
    "conditions": "Conditions",
    "medications": "Medications",
    "surgeries": "Surgeries",
    "family_history": "Family history",
}
MAX_FREE_TEXT = 2000

_LABELS = {"intake": INTAKE_FIELDS, "consent": CONSENT_FIELDS, "history": HISTORY_FIELDS}
_PHONES = {"mobile_phone", "home_phone", "emergency_contact_phone"}
_MULTILINE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ZIP = re.compile(r"\d{5}(-\d{4})?")


class MergeConflict(DomainError):
    """The chart changed since the patient submitted: staff must see both values first."""


@dataclass(frozen=True)
class IntakeChangeRow:
    id: int
    form: str
    field_name: str
    label: str
    chart_value: str
    current_value: str
    new_value: str
    merged: bool
    conflict: bool
    mergeable: bool


@dataclass(frozen=True)
class MergeResult:
    merged: int
    conflicts: int
    # Changes whose value no longer passes the chart's checks (left for staff to look at).
    invalid: int = 0


# ---- cleaning -------------------------------------------------------------------------------

def clean_free_text(value: str | None, *, field: str, label: str, max_length: int = MAX_FREE_TEXT) -> str:
    """Multi-line free text: trimmed, line ends made plain, no control characters."""
    value = unicodedata.normalize("NFC", value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(value) > max_length:
        raise InvalidInput(f"{label} must be at most {max_length} characters.", field=field)
    if _MULTILINE_CONTROL.search(value):
        raise InvalidInput(f"{label} contains characters that are not allowed.", field=field)
    return value


# One cleaner per intake field: (field, label, value) -> the value as the chart stores it.
IntakeCleaner = Callable[[str, str, str | None], str]


def _text(max_length: int, *, required: bool = False) -> IntakeCleaner:
    """A one-line text answer of at most `max_length` characters."""
    def clean(field: str, label: str, value: str | None) -> str:
        return validation.clean_text(value, field=field, label=label, max_length=max_length, required=required)
    return clean


def _sex(field: str, label: str, value: str | None) -> str:
    cleaned = validation.clean_text(value, field=field, label=label, max_length=20)
    if cleaned and cleaned not in SEX_CHOICES:
        raise InvalidInput("Choose an option from the list.", field=field)
    return cleaned


def _email(field: str, _label: str, value: str | None) -> str:
    return validation.normalize_email(value, field=field, required=False)


def _mobile(field: str, _label: str, value: str | None) -> str:
    if not (value or "").strip():
        return ""
    return validation.normalize_mobile(value, field=field)


def _phone(field: str, _label: str, value: str | None) -> str:
    return validation.normalize_phone(value, field=field, required=False)


def _region(field: str, label: str, value: str | None) -> str:
    cleaned = validation.clean_text(value, field=field, label=label, max_length=50)
    return cleaned.upper() if len(cleaned) == 2 else cleaned


def _postal_code(field: str, label: str, value: str | None) -> str:
    cleaned = validation.clean_text(value, field=field, label=label, max_length=20)
    if cleaned and not _ZIP.fullmatch(cleaned):
        raise InvalidInput("Enter a 5-digit ZIP code (or ZIP+4, like 12345-6789).", field=field)
    return cleaned


def _allergies(field: str, label: str, value: str | None) -> str:
    return clean_free_text(value, field=field, label=label, max_length=2000)


_INTAKE_CLEANERS: dict[str, IntakeCleaner] = {
    "first_name": _text(100, required=True),
    "middle_name": _text(100),
    "last_name": _text(100, required=True),
    "preferred_name": _text(100),
    "sex": _sex,
    "email": _email,
    "mobile_phone": _mobile,
    "home_phone": _phone,
    "address_line1": _text(200),
    "city": _text(100),
    "region": _region,
    "postal_code": _postal_code,
    "emergency_contact_name": _text(200),
    "emergency_contact_phone": _phone,
    "pharmacy": _text(300),
    "allergies": _allergies,
}


def clean_intake_value(field: str, value: str | None) -> str:
    """One intake answer checked and normalized as the chart stores it (raises InvalidInput,
    also for a field that is not on the intake form)."""
    cleaner = _INTAKE_CLEANERS.get(field)
    if cleaner is None:
        raise InvalidInput("Unknown field.", field=field)
    return cleaner(field, INTAKE_FIELDS[field], value)


def _same(field: str, a: str, b: str) -> bool:
    """Two stored values of `field` mean the same (emails compare without case)."""
    a, b = (a or "").strip(), (b or "").strip()
    return a.lower() == b.lower() if field == "email" else a == b


def _shown(field: str, stored: str) -> str:
    """How the form shows a stored value (phones as people read them)."""
    return charts.phone_label(stored) if field in _PHONES else stored


# ---- the patient's side ---------------------------------------------------------------------

def intake_values(*, session: Session, patient_id: int) -> dict[str, str]:
    """The intake form prefilled from the chart: {patient column name: value as shown}.

    Raises:
        NotFound: no such chart.
    """
    patient = accounts.get_patient(session=session, patient_id=patient_id)
    return {field: _shown(field, getattr(patient, field) or "") for field in INTAKE_FIELDS}


def _form_task(session: Session, account_id: int, chart: ChartView, form: str, ip: str,
               note: str = "") -> PortalTask:
    subject = form_requests.FORM_LABELS[form_requests.PortalForm(form)] + (f" ({note})" if note else "")
    return queue.file_item(session=session, kind=TaskKind.INTAKE_FORM, account_id=account_id, chart=chart,
                           subject=subject, ip=ip)


def submit_intake(*, session: Session, account_id: int, chart: ChartView, values: dict[str, str],
                  ip: str = "") -> int | None:
    """File the intake form: one item listing only the fields that differ from the chart.

    A field left as the form showed it is unchanged and not checked again (so an odd value already
    in the chart never blocks the form). When nothing changed: if the practice asked for the form,
    an item "Intake form (no changes)" with no changes is filed (the patient confirmed the chart;
    the request closes); otherwise nothing is filed and None is returned.

    Raises:
        FormInvalid: {field: message} for every field that fails its check.
        NotFound: no such chart.
    """
    patient = accounts.get_patient(session=session, patient_id=chart.patient_id)
    errors: dict[str, str] = {}
    changes: list[tuple[str, str, str]] = []
    for field in INTAKE_FIELDS:
        if field not in values:
            continue
        raw = values.get(field) or ""
        stored = getattr(patient, field) or ""
        if raw.strip() in (stored.strip(), _shown(field, stored).strip()):
            continue
        try:
            new = clean_intake_value(field, raw)
        except InvalidInput as exc:
            errors[field] = exc.message
            continue
        if not _same(field, new, stored):
            changes.append((field, stored, new))
    if errors:
        raise FormInvalid(errors)
    requested = any(row.form == "intake" for row in form_requests.open_requests(session=session,
                                                                                patient_id=chart.patient_id))
    if not changes and not requested:
        return None
    task = _form_task(session, account_id, chart, "intake", ip, note="" if changes else "no changes")
    for field, stored, new in changes:
        session.add(IntakeChange(task_id=ident(task), form="intake", field_name=field, chart_value=stored,
                                 new_value=new))
    form_requests.mark_submitted(session=session, patient_id=chart.patient_id, form="intake", task_id=ident(task))
    session.commit()
    return ident(task)


def submit_consent(*, session: Session, account_id: int, chart: ChartView, full_name: str, agreed: bool,
                   ip: str = "") -> int:
    """File the signed consent (typed full name as signature, and "I agree").

    Raises:
        FormInvalid: no name, or the box not ticked.
    """
    errors: dict[str, str] = {}
    try:
        name = validation.clean_text(full_name, field="signature", label="Your full name", max_length=200,
                                     required=True)
    except InvalidInput as exc:
        errors["signature"] = exc.message
        name = ""
    if not agreed:
        errors["agreed"] = "Tick \"I agree\" to sign the consent."
    if errors:
        raise FormInvalid(errors)
    task = _form_task(session, account_id, chart, "consent", ip)
    session.add(IntakeChange(task_id=ident(task), form="consent", field_name="signature", new_value=name))
    today = clock.display(clock.now(), settings.zone(session=session), with_time=False)
    session.add(IntakeChange(task_id=ident(task), form="consent", field_name="agreed", new_value=f"Yes, on {today}"))
    form_requests.mark_submitted(session=session, patient_id=chart.patient_id, form="consent", task_id=ident(task))
    session.commit()
    return ident(task)


def submit_history(*, session: Session, account_id: int, chart: ChartView, values: dict[str, str],
                   ip: str = "") -> int:
    """File the health history (free text answers; at least one).

    Raises:
        FormInvalid: a too-long answer, or every answer empty.
    """
    errors: dict[str, str] = {}
    answers: list[tuple[str, str]] = []
    for field, label in HISTORY_FIELDS.items():
        try:
            answer = clean_free_text(values.get(field), field=field, label=label)
        except InvalidInput as exc:
            errors[field] = exc.message
            continue
        if answer:
            answers.append((field, answer))
    if not errors and not answers:
        errors["conditions"] = "Fill in at least one section (write \"None\" if there is nothing to tell)."
    if errors:
        raise FormInvalid(errors)
    task = _form_task(session, account_id, chart, "history", ip)
    for field, answer in answers:
        session.add(IntakeChange(task_id=ident(task), form="history", field_name=field, new_value=answer))
    form_requests.mark_submitted(session=session, patient_id=chart.patient_id, form="history", task_id=ident(task))
    session.commit()
    return ident(task)


# ---- the staff side: reading and merging ---------------------------------------------------

def _task(session: Session, task_id: int) -> PortalTask:
    task = session.get(PortalTask, task_id)
    if task is None or task.kind != TaskKind.INTAKE_FORM:
        raise NotFound("That form is no longer available.")
    return task


def _mergeable(change: IntakeChange) -> bool:
    return change.form == "intake" and change.field_name in INTAKE_FIELDS


def _conflict(change: IntakeChange, current: str) -> bool:
    return (change.merged_at is None and not _same(change.field_name, current, change.chart_value)
            and not _same(change.field_name, current, change.new_value))


def intake_changes(*, session: Session, task_id: int) -> list[IntakeChangeRow]:
    """The item's answers, each with the chart's current value and whether it conflicts.

    Raises:
        NotFound: no such Intake Form item.
    """
    task = _task(session, task_id)
    patient = session.get(Patient, task.patient_id)
    rows = []
    for change in session.exec(select(IntakeChange).where(IntakeChange.task_id == task_id)
                               .order_by(col(IntakeChange.id))):
        mergeable = _mergeable(change) and patient is not None
        current = (getattr(patient, change.field_name) or "") if mergeable else ""
        rows.append(IntakeChangeRow(
            id=ident(change), form=change.form, field_name=change.field_name,
            label=_LABELS.get(change.form, {}).get(change.field_name, change.field_name),
            chart_value=change.chart_value, current_value=current, new_value=change.new_value,
            merged=change.merged_at is not None, conflict=mergeable and _conflict(change, current),
            mergeable=mergeable))
    return rows


def _apply(session: Session, task: PortalTask, change: IntakeChange, actor: audit.Actor,
           overwrite: bool) -> None:
    """Merge one change (no commit)."""
    if not _mergeable(change):
        raise InvalidInput("This answer is for reading only; it is not merged into the chart.")
    if change.merged_at is not None:
        raise InvalidInput("This change is already in the chart.")
    patient = accounts.get_patient(session=session, patient_id=task.patient_id)
    field = change.field_name
    old = getattr(patient, field) or ""
    conflict = _conflict(change, old)
    if conflict and not overwrite:
        raise MergeConflict(
            f"{INTAKE_FIELDS[field]} changed in the chart since the patient sent this form "
            f"(then: \"{change.chart_value}\", now: \"{old}\"). Choose whether to overwrite it.", field=field)
    new = clean_intake_value(field, change.new_value)
    setattr(patient, field, new)
    if field == "email":
        patient.email_lower = new.lower()
    if field in ("first_name", "last_name"):
        patient.sort_key = onboarding.sort_key(patient.last_name, patient.first_name)
        queue.follow_chart_name(session=session, patient_id=ident(patient), sort_key=patient.sort_key)
    now = clock.now()
    patient.updated_at = now
    change.merged_at = now
    change.merged_by_staff_id = actor.staff_user_id
    session.add(patient)
    session.add(change)
    audit.record(session=session, actor=actor, action="intake.merge", patient_id=patient.id,
                 detail=f"item={task.id}; field={field}; {old!r} -> {new!r}"
                        + ("; overwrote a newer chart value" if conflict else ""))


def merge_change(*, session: Session, task_id: int, change_id: int, actor: audit.Actor,
                 overwrite: bool = False) -> None:
    """Put one changed field into the chart, and commit.

    Raises:
        MergeConflict: the chart's value changed since submission (and is not the new value);
            pass overwrite=True once staff have seen both.
        InvalidInput: the value no longer passes the chart's check, the change is already merged,
            or it is a consent/history answer (never merged).
        NotFound: no such item or change.
    """
    task = _task(session, task_id)
    change = session.get(IntakeChange, change_id)
    if change is None or change.task_id != task.id:
        raise NotFound("That change is no longer available.")
    _apply(session, task, change, actor, overwrite)
    session.commit()


def merge_all(*, session: Session, task_id: int, actor: audit.Actor) -> MergeResult:
    """Merge every unmerged change that does not conflict; conflicts are left for staff.

    Raises:
        NotFound: no such item.
    """
    task = _task(session, task_id)
    patient = accounts.get_patient(session=session, patient_id=task.patient_id)
    merged = conflicts = invalid = 0
    for change in session.exec(select(IntakeChange).where(IntakeChange.task_id == task_id)
                               .order_by(col(IntakeChange.id))).all():
        if not _mergeable(change) or change.merged_at is not None:
            continue
        if _conflict(change, getattr(patient, change.field_name) or ""):
            conflicts += 1
            continue
        try:
            _apply(session, task, change, actor, overwrite=False)
        except InvalidInput:
            invalid += 1
            continue
        merged += 1
    session.commit()
    return MergeResult(merged=merged, conflicts=conflicts, invalid=invalid)


# ---- what the portal pages show ------------------------------------------------------------

@dataclass(frozen=True)
class FormListRow:
    form: str
    label: str
    requested: bool
    requested_on: str
    awaiting_review: bool = False  # sent, and the practice has not marked it reviewed yet
    sent_on: str = ""


def _awaiting_review(session: Session, patient_id: int) -> dict[str, datetime]:
    """Each form's latest copy still pending review, by form label (its item's subject begins
    with the label: "Intake form", "Intake form (no changes)")."""
    found = session.exec(select(PortalTask.subject, PortalTask.created_at)
                         .where(PortalTask.patient_id == patient_id, PortalTask.kind == TaskKind.INTAKE_FORM,
                                PortalTask.status == TaskStatus.PENDING)
                         .order_by(col(PortalTask.created_at))).all()
    sent: dict[str, datetime] = {}
    for label in form_requests.FORM_LABELS.values():
        for subject, created in found:
            if subject == label or subject.startswith(label + " ("):
                sent[label] = created
    return sent


def form_list(*, session: Session, patient_id: int) -> list[FormListRow]:
    """The three forms, each marked when the practice asked for it and it is still open, and
    when a sent copy is awaiting the practice's review."""
    open_ = {row.form: row for row in form_requests.open_requests(session=session, patient_id=patient_id)}
    pending = _awaiting_review(session, patient_id)
    zone = settings.zone(session=session)
    return [FormListRow(form=form.value, label=label, requested=form.value in open_,
                        requested_on=open_[form.value].requested_on if form.value in open_ else "",
                        awaiting_review=label in pending,
                        sent_on=clock.display(pending.get(label), zone))
            for form, label in form_requests.FORM_LABELS.items()]


@dataclass(frozen=True)
class HealthSummary(charts.Contact):
    name: str = ""
    emergency_contact: str = ""
    pharmacy: str = ""
    allergies: str = ""


def health_summary(*, session: Session, patient_id: int) -> HealthSummary:
    """The chart as the portal's Health summary shows it (read-only).

    Raises:
        NotFound: no such chart.
    """
    patient = accounts.get_patient(session=session, patient_id=patient_id)
    names = [patient.first_name, patient.middle_name, patient.last_name]
    name = " ".join(part for part in names if part)
    if patient.preferred_name:
        name += f" (prefers {patient.preferred_name})"
    emergency = patient.emergency_contact_name
    if patient.emergency_contact_phone:
        phone = charts.phone_label(patient.emergency_contact_phone)
        emergency = f"{emergency}, {phone}" if emergency else phone
    return HealthSummary(
        **vars(charts.contact(patient)), name=name, emergency_contact=emergency, pharmacy=patient.pharmacy,
        allergies=patient.allergies)
