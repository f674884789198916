"""Automatic portal access rules that follow the EHR's data: a deceased chart loses portal access,
an email change voids links sent to the old address, and (optionally) a chart with no visit for N
months loses access. Each change is audited with the rule that made it and noted on the chart
(`Patient.status_note`), which the onboarding list and the chart page show.

The rules only ever turn access off. A later visit does not turn it back on by itself: staff
decide, with the red rectangle or the chart's switch (which refuse a deceased or merged chart).
A dry run never reaches these rules (`patient_records.upsert` returns before applying anything).
"""

from __future__ import annotations

import calendar
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from time import monotonic

from sqlalchemy import Engine, event, tuple_
from sqlmodel import Session, col, select

from portal_app.models import AuditEvent, ChartAccountState, OneTimeSecret, Patient, PracticeSettings, SecretPurpose
from portal_app.services import accounts, audit, clock, onboarding

DECEASED_NOTE = "Deceased"
# Charts read per batch by `apply_inactivity` (each batch is committed).
BATCH = 500
# Seconds `after_change` (run for every imported chart and ADT message) reuses the no-visit
# months it read: a change saved by another process (the app, while `adt-listen` runs) applies
# within this time; one saved in this process applies at once (the save clears what was kept).
MONTHS_KEPT = 5.0


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _note(patient: Patient, note: str) -> None:
    patient.status_note = note[:200]


def _deceased(session: Session, patient: Patient, actor: audit.Actor) -> str:
    """Access off for good: sessions end, links die, representatives are disconnected; the
    chart and its data stay."""
    ended = onboarding.end_access(session=session, patient=patient)
    representatives = accounts.end_representatives(session=session, patient=patient)
    _note(patient, DECEASED_NOTE)
    what = (f"{_plural(ended.sessions, 'session')} ended, {_plural(ended.links, 'link')} voided, "
            f"{_plural(representatives, 'representative connection')} ended")
    audit.record(session=session, actor=actor, action="rule.deceased", patient_id=patient.id,
                 detail=f"rule=deceased: portal access off; {what}")
    return f"Deceased: portal access off ({what})"


def _no_longer_deceased(session: Session, patient: Patient, actor: audit.Actor) -> str:
    """The EHR corrected its record: the note goes, access stays off until staff turn it on."""
    _note(patient, "")
    audit.record(session=session, actor=actor, action="rule.deceased.cleared", patient_id=patient.id,
                 detail="rule=deceased: no longer recorded as deceased; portal access stays off until staff "
                        "turn it on")
    return "No longer recorded as deceased: portal access stays off until staff turn it on"


def _void_links_to(session: Session, patient: Patient, address: str) -> dict[SecretPurpose, int]:
    """Void the chart's live invitation and set-up/reset links sent by email to `address`."""
    now = clock.now()
    rows = session.exec(select(OneTimeSecret).where(
        OneTimeSecret.patient_id == patient.id,
        col(OneTimeSecret.purpose).in_((SecretPurpose.INVITATION, SecretPurpose.PASSWORD_RESET)),
        OneTimeSecret.channel == "email", col(OneTimeSecret.used_at).is_(None),
        col(OneTimeSecret.revoked_at).is_(None), OneTimeSecret.expires_at > now))
    voided = {SecretPurpose.INVITATION: 0, SecretPurpose.PASSWORD_RESET: 0}
    for row in list(rows):
        if row.destination.strip().lower() == address.strip().lower():
            row.revoked_at = now
            session.add(row)
            voided[row.purpose] += 1
    return voided


def _email_changed(session: Session, patient: Patient, old_email: str, actor: audit.Actor) -> str:
    """Links that went to the old address die (a representative's own address is not the
    chart's, so their links stay). Returns the note, or "" when no link was outstanding."""
    if not old_email:
        return ""
    voided = _void_links_to(session, patient, old_email)
    what = [word for purpose, word in ((SecretPurpose.INVITATION, "invitation"),
                                        (SecretPurpose.PASSWORD_RESET, "set-up link")) if voided[purpose]]
    if not what:
        return ""
    if voided[SecretPurpose.INVITATION] and patient.account_state == ChartAccountState.INVITED:
        patient.account_state = ChartAccountState.NONE  # refreshed below when an account exists
        accounts.refresh_account_state(session=session, patient=patient)
    note = "Email changed; " + " and ".join(what) + " voided"
    _note(patient, note)
    audit.record(session=session, actor=actor, action="rule.email_changed", patient_id=patient.id,
                 detail=f"rule=email changed: links to the old address voided: "
                        f"invitations={voided[SecretPurpose.INVITATION]}; "
                        f"set-up or reset links={voided[SecretPurpose.PASSWORD_RESET]}")
    return note


def months_before(today: date, months: int) -> date:
    """The same day `months` calendar months earlier (the month's last day when it is shorter)."""
    total = today.year * 12 + today.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    return date(year, month, min(today.day, calendar.monthrange(year, month)[1]))


def _months(session: Session) -> int:
    """The setting's months (0: the rule is off). Read without `settings.get`, which would
    commit the caller's transaction to create a missing settings row."""
    row = session.get(PracticeSettings, 1)
    return max(row.inactive_months, 0) if row is not None else 0


# Database engine -> (when read, the months): one per database (tests make one per test).
_kept_months: weakref.WeakKeyDictionary[Engine, tuple[float, int]] = weakref.WeakKeyDictionary()


