"""Helpers for state tests: a Reflex state tree under pytest, staff users with chosen grants."""

from __future__ import annotations

import json

import reflex as rx
from reflex_base.constants import RouteVar
from sqlmodel import Session

from portal_app.models import Role, RolePermission
from portal_app.services import staff_auth
from portal_app.services.permissions import Level, Permission
from portal_app.state.base import SessionState
from tests.unit.two_step import staff_sign_in

PASSWORD = "correct horse battery staple 42"


async def state_for(state_cls, *, session_id: str = "", path: str = "/", route: str = ""):
    """A fresh root state (one browser tab) on `path`, with the staff cookie set; returns
    (root, the state_cls instance)."""
    root = rx.State(_reflex_internal_init=True)
    root._update_router_vars({RouteVar.ORIGIN: path, RouteVar.PATH: route or path}, {})
    cookies = await root.get_state(SessionState)
    cookies.staff_sid = session_id
    return root, await root.get_state(state_cls)


def staff_with(session: Session, username: str, grants: dict[Permission, Level]) -> str:
    """Create a staff user whose only role grants exactly `grants`; returns a signed-in session id."""
    role = Role(name=f"role for {username}")
    session.add(role)
    session.flush()
    for permission, level in grants.items():
        session.add(RolePermission(role_id=role.id, permission=permission.value, level=int(level)))
    session.commit()
    staff_auth.create_staff(session=session, username=username, full_name=f"{username.title()} Staff",
                            password=PASSWORD, role=role.name)
    return staff_sign_in(session, username, PASSWORD)


def sign_in_admin(session: Session) -> str:
    """The administrator signs in (Write on Roles Setup: with the second step, enrolling first)."""
    return staff_sign_in(session, "admin", PASSWORD)


def everything_in_state(root) -> str:
    """Every var of every state in the tree, public and backend-only, as one string."""
    parts = [json.dumps(root.dict(), default=str)]
    stack = [root]
    while stack:
        state = stack.pop()
        parts.append(repr(state.__dict__))
        stack.extend(state.substates.values())
    return "\n".join(parts)
