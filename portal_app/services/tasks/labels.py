"""How queue items and their patients read in the lists and on the item page."""

from __future__ import annotations

from datetime import date

from portal_app.models import AccessType, Patient, PortalTask, TaskKind

# "Arranged By: Request" groups, in the seed's order.
KIND_ORDER: tuple[TaskKind, ...] = (TaskKind.DOCUMENT_SHARE, TaskKind.INTAKE_FORM, TaskKind.MESSAGE,
                                    TaskKind.APPOINTMENT_REQUEST)
KIND_LABELS: dict[TaskKind, str] = {
    TaskKind.DOCUMENT_SHARE: "Document Share",
    TaskKind.INTAKE_FORM: "Intake Form",
    TaskKind.MESSAGE: "Message",
    TaskKind.APPOINTMENT_REQUEST: "Appointment Request",
}


def patient_label(patient: Patient | None) -> str:
    """"Last, First M. (Preferred)"."""
    if patient is None:
        return "Unknown"
    name = f"{patient.last_name}, {patient.first_name}"
    if patient.middle_name.strip():
        name += f" {patient.middle_name.strip()[0].upper()}."
    if patient.preferred_name.strip():
        name += f" ({patient.preferred_name.strip()})"
    return name


def age_years(dob: date | None, today: date) -> str:
    if dob is None:
        return ""
    years = today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))
    return f"{max(years, 0)}y"


def patient_cells(patient: Patient | None, today: date) -> tuple[str, str, str]:
    """The Sex, Age and Date of birth columns of a list row or the item header."""
    if patient is None:
        return "Not recorded", "", ""
    return patient.sex or "Not recorded", age_years(patient.dob, today), f"{patient.dob:%m/%d/%Y}"


def sender_note(task: PortalTask) -> str:
    if task.access_type == AccessType.REPRESENTATIVE:
        return f"sent by {task.submitted_by or 'a portal user'} (authorized representative)"
    return ""
