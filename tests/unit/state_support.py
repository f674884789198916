"""Helpers for state tests: a Reflex state tree under pytest, staff users with chosen grants."""

from __future__ import annotations

import inspect
import json
import re

import reflex as rx
from reflex_base.constants import RouteVar
from reflex_base.event import EventSpec
from sqlmodel import Session

from portal_app.models import Role, RolePermission, SessionKind
from portal_app.services import session_grants, staff_auth
from portal_app.services.permissions import Level, Permission
from tests.unit.two_step import staff_sign_in

PASSWORD = "correct horse battery staple 42"


async def state_for(state_cls, *, session_id: str = "", path: str = "/", route: str = ""):
    """A fresh root state (one browser tab) on `path`, with the staff cookie set; returns
    (root, the state_cls instance)."""
    root = rx.State(_reflex_internal_init=True)
    root._update_router_vars({RouteVar.ORIGIN: path, RouteVar.PATH: route or path}, {})
    set_cookies(root, staff=session_id)
    return root, await root.get_state(state_cls)


def set_cookies(state, *, staff: str = "", portal: str = "") -> None:
    """The session cookies this tab's websocket handshake carries (what the browser sends once
    /auth/session has set them); any state of the tab."""
    root = state._get_root_state()
    pairs = [("portal_staff_session", staff), ("portal_patient_session", portal), ("other", "x")]
    cookie = "; ".join(f"{name}={value}" for name, value in pairs if value)
    root._update_router_vars({RouteVar.HEADERS: {"cookie": cookie}}, {})


def _scripts(answer) -> list[str]:
    events = answer if isinstance(answer, list) else [answer]
    return [str(spec.args[0][1]._var_value) for spec in events
            if isinstance(spec, EventSpec) and spec.handler.fn.__qualname__.endswith("call_script")]


def grant_in(answer) -> str:
    """The one-time grant a sign-in handler's answer carries to /auth/session ("" if none)."""
    found = [m.group(1) for script in _scripts(answer) for m in [re.search(r'grant\\": \\"([\w-]+)', script)] if m]
    return found[0] if found else ""


def page_after(answer) -> str:
    """Where the page goes once the cookie route has answered ("" if nowhere)."""
    found = [m.group(1) for script in _scripts(answer)
             for m in [re.search(r'location\.replace\("([^"]+)"', script)] if m]
    return found[0] if found else ""


def cookie_cleared(answer, kind: SessionKind) -> bool:
    """The answer POSTs to /auth/session/end for `kind` (the cookie of an ended session goes)."""
    return any("/auth/session/end" in script and f'kind\\": \\"{kind.value}' in script for script in _scripts(answer))


def sign_in_tab(session: Session, state, answer, kind: SessionKind) -> str:
    """Do what the browser does with a sign-in's answer: redeem its grant at the cookie route and
    send the new cookie with the tab's events. Returns the session id ("" when refused)."""
    plain = session_grants.redeem(session=session, grant=grant_in(answer), kind=kind) or ""
    if kind == SessionKind.STAFF:
        set_cookies(state, staff=plain)
    else:
        set_cookies(state, portal=plain)
    return plain


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


async def tab_signs_in(session: Session, state, result, kind: SessionKind = SessionKind.PORTAL):
    """Await a sign-in handler's `result` and do what the browser does with its answer
    (`sign_in_tab`); returns the answer."""
    answer = None
    if inspect.isasyncgen(result):
        async for event in result:
            answer = event if event is not None else answer
    else:
        answer = await result
    sign_in_tab(session, state, answer, kind)
    return answer
