"""Staff permissions, levels and role resolution (a user's level is the highest over roles)."""

from __future__ import annotations

import enum

from sqlalchemy import bindparam
from sqlmodel import Session, col, func, select

from portal_app.models import Role, RolePermission, StaffUserRole, ident


class Level(enum.IntEnum):
    OFF = 0
    READ = 1
    UPDATE = 2
    WRITE = 3


class Permission(str, enum.Enum):
    TASK_PORTAL_LIST = "Task - Patient Portal - List"
    TASK_PORTAL = "Task - Patient Portal"
    PORTAL_ADMIN = "Patient Portal Administration"
    ACCOUNT_SETUP = "Portal Account Setup"
    USER_MANAGEMENT = "Portal User Management"
    ROLES = "Roles Setup"
    SETTINGS = "Portal Settings"
    OUTBOX = "Outbox"
    # Live links, keys and codes inside Outbox bodies, and letter PDFs (each view audited).
    OUTBOX_SECRETS = "Outbox Secrets"
    AUDIT = "Audit Log"
    PATIENT_IMPORT = "Patient Import"


ADMINISTRATOR = "Administrator"
FRONT_DESK = "Front Desk"
CLINICAL = "Clinical"
COMMUNICATIONS_ONLY = "Patient Portal Communications Only"

# The two queue permissions ignore the Read / Update / Write distinction: any level above
# Off behaves as Write (the seed's rule). Every other permission: Read = view only.
QUEUE_PERMISSIONS = (Permission.TASK_PORTAL_LIST, Permission.TASK_PORTAL)

BUILT_IN_ROLES: dict[str, dict[Permission, Level]] = {
    ADMINISTRATOR: {permission: Level.WRITE for permission in Permission},
    FRONT_DESK: {
        Permission.PORTAL_ADMIN: Level.WRITE,
        Permission.ACCOUNT_SETUP: Level.WRITE,
        Permission.USER_MANAGEMENT: Level.UPDATE,
        Permission.OUTBOX: Level.READ,
        Permission.TASK_PORTAL_LIST: Level.WRITE,
        Permission.TASK_PORTAL: Level.WRITE,
    },
    CLINICAL: {
        Permission.TASK_PORTAL_LIST: Level.WRITE,
        Permission.TASK_PORTAL: Level.WRITE,
        Permission.PORTAL_ADMIN: Level.READ,
    },
    # Limited access: answers forwarded portal items, cannot open the queue itself.
    COMMUNICATIONS_ONLY: {
        Permission.TASK_PORTAL: Level.WRITE,
    },
}


class QueueAccess(str, enum.Enum):
    """What a user may do with My Tasks > Patient Portal."""

    NONE = "none"        # neither permission: the queue is not shown at all
    LIMITED = "limited"  # "Task - Patient Portal" only: shown, opening it gives a security message
    LIST_ONLY = "list_only"  # the list without "Task - Patient Portal": rows, but items do not open
    FULL = "full"        # both: list, open, answer


def queue_access(levels: dict[str, int]) -> QueueAccess:
    """The seed's rule: any level above Off on a queue permission counts as Write."""
    can_list = levels.get(Permission.TASK_PORTAL_LIST.value, 0) > Level.OFF
    can_answer = levels.get(Permission.TASK_PORTAL.value, 0) > Level.OFF
    if can_list and can_answer:
        return QueueAccess.FULL
    if can_list:
        return QueueAccess.LIST_ONLY
    if can_answer:
        return QueueAccess.LIMITED
    return QueueAccess.NONE


def levels_for(*, session: Session, staff_user_id: int) -> dict[str, int]:
    """Permission name -> highest level over the user's roles (absent means Off)."""
    rows = session.exec(_LEVELS_READ, params={"staff_user_id": staff_user_id}).all()
    return {name: int(level) for name, level in rows if level}


# (Built once: every staff event reads its user's levels.)
_LEVELS_READ = (
    select(RolePermission.permission, func.max(RolePermission.level))
    .join(StaffUserRole, col(StaffUserRole.role_id) == RolePermission.role_id)
    .where(StaffUserRole.staff_user_id == bindparam("staff_user_id"))
    .group_by(RolePermission.permission)
)


def ensure_built_in_roles(*, session: Session) -> None:
    """Create the built-in roles and their grants if missing (idempotent)."""
    for name, grants in BUILT_IN_ROLES.items():
        role = session.exec(select(Role).where(Role.name == name)).first()
        if role is None:
            role = Role(name=name, built_in=True)
            session.add(role)
            session.flush()
            for permission, level in grants.items():
                session.add(RolePermission(role_id=ident(role), permission=permission.value,
                                           level=int(level)))
    session.flush()


def assign_role(*, session: Session, staff_user_id: int, role_name: str) -> None:
    role = session.exec(select(Role).where(Role.name == role_name)).one()
    exists = session.exec(select(StaffUserRole).where(
        StaffUserRole.staff_user_id == staff_user_id, StaffUserRole.role_id == role.id)).first()
    if exists is None:
        session.add(StaffUserRole(staff_user_id=staff_user_id, role_id=ident(role)))
        session.flush()
