"""What staff do with an item: answer it (reply, schedule or decline), merge intake changes,
mark it reviewed or done, and forward it to a colleague's Communication queue."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from portal_app.models import PortalTask, StaffUser, TaskForward, TaskKind, TaskStatus, ident
from portal_app.services import appointments, audit, clock, forms, messages, permissions
from portal_app.services.errors import DomainError, Forbidden, InvalidInput
from portal_app.services.permissions import Permission, QueueAccess
from portal_app.services.tasks.access import MANAGE_REFUSED, Grant, access_for, full_grant, item_grant

MAX_NOTE = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# ---- answering ------------------------------------------------------------------------------

def _close(session: Session, forward: TaskForward | None) -> None:
    """The forward is answered: the item leaves that user's Communication queue (caller commits)."""
    if forward is not None:
        forward.done_at = clock.now()
        session.add(forward)


def _answer(session: Session, grant: Grant, answer: Callable[[], str]) -> str:
    """Run `answer` (it sends the patient something and commits); answering a forwarded item
    closes the forward in the same transaction, or neither happens. Returns what the patient
    was told (or why no notice went out)."""
    _close(session, grant.forward)
    try:
        told = answer()
    except Exception:
        session.rollback()
        raise
    session.commit()
    return told


def reply(*, session: Session, staff_user_id: int, task_id: int, body: str, actor: audit.Actor) -> str:
    """Reply in a message thread (messages.staff_reply audits "task.reply" and notifies).
    Returns what the patient was told, or why no notice went out."""
    grant = item_grant(session, staff_user_id, task_id)
    if grant.task.kind != TaskKind.MESSAGE:
        raise InvalidInput("Only a message can be answered with a reply.", field="body")
    return _answer(session, grant, lambda: messages.staff_reply(
        session=session, task_id=grant.task_id, staff_user_id=staff_user_id, body=body, actor=actor).told)


def decide_appointment(*, session: Session, staff_user_id: int, task_id: int, decision: str, note: str,
                       actor: audit.Actor, booking: appointments.Booking | None = None) -> str:
    """"Mark scheduled" with what was booked, or "Decline" with a note to the patient
    (appointments.decide checks and audits).
    Returns what the patient was told, or why no notice went out."""
    grant = item_grant(session, staff_user_id, task_id)
    if grant.task.kind != TaskKind.APPOINTMENT_REQUEST:
        raise InvalidInput("Only an appointment request can be scheduled or declined.")
    if decision not in ("scheduled", "declined"):
        raise InvalidInput("Choose Mark scheduled or Decline.")
    return _answer(session, grant, lambda: appointments.decide(session=session, task_id=grant.task_id,
                                                               decision=decision, note=note, actor=actor,
                                                               booking=booking))


def mark_done(*, session: Session, staff_user_id: int, task_id: int, actor: audit.Actor) -> None:
    """"Done": take an item forwarded to this user off their Communication queue."""
    grant = item_grant(session, staff_user_id, task_id)
    forward = grant.forward
    if forward is None:
        raise InvalidInput("This item is not in your Communication queue.")
    _close(session, forward)
    audit.record(session=session, actor=actor, action="task.done", patient_id=grant.task.patient_id,
                 detail=f"item={grant.task_id}; forward={forward.id}")
    session.commit()


# ---- full access: the chart and the queue ---------------------------------------------------

def merge_change(*, session: Session, staff_user_id: int, task_id: int, change_id: int, actor: audit.Actor,
                 overwrite: bool = False) -> None:
    """Merge one intake change into the chart (full access; forms.merge_change audits, may raise
    forms.MergeConflict)."""
    grant = full_grant(session, staff_user_id, task_id)
    forms.merge_change(session=session, task_id=grant.task_id, change_id=change_id, actor=actor,
                       overwrite=overwrite)
    session.commit()


def merge_all(*, session: Session, staff_user_id: int, task_id: int, actor: audit.Actor) -> forms.MergeResult:
    """Merge every mergeable change; conflicts are skipped."""
    grant = full_grant(session, staff_user_id, task_id)
    result = forms.merge_all(session=session, task_id=grant.task_id, actor=actor)
    session.commit()
    return result


class UnmergedChanges(DomainError):
    """Mark Reviewed on an intake form whose chart changes are not all merged: ask first."""

    def __init__(self, count: int) -> None:
        noun = "change is" if count == 1 else "changes are"
        super().__init__(f"{count} {noun} not merged into the chart. Mark reviewed anyway?", field="unmerged")
        self.count = count


def unmerged_count(session: Session, task: PortalTask) -> int:
    """How many of an intake form's chart changes are mergeable and not merged (0 for other kinds)."""
    if task.kind != TaskKind.INTAKE_FORM:
        return 0
    return sum(1 for change in forms.intake_changes(session=session, task_id=ident(task))
               if change.mergeable and not change.merged)


