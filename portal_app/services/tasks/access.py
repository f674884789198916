"""Who may do what with the Patient Portal queue and one of its items (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from portal_app.models import PortalTask, StaffUser, TaskForward, ident
from portal_app.services import permissions
from portal_app.services.errors import Forbidden, NotFound
from portal_app.services.permissions import QueueAccess

QUEUE_REFUSED = ("Security: you do not have access to the Patient Portal queue. Items forwarded to "
                 "you open from your Communication queue. Ask an administrator if you need the queue.")
NO_QUEUE = "You do not have access to My Tasks."
ITEM_REFUSED = ("You do not have access to this item. It opens for you only while it is forwarded "
                "to you in your Communication queue.")
LIST_ONLY_REFUSED = ("You can see the Patient Portal list, but opening its items needs \u201cTask - Patient "
                     "Portal\u201d. Ask an administrator if you need it.")
MANAGE_REFUSED = "Only users with full access to the Patient Portal queue can do that."
GONE = "That item does not exist."


def access_for(*, session: Session, staff_user_id: int) -> QueueAccess:
    """The user's queue access now (an inactive or unknown user has none)."""
    user = session.get(StaffUser, staff_user_id)
    if user is None or not user.active:
        return QueueAccess.NONE
    return permissions.queue_access(permissions.levels_for(session=session, staff_user_id=staff_user_id))


def require_queue(*, session: Session, staff_user_id: int) -> QueueAccess:
    """The user's queue access; Forbidden (NO_QUEUE) when they have no My Tasks at all."""
    access = access_for(session=session, staff_user_id=staff_user_id)
    if access == QueueAccess.NONE:
        raise Forbidden(NO_QUEUE)
    return access


def open_forward(session: Session, task_id: int, staff_user_id: int) -> TaskForward | None:
    """The newest forward of this item to this user that they have not answered yet."""
    return session.exec(
        select(TaskForward).where(TaskForward.task_id == task_id, TaskForward.to_staff_id == staff_user_id,
                                  col(TaskForward.done_at).is_(None))
        .order_by(col(TaskForward.created_at).desc())).first()


@dataclass(frozen=True)
class Grant:
    """An item this user may open now, and the open forward that lets a limited user in."""

    access: QueueAccess
    task: PortalTask
    forward: TaskForward | None

    @property
    def full(self) -> bool:
        return self.access == QueueAccess.FULL

    @property
    def task_id(self) -> int:
        return ident(self.task)


def item_grant(session: Session, staff_user_id: int, task_id: int) -> Grant:
    """May this user open the item? FULL always; LIMITED only with an open forward to them."""
    access = require_queue(session=session, staff_user_id=staff_user_id)
    task = session.get(PortalTask, task_id) if isinstance(task_id, int) and task_id > 0 else None
    if task is None:
        if access == QueueAccess.FULL:
            raise NotFound(GONE)
        raise Forbidden(ITEM_REFUSED)  # no hint whether it exists
    forward = open_forward(session, ident(task), staff_user_id)
    if access == QueueAccess.FULL or (access == QueueAccess.LIMITED and forward is not None):
        return Grant(access, task, forward)
    raise Forbidden(LIST_ONLY_REFUSED if access == QueueAccess.LIST_ONLY else ITEM_REFUSED)


def full_grant(session: Session, staff_user_id: int, task_id: int) -> Grant:
    """The item, for what only full-access users do (merge, mark reviewed, forward)."""
    grant = item_grant(session, staff_user_id, task_id)
    if not grant.full:
        raise Forbidden(MANAGE_REFUSED)
    return grant
