"""Roles setup: the roles, each role's level per permission, and who holds each role.

Rules kept here (the page only shows them):
- a role name is trimmed, non-empty, at most 100 characters, unique ignoring case;
- a level is one of Off, Read, Update, Write (the ints 0..3), for a permission in the catalog;
- the built-in Administrator role keeps every permission at Write and cannot be renamed or
  deleted;
- at least one active staff user keeps Write on Roles Setup, whatever path would take it
  away (a level change, a membership removal, a role deletion, a deactivation);
- deleting a role that staff still hold needs an explicit confirmation (the page asks and
  says how many hold it): refusing outright would force removing every holder by hand first,
  and a silent delete could take access away by surprise.
Every change is audited with old -> new values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from portal_app.models import Role, RolePermission, StaffUser, StaffUserRole, ident
from portal_app.services import audit
from portal_app.services.errors import DomainError, InvalidInput, NotFound
from portal_app.services.permissions import ADMINISTRATOR, QUEUE_PERMISSIONS, Level, Permission
from portal_app.services.validation import clean_text

MAX_NAME = 100
NAME_RULE = f"Up to {MAX_NAME} characters."
MAX_SEARCH = 100
MAX_ROLES_SHOWN = 200
MAX_MEMBERS_SHOWN = 500

LEVEL_LABELS = {Level.OFF: "Off", Level.READ: "Read", Level.UPDATE: "Update", Level.WRITE: "Write"}

_VIEW_ONLY = " Read: view only; Update or Write: make changes."
_QUEUE = " Any level above Off acts as Write."
PERMISSION_HELP: dict[Permission, str] = {
    Permission.TASK_PORTAL_LIST: "Opens the Patient Portal list in My Tasks." + _QUEUE,
    Permission.TASK_PORTAL: "Opens and answers portal items, also ones forwarded to the "
                            "Communication queue. Alone, the Patient Portal list shows a security "
                            "message instead of items." + _QUEUE,
    Permission.PORTAL_ADMIN: "The onboarding list and the portal section of patient charts." + _VIEW_ONLY,
    Permission.ACCOUNT_SETUP: "Setting up patients' portal accounts." + _VIEW_ONLY,
    Permission.USER_MANAGEMENT: "Managing patients' portal user accounts." + _VIEW_ONLY,
    Permission.ROLES: "This page: roles, their permissions and staff users." + _VIEW_ONLY,
    Permission.SETTINGS: "Portal settings." + _VIEW_ONLY,
    Permission.OUTBOX: "Sent and waiting email, text and letters." + _VIEW_ONLY,
    Permission.OUTBOX_SECRETS: ("With Outbox: the live links, keys and codes in message bodies, and letter PDFs "
                                "(download once, reprint with a new key). Without it they read as hidden. "
                                "Any level above Off shows them; every view is in the audit log."),
    Permission.AUDIT: "The audit log." + _VIEW_ONLY,
    Permission.PATIENT_IMPORT: "Bringing patients in from the EHR (CSV or FHIR files). Read: see past imports "
                               "and dry runs; Update or Write: run imports.",
}

LAST_ADMIN = ("At least one active staff user must keep Write on Roles Setup; this change would "
              "leave none. Give another active user that access first.")


class LastAdministrator(DomainError):
    def __init__(self) -> None:
        super().__init__(LAST_ADMIN)


class RoleHeld(DomainError):
    """Deleting a role that staff still hold needs a confirmation."""

    def __init__(self, name: str, holders: int) -> None:
        users = "staff user holds" if holders == 1 else "staff users hold"
        super().__init__(f"{holders} {users} the role {name}. Deleting it takes its "
                         f"permissions away from them.")
        self.holders = holders


@dataclass(frozen=True)
class RoleRow:
    id: int
    name: str
    built_in: bool
    holders: int


@dataclass(frozen=True)
class PermissionInfo:
    name: str
    explanation: str
    queue: bool


@dataclass(frozen=True)
class PermissionRow:
    name: str
    key: str  # for element ids: "task-patient-portal-list"
    explanation: str
    queue: bool
    level: int


@dataclass(frozen=True)
class MemberRow:
    id: int
    username: str
    full_name: str
    active: bool


@dataclass(frozen=True)
class RoleDetail:
    id: int
    name: str
    built_in: bool
    locked_levels: bool  # the Administrator role: every permission stays at Write
    permissions: list[PermissionRow]
    members: list[MemberRow]


def permission_key(permission: Permission) -> str:
    return re.sub(r"[^a-z0-9]+", "-", permission.value.lower()).strip("-")


def level_label(level: int) -> str:
    return LEVEL_LABELS[Level(level)]


def _info(permission: Permission) -> PermissionInfo:
    return PermissionInfo(name=permission.value, explanation=PERMISSION_HELP[permission],
                          queue=permission in QUEUE_PERMISSIONS)


def _needle(search: str) -> str:
    return (search or "").strip()[:MAX_SEARCH].lower()


def search_permissions(*, session: Session, search: str = "") -> list[PermissionInfo]:
    """Catalog permissions whose name contains `search` (ignoring case); all when empty."""
    needle = _needle(search)
    return [_info(p) for p in Permission if needle in p.value.lower()]


def list_roles(*, session: Session, search: str = "") -> list[RoleRow]:
    """Roles whose name contains `search` (ignoring case), by name, with how many hold each."""
    needle = _needle(search)
    holders = (select(StaffUserRole.role_id, func.count().label("n"))
               .group_by(col(StaffUserRole.role_id)).subquery())
    query = (select(Role, func.coalesce(holders.c.n, 0))
             .join(holders, holders.c.role_id == Role.id, isouter=True)
             .order_by(func.lower(Role.name)).limit(MAX_ROLES_SHOWN))
    if needle:
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(Role.name).like(f"%{escaped}%", escape="\\"))
    return [RoleRow(id=ident(role), name=role.name, built_in=role.built_in, holders=int(count))
            for role, count in session.exec(query)]


def _role(session: Session, role_id: int) -> Role:
    role = session.get(Role, role_id) if isinstance(role_id, int) else None
    if role is None:
        raise NotFound("That role no longer exists.")
    return role


def _levels(session: Session, role_id: int) -> dict[str, int]:
    return {row.permission: row.level for row in session.exec(
        select(RolePermission).where(RolePermission.role_id == role_id))}


def _members(session: Session, role_id: int) -> list[MemberRow]:
    query = (select(StaffUser).join(StaffUserRole, col(StaffUserRole.staff_user_id) == StaffUser.id)
             .where(StaffUserRole.role_id == role_id).order_by(StaffUser.username)
             .limit(MAX_MEMBERS_SHOWN))
    return [member_row(user) for user in session.exec(query)]


def member_row(user: StaffUser) -> MemberRow:
    return MemberRow(id=ident(user), username=user.username, full_name=user.full_name, active=user.active)


def role_detail(*, session: Session, role_id: int) -> RoleDetail:
    role = _role(session, role_id)
    levels = _levels(session, ident(role))
    rows = [PermissionRow(name=p.value, key=permission_key(p), explanation=PERMISSION_HELP[p],
                          queue=p in QUEUE_PERMISSIONS,
                          level=int(levels.get(p.value, 0))) for p in Permission]
    return RoleDetail(id=ident(role), name=role.name, built_in=role.built_in,
                      locked_levels=_is_administrator(role), permissions=rows,
                      members=_members(session, ident(role)))


def find_staff(*, session: Session, username: str) -> MemberRow:
    """A staff user by username (to add to a role)."""
    name = (username or "").strip().lower()[:100]
    user = session.exec(select(StaffUser).where(StaffUser.username == name)).first() if name else None
    if user is None:
        raise InvalidInput("No staff user has that username.", field="add_username")
    return member_row(user)


def _is_administrator(role: Role) -> bool:
    return role.built_in and role.name == ADMINISTRATOR


def _clean_name(session: Session, name: str, *, except_id: int | None = None) -> str:
    name = clean_text(name if isinstance(name, str) else "", field="name", label="Role name",
                      max_length=MAX_NAME, required=True)
    query = select(Role).where(func.lower(Role.name) == name.lower())
    if except_id is not None:
        query = query.where(Role.id != except_id)
    if session.exec(query).first() is not None:
        raise InvalidInput("Another role already has that name.", field="name")
    return name


def administrators(*, session: Session) -> int:
    """How many active staff users hold Write on Roles Setup (through any role)."""
    query = (select(func.count(func.distinct(StaffUser.id)))
             .join(StaffUserRole, col(StaffUserRole.staff_user_id) == StaffUser.id)
             .join(RolePermission, col(RolePermission.role_id) == StaffUserRole.role_id)
             .where(StaffUser.active == True,  # noqa: E712
                    RolePermission.permission == Permission.ROLES.value,
                    RolePermission.level >= int(Level.WRITE)))
    return int(session.exec(query).one())


def access_contacts(*, session: Session, limit: int = 3) -> str:
    """Whom a staff user with no permissions should ask: the active users who can change roles
    (Update on Roles Setup), by name ("Ada Admin or Bo Boss"), or the administrator in general."""
    query = (select(StaffUser.full_name).distinct()
             .join(StaffUserRole, col(StaffUserRole.staff_user_id) == StaffUser.id)
             .join(RolePermission, col(RolePermission.role_id) == StaffUserRole.role_id)
             .where(StaffUser.active == True,  # noqa: E712
                    RolePermission.permission == Permission.ROLES.value,
                    RolePermission.level >= int(Level.UPDATE))
             .order_by(col(StaffUser.full_name)).limit(limit))
    names = [name for name in session.exec(query).all() if name]
    if not names:
        return "your practice's administrator"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def keep_an_administrator(*, session: Session) -> None:
    """Call after making a change and before committing: undo it if no administrator is left."""
    session.flush()
    if administrators(session=session) == 0:
        session.rollback()
        raise LastAdministrator()


def create_role(*, session: Session, name: str, actor: audit.Actor) -> int:
    """A new role with every permission Off; returns its id."""
    name = _clean_name(session, name)
    role = Role(name=name, built_in=False)
    session.add(role)
    session.flush()
    audit.record(session=session, actor=actor, action="role.create", detail=f"role={name}")
    session.commit()
    return ident(role)


def rename_role(*, session: Session, role_id: int, name: str, actor: audit.Actor) -> None:
    role = _role(session, role_id)
    if _is_administrator(role):
        raise InvalidInput("The Administrator role cannot be renamed.", field="name")
    name = _clean_name(session, name, except_id=role.id)
    if name == role.name:
        return
    old = role.name
    role.name = name
    session.add(role)
    audit.record(session=session, actor=actor, action="role.rename", detail=f"role: {old} -> {name}")
    session.commit()


def delete_role(*, session: Session, role_id: int, actor: audit.Actor, confirmed: bool = False) -> None:
    """Delete a role and its grants; when staff hold it, only with `confirmed` (RoleHeld otherwise)."""
    role = _role(session, role_id)
    if _is_administrator(role):
        raise DomainError("The Administrator role cannot be deleted.")
    holdings = session.exec(select(StaffUserRole).where(StaffUserRole.role_id == role.id)).all()
    if holdings and not confirmed:
        raise RoleHeld(role.name, len(holdings))
    name = role.name
    for row in holdings:
        session.delete(row)
    for grant in session.exec(select(RolePermission).where(RolePermission.role_id == role.id)):
        session.delete(grant)
    session.flush()  # the rows that point at the role go first
    session.delete(role)
    keep_an_administrator(session=session)
    audit.record(session=session, actor=actor, action="role.delete",
                 detail=f"role={name}; held by {len(holdings)} staff user(s)")
    session.commit()


def _check_levels(levels: dict[str, int]) -> dict[str, int]:
    if not isinstance(levels, dict):
        raise InvalidInput("Choose a level for each permission.", field="levels")
    known = {p.value for p in Permission}
    checked: dict[str, int] = {}
    for name, level in levels.items():
        if name not in known:
            raise InvalidInput("That permission is not in the catalog.", field="levels")
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 3:
            raise InvalidInput(f"{name}: choose Off, Read, Update or Write.", field=name)
        checked[name] = level
    return checked


@dataclass(frozen=True)
class SaveResult:
    level_changes: int
    added: int
    removed: int


def save_role(*, session: Session, role_id: int, levels: dict[str, int], member_ids: list[int],
              actor: audit.Actor) -> SaveResult:
    """Set the role's levels (permissions not named keep theirs) and its exact set of holders.

    One transaction: every change or none; audited per permission and per holder.
    """
    role = _role(session, role_id)
    wanted = _check_levels(levels)
    if not isinstance(member_ids, (list, tuple, set)) or any(
            isinstance(i, bool) or not isinstance(i, int) for i in member_ids):
        raise InvalidInput("The list of staff users is not valid.", field="members")
    current = _levels(session, ident(role))
    changes = {name: level for name, level in wanted.items() if int(current.get(name, 0)) != level}
    if changes and _is_administrator(role):
        raise InvalidInput("The Administrator role keeps Write on every permission.", field="levels")
    rows = {row.permission: row for row in session.exec(
        select(RolePermission).where(RolePermission.role_id == role.id))}
    for name, level in changes.items():
        old = int(current.get(name, 0))
        row = rows.get(name)
        if row is None:
            session.add(RolePermission(role_id=ident(role), permission=name, level=level))
        else:
            row.level = level
            session.add(row)
        audit.record(session=session, actor=actor, action="role.permission",
                     detail=f"role={role.name}; {name}: {level_label(old)} -> {level_label(level)}")
    held = {row.staff_user_id: row for row in session.exec(
        select(StaffUserRole).where(StaffUserRole.role_id == role.id))}
    wanted_ids = set(member_ids)
    users = {user.id: user for user in session.exec(
        select(StaffUser).where(col(StaffUser.id).in_(wanted_ids | set(held))))} if (
        wanted_ids or held) else {}
    missing = wanted_ids - set(users)
    if missing:
        session.rollback()
        raise InvalidInput("A staff user in the list no longer exists.", field="members")
    added = removed = 0
    for user_id in sorted(wanted_ids - set(held)):
        session.add(StaffUserRole(staff_user_id=user_id, role_id=ident(role)))
        audit.record(session=session, actor=actor, action="role.member_add",
                     detail=f"role={role.name}; staff={users[user_id].username}")
        added += 1
    for user_id in sorted(set(held) - wanted_ids):
        session.delete(held[user_id])
        audit.record(session=session, actor=actor, action="role.member_remove",
                     detail=f"role={role.name}; staff={users[user_id].username}")
        removed += 1
    keep_an_administrator(session=session)
    session.commit()
    return SaveResult(level_changes=len(changes), added=added, removed=removed)