def mark_reviewed(*, session: Session, staff_user_id: int, task_id: int, actor: audit.Actor,
                  unmerged_ok: bool = False) -> None:
    """Move the item to Reviewed (full access), audited "task.reviewed".

    An intake form with changes not merged into the chart raises UnmergedChanges unless the
    user answered "Mark reviewed anyway" (`unmerged_ok`); that answer is in the audit record.
    """
    grant = full_grant(session, staff_user_id, task_id)
    task = grant.task
    if task.status == TaskStatus.REVIEWED:
        raise InvalidInput("This item is already reviewed.")
    unmerged = unmerged_count(session, task)
    if unmerged and not unmerged_ok:
        raise UnmergedChanges(unmerged)
    task.status = TaskStatus.REVIEWED
    task.reviewed_at = clock.now()
    task.reviewed_by_staff_id = staff_user_id
    session.add(task)
    answer = f"; {unmerged} unmerged change{'s' if unmerged != 1 else ''}, marked reviewed anyway" if unmerged else ""
    audit.record(session=session, actor=actor, action="task.reviewed", patient_id=task.patient_id,
                 detail=f"item={task.id}; status pending -> reviewed{answer}")
    session.commit()


def keep_pending(*, session: Session, staff_user_id: int, task_id: int, actor: audit.Actor) -> None:
    """The user answered "Cancel" to "N changes are not merged ... Mark reviewed anyway?": the
    item stays pending and the answer is audited ("task.review_cancelled")."""
    grant = full_grant(session, staff_user_id, task_id)
    unmerged = unmerged_count(session, grant.task)
    audit.record(session=session, actor=actor, action="task.review_cancelled", patient_id=grant.task.patient_id,
                 detail=f"item={grant.task_id}; {unmerged} unmerged change{'s' if unmerged != 1 else ''}; "
                        "kept pending")
    session.commit()


# ---- forwarding -----------------------------------------------------------------------------

@dataclass(frozen=True)
class StaffOption:
    id: int
    label: str


def _can_answer(session: Session, staff_user_id: int) -> bool:
    levels = permissions.levels_for(session=session, staff_user_id=staff_user_id)
    return levels.get(Permission.TASK_PORTAL.value, 0) > 0


def forward_targets(*, session: Session, staff_user_id: int) -> list[StaffOption]:
    """Active staff users (other than this one) who have "Task - Patient Portal"."""
    if access_for(session=session, staff_user_id=staff_user_id) != QueueAccess.FULL:
        raise Forbidden(MANAGE_REFUSED)
    users = session.exec(select(StaffUser).where(StaffUser.active == True, StaffUser.id != staff_user_id)  # noqa: E712
                         .order_by(col(StaffUser.full_name), col(StaffUser.id))).all()
    return [StaffOption(id=ident(user), label=f"{user.full_name} ({user.username})")
            for user in users if _can_answer(session, ident(user))]


def _clean_note(value: str | None) -> str:
    note = (value or "").replace("\r\n", "\n").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"The note must be at most {MAX_NOTE} characters.", field="note")
    if _CONTROL.search(note):
        raise InvalidInput("The note contains characters that are not allowed.", field="note")
    return note


def _target(session: Session, staff_user_id: int, to_staff_id: int) -> StaffUser:
    """The colleague to forward to: active, able to open the item, not oneself."""
    target = session.get(StaffUser, to_staff_id) if isinstance(to_staff_id, int) and to_staff_id > 0 else None
    if target is None:
        raise InvalidInput("Choose a staff user to forward this item to.", field="to_staff")
    if not target.active:
        raise InvalidInput(f"{target.full_name} is not an active user; choose someone else.", field="to_staff")
    if not _can_answer(session, ident(target)):
        raise InvalidInput(f"{target.full_name} does not have \u201cTask - Patient Portal\u201d and could not "
                           "open this item; choose someone else.", field="to_staff")
    if target.id == staff_user_id:
        raise InvalidInput("Choose someone other than yourself.", field="to_staff")
    return target


def forward(*, session: Session, staff_user_id: int, task_id: int, to_staff_id: int, note: str,
            actor: audit.Actor) -> int:
    """Send the item to a colleague's Communication queue; returns the forward's id."""
    grant = full_grant(session, staff_user_id, task_id)
    target = _target(session, staff_user_id, to_staff_id)
    row = TaskForward(task_id=grant.task_id, from_staff_id=staff_user_id, to_staff_id=ident(target),
                      note=_clean_note(note), created_at=clock.now())
    session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action="task.forward", patient_id=grant.task.patient_id,
                 detail=f"item={grant.task_id}; to={target.username}")
    session.commit()
    return ident(row)