def _recent_months(session: Session) -> int:
    """`_months`, read again at most every `MONTHS_KEPT` seconds per database."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    kept = _kept_months.get(engine)
    if kept is None or monotonic() - kept[0] > MONTHS_KEPT:
        kept = (monotonic(), _months(session))
        _kept_months[engine] = kept
    return kept[1]


@event.listens_for(PracticeSettings, "after_insert")
@event.listens_for(PracticeSettings, "after_update")
def _forget_months(*_args) -> None:
    _kept_months.clear()


def _turned_on_since(session: Session, patient_id: int | None, cutoff: date) -> bool:
    """Whether staff turned the chart's access on within the rule's months: their decision
    stands until N months pass from it too (one probe of the audit log's patient index)."""
    since = datetime.combine(cutoff, time.min, tzinfo=timezone.utc)
    return session.exec(select(AuditEvent.id).where(
        AuditEvent.patient_id == patient_id, AuditEvent.action == "portal.enable",
        AuditEvent.at >= since).limit(1)).first() is not None


def _due(session: Session, patient: Patient, cutoff: date) -> bool:
    """The no-visit rule holds for this chart: access on, a last visit before `cutoff`, not
    recorded as deceased (that rule has its own note), not turned on by staff since `cutoff`."""
    return (patient.portal_enabled and not patient.deceased and patient.last_visit_on is not None
            and patient.last_visit_on < cutoff and not _turned_on_since(session, patient.id, cutoff))


def _inactive(session: Session, patient: Patient, actor: audit.Actor, months: int, last_visit: date) -> str:
    ended = onboarding.end_access(session=session, patient=patient)
    note = f"{onboarding.INACTIVE_NOTE_PREFIX}{last_visit:%m/%d/%Y}"
    _note(patient, note)
    audit.record(session=session, actor=actor, action="rule.inactive", patient_id=patient.id,
                 detail=f"rule=no visit for {months} months: portal access off; last visit "
                        f"{last_visit:%m/%d/%Y}; sessions ended={ended.sessions}; links voided={ended.links}")
    return f"{note}: portal access off"


def after_change(*, session: Session, patient: Patient, changed: set[str], old: dict[str, str],
                 actor: audit.Actor) -> list[str]:
    """Apply the rules to a chart whose `changed` columns were just written (the caller commits).
    `old` holds the previous values as shown to staff. Returns what the rules did, in words."""
    if patient.deceased:
        # Already deceased and nothing new about it: access is off and stays off.
        return [_deceased(session, patient, actor)] if "deceased" in changed else []
    notes = []
    if "deceased" in changed and patient.status_note == DECEASED_NOTE:
        notes.append(_no_longer_deceased(session, patient, actor))
    if "email" in changed:
        notes.append(_email_changed(session, patient, old.get("email", ""), actor))
    months = _recent_months(session)
    if (months and patient.last_visit_on is not None
            and _due(session, patient, months_before(clock.now().date(), months))):
        notes.append(_inactive(session, patient, actor, months, patient.last_visit_on))
    return [note for note in notes if note]


@dataclass(frozen=True)
class InactivityRun:
    months: int  # 0: the rule is off and nothing was read
    turned_off: int

    def summary(self) -> str:
        if not self.months:
            return "The no-visit rule is off (Portal Settings: 0 months); nothing changed."
        return (f"No visit for {self.months} months: portal access turned off for "
                f"{_plural(self.turned_off, 'chart')}.")


def apply_inactivity(*, session: Session, actor: audit.Actor, today: date | None = None,
                     batch: int = BATCH, progress: Callable[[int], None] | None = None) -> InactivityRun:
    """Turn access off for every enabled chart whose last visit is older than the setting's
    months. Charts with no last visit on file are left alone, and so are charts staff turned on
    within those months (their decision stands until the months pass from it too).

    Reads the enabled charts by last visit through `ix_patient_enabled_visit`, a batch at a
    time, committing each batch, so half a million charts never sit in memory. Run when the
    setting is saved and daily from the command line (`python -m portal_app access-rules`)."""
    months = _months(session)
    if not months:
        return InactivityRun(months=0, turned_off=0)
    cutoff = months_before(today or clock.now().date(), months)
    turned_off = 0
    after: tuple[date, int] | None = None
    while True:
        query = select(Patient).where(col(Patient.portal_enabled).is_(True),
                                      col(Patient.last_visit_on).is_not(None), col(Patient.last_visit_on) < cutoff)
        if after is not None:
            query = query.where(tuple_(Patient.last_visit_on, Patient.id) > after)
        charts = list(session.exec(query.order_by(col(Patient.last_visit_on), col(Patient.id)).limit(batch)))
        if not charts:
            break
        for patient in charts:
            if patient.last_visit_on is not None and _due(session, patient, cutoff):
                _inactive(session, patient, actor, months, patient.last_visit_on)
                turned_off += 1
        last = charts[-1]
        after = (last.last_visit_on, last.id)  # type: ignore[assignment]
        session.commit()
        if progress is not None:
            progress(turned_off)
    if turned_off:
        audit.record(session=session, actor=actor, action="rule.inactive.run",
                     detail=f"rule=no visit for {months} months (before {cutoff:%m/%d/%Y}): "
                            f"portal access turned off for {turned_off} charts")
        session.commit()
    return InactivityRun(months=months, turned_off=turned_off)
