"""The portal areas a connection may be granted, and the check every area handler makes."""

from __future__ import annotations

from sqlmodel import Session

from portal_app.services import audit
from portal_app.services.choices import Choice


class Area(Choice):
    MESSAGES = "messages", "Messages"
    APPOINTMENTS = "appointments", "Appointments"
    DOCUMENTS = "documents", "Documents"
    FORMS = "forms", "Forms"
    HEALTH_SUMMARY = "health_summary", "Health summary"
    # No "billing": it has no page yet, so it is neither granted nor shown. Connections saved
    # before may still hold "billing" in their stored permissions; `parse` drops it (no
    # migration needed), and the next save writes the list without it.


AREA_LABELS: dict[Area, str] = Area.labels()

ALL_AREAS = ",".join(area.value for area in Area)

# What a representative connection grants when the representative connected the chart
# themselves with a connection key ("someone I care for"): enough to look after the patient's
# care; staff widen or narrow it in Portal Account Setup.
REPRESENTATIVE_DEFAULT: tuple[Area, ...] = (Area.MESSAGES, Area.APPOINTMENTS, Area.FORMS)
REPRESENTATIVE_DEFAULT_AREAS = ",".join(area.value for area in REPRESENTATIVE_DEFAULT)


def parse(permissions: str) -> tuple[str, ...]:
    """A connection's stored permissions (comma-separated) as known area names, in catalog order."""
    granted = {part.strip() for part in (permissions or "").split(",")}
    return tuple(area.value for area in Area if area.value in granted)


def serialize(chosen: list[str] | tuple[str, ...]) -> str:
    """Chosen area names -> the stored form; unknown names are dropped."""
    return ",".join(parse(",".join(chosen)))


def record_refusal(*, session: Session, account_id: int, patient_id: int, area: str,
                   action: str = "", ip: str = "") -> None:
    """Audit a refused call of an area this connection was not granted."""
    audit.record(session=session, actor=audit.Actor.portal(account_id, ip), action="portal.area_refused",
                 patient_id=patient_id, account_id=account_id,
                 detail=f"area={area}" + (f"; handler={action}" if action else ""))
    session.commit()
