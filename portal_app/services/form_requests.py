"""Forms staff ask a patient to fill in through the portal; to-dos until submitted."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from portal_app.models import FormRequest, ident
from portal_app.services import accounts, audit, clock, settings
from portal_app.services.choices import Choice
from portal_app.services.errors import InvalidInput


class PortalForm(Choice):
    INTAKE = "intake", "Intake form"
    CONSENT = "consent", "Consent to treatment"
    HISTORY = "history", "Health history"


FORM_LABELS: dict[PortalForm, str] = PortalForm.labels()


@dataclass(frozen=True)
class FormRequestRow:
    id: int
    form: str
    label: str
    requested_on: str


def _open(session: Session, patient_id: int) -> list[FormRequest]:
    return list(session.exec(
        select(FormRequest).where(FormRequest.patient_id == patient_id, col(FormRequest.submitted_at).is_(None),
                                  col(FormRequest.cancelled_at).is_(None))
        .order_by(col(FormRequest.requested_at), col(FormRequest.id))))


def open_requests(*, session: Session, patient_id: int) -> list[FormRequestRow]:
    """The chart's forms still to fill in, oldest request first (one row per form)."""
    seen: set[str] = set()
    rows = []
    zone = settings.zone(session=session)
    for request in _open(session, patient_id):
        if request.form in seen:
            continue
        seen.add(request.form)
        rows.append(FormRequestRow(id=ident(request), form=request.form,
                                   label=FORM_LABELS[PortalForm(request.form)],
                                   requested_on=clock.display(request.requested_at, zone, with_time=False)))
    return rows


def request_forms(*, session: Session, patient_id: int, forms: list[str] | tuple[str, ...],
                  actor: audit.Actor) -> list[str]:
    """Ask the patient for these forms; a form already requested and open is not asked twice.

    Returns the forms newly requested. The caller commits.

    Raises:
        InvalidInput: an unknown form name.
        NotFound: no such chart.
    """
    accounts.get_patient(session=session, patient_id=patient_id)
    known = {form.value for form in PortalForm}
    unknown = [form for form in forms if form not in known]
    if unknown:
        raise InvalidInput("Choose forms from the list.", field="forms")
    already = {request.form for request in _open(session, patient_id)}
    added = [form.value for form in PortalForm if form.value in forms and form.value not in already]
    for form in added:
        session.add(FormRequest(patient_id=patient_id, form=form, requested_at=clock.now(),
                                requested_by_staff_id=actor.staff_user_id))
    if added:
        audit.record(session=session, actor=actor, action="forms.request", patient_id=patient_id,
                     detail="forms=" + ",".join(added))
    return added


def mark_submitted(*, session: Session, patient_id: int, form: str, task_id: int | None) -> int:
    """Close the chart's open requests for `form` (the patient has sent it). The caller commits."""
    closed = 0
    for request in _open(session, patient_id):
        if request.form == form:
            request.submitted_at = clock.now()
            request.task_id = task_id
            session.add(request)
            closed += 1
    return closed
