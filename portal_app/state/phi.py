"""What a tab may keep once its session has ended: nothing about a patient.

Reflex keeps each tab's state on the server, keyed by the tab's token, and sends all of it
again when the tab's socket (re)connects (`hydrate_and_load` sends the whole tree before any
on_load runs). So a page's own `_forget` on its next event is not enough: every state that
shows what only a signed-in session may see is listed here, and reset here, from one place:

- sign-out and the idle sign-out (`forget_tab`, from the sign-out handlers),
- any guarded call that finds no live session (`state/actions.py`),
- a (re)connect whose session is not live, or not the one that filled the tab
  (`HydrateGuard`, a Reflex middleware that runs before the snapshot is taken).

The registry is every state class under `SessionState` except the public pages in
`PUBLIC_PAGES` (sign-in, forgot password, set-up links): a new page state is a PHI state
unless it is named there, so forgetting to list one fails safe.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import reflex as rx
from reflex.middleware import Middleware

from portal_app.services import portal_auth, sessions, staff_auth, tokens
from portal_app.state.base import PortalSessionState, SessionState, StaffSessionState, call

# Pages anyone may open: what they show comes from the visitor's own form or link, not from
# a session. A reconnect keeps what was typed there; sign-out still clears them.
PUBLIC_PAGES = frozenset({
    "PatientPageState",  # practice name and phone only
    "LoginState",  # the sign-in form (the typed user ID stays across a reconnect)
    "ForgotState",  # "forgot password": the visitor's own form
    "SetupState",  # an invitation or reset link: the link is the credential
    "CreateAccountState",  # creating an account with a connection key: the key is the credential
    "StaffLoginState",  # the staff sign-in form
})

# Never reset: the session cookies (the browser holds them anyway; sign-out clears them
# itself) and why this tab was signed out (the sign-in page shows it once; no PHI).
KEPT_FIELDS = frozenset({"_staff_held", "_portal_held", "_ended_notice"})


def _below(cls: type[rx.State]) -> Iterator[type[rx.State]]:
    for sub in sorted(cls.get_substates(), key=lambda c: c.__name__):
        yield sub
        yield from _below(sub)


def tab_states(side: type[SessionState] = SessionState) -> list[type[rx.State]]:
    """Every state class of a tab under `side` (staff or patient), `side` included."""
    return ([side] if side is not SessionState else []) + list(_below(side))


def phi_states(side: type[SessionState] = SessionState) -> list[type[rx.State]]:
    """The states holding what only a live session may see (the registry)."""
    return [cls for cls in tab_states(side) if cls.__name__ not in PUBLIC_PAGES]


def reset_fields(state: rx.State) -> None:
    """Run the page's own `_forget`, then set every field the class owns back to its default.

    Only the fields the class itself declares (as Reflex's `reset` does): a parent's fields
    are reset with the parent. Computed vars follow from these.
    """
    forget = getattr(state, "_forget", None)
    if forget is not None:
        forget()
    cls = type(state)
    for name, field in cls.__fields__.items():
        if field._owner is cls and name not in KEPT_FIELDS:
            setattr(state, name, field.default_value())


async def forget_side(state: rx.State, side: type[SessionState], *, public_too: bool = False) -> None:
    """Reset the PHI states of one side (staff or patient) of the tab that `state` belongs to.

    `public_too` also resets the public pages (sign-out: nothing of the signed-in visit stays).
    """
    classes = tab_states(side) if public_too else phi_states(side)
    for cls in classes:
        reset_fields(await state.get_state(cls))


async def forget_tab(state: rx.State, *, public_too: bool = False) -> None:
    """Reset every PHI state of this tab, staff and patient side."""
    for side in (StaffSessionState, PortalSessionState):
        await forget_side(state, side, public_too=public_too)


# ---- the reconnect ------------------------------------------------------------------------

@dataclass(frozen=True)
class Presented:
    """The sessions that filled the tab (digests kept on the server) and the ids its
    browser's cookies carry in this connection's handshake."""

    held_staff: str
    held_portal: str
    sent_staff: str
    sent_portal: str


def presented(session_state: SessionState) -> Presented:
    """Read after Reflex has taken the (re)connect's handshake headers into the router."""
    return Presented(held_staff=session_state._staff_held, held_portal=session_state._portal_held,
                     sent_staff=session_state.staff_sid, sent_portal=session_state.portal_sid)


async def _live(held: str, sent: str, lookup) -> bool:
    """The tab's data may be sent only to the session that loaded it, and only while it lives."""
    if not held or not sent or not hmac.compare_digest(held, tokens.digest(sent)):
        return False
    return await call(partial(lookup, session_id=sent)) is not None


async def guard_reconnect(root: rx.State) -> None:
    """Before a (re)connect's snapshot: forget each side whose session is not live."""
    session_state = await root.get_state(SessionState)
    seen = presented(session_state)
    if not await _live(seen.held_staff, seen.sent_staff, staff_auth.principal_for):
        await forget_side(root, StaffSessionState)
    if not await _live(seen.held_portal, seen.sent_portal, portal_auth.principal_for):
        await forget_side(root, PortalSessionState)


def _hydrate_events() -> frozenset[str]:
    root = rx.State.get_full_name()
    return frozenset({f"{root}.hydrate", f"{root}.hydrate_and_load"})


class HydrateGuard(Middleware):
    """Runs before Reflex takes the snapshot a (re)connecting tab is sent (`app.add_middleware`).

    Returns None: the event then runs as usual, on a tree without PHI when the session is
    not live.
    """

    async def preprocess(self, app, state, event):  # type: ignore[override]
        if event.name in _hydrate_events():
            await guard_reconnect(state)
        return None


# ---- tabs left open -------------------------------------------------------------------------

logger = logging.getLogger(__name__)
SWEEP_EVERY_S = 60.0


def sweep_interval() -> float:
    """Seconds between sweeps: PORTAL_TAB_SWEEP_SECONDS (default 60; at least 1)."""
    try:
        return max(1.0, float(os.environ.get("PORTAL_TAB_SWEEP_SECONDS", "") or SWEEP_EVERY_S))
    except ValueError:
        return SWEEP_EVERY_S


def _held(root: rx.State) -> tuple[str, str]:
    """The digests of the sessions that filled a tab (staff, patient), read without loading anything."""
    cookies = root.substates.get(SessionState.get_name())
    if cookies is None:
        return "", ""
    return cookies._staff_held, cookies._portal_held  # type: ignore[attr-defined]


async def _held_by_tab(app: rx.App) -> dict[str, tuple[str, str]]:
    """Every tab's session digests (staff, portal), by token: from the in-memory state manager's
    tabs, or from the SessionState key each tab has in Redis ("{token}_{state name}")."""
    manager = app.state_manager
    states = getattr(manager, "states", None)
    if isinstance(states, dict):
        return {ident: _held(root) for ident, root in list(states.items()) if isinstance(root, rx.State)}
    redis = getattr(manager, "redis", None)
    if redis is None:
        return {}
    suffix = f"_{SessionState.get_full_name()}"
    held = {}
    async for key in redis.scan_iter(match=f"*{suffix}", count=500):
        data = await redis.get(key)
        try:
            cookies = rx.State._deserialize(data=data) if data is not None else None
        except Exception:  # a state of an older deployment's shape: its own next event resets it
            continue
        if isinstance(cookies, SessionState):
            held[(key.decode() if isinstance(key, bytes) else key)[:-len(suffix)]] = (
                cookies._staff_held, cookies._portal_held)  # type: ignore[attr-defined]
    return held


async def sweep_tabs(app: rx.App) -> int:
    """Forget the PHI of every open tab whose session has ended (idle expiry, access disabled,
    signed out in another tab) although the tab itself sent nothing since.

    Works with the in-memory state manager and with redis (several workers: each sweeps every
    tab in Redis; that is safe, since a tab is reset under its lock only if it still holds the
    ended session, so the second worker finds nothing to do). The check does not touch the
    sessions (asking must not keep them alive). A connected tab is sent the reset, so its
    screen empties too. Returns how many tabs were reset.
    """
    held = await _held_by_tab(app)
    ids = [sid for pair in held.values() for sid in pair if sid]
    if not ids:
        return 0
    live = await call(partial(sessions.live_digests, digests=ids))
    count = 0
    for ident, (staff_sid, portal_sid) in held.items():
        dead = [side for side, sid in ((StaffSessionState, staff_sid), (PortalSessionState, portal_sid))
                if sid and sid not in live]
        if not dead:
            continue
        async with app.modify_state(rx.BaseStateToken(ident=ident, cls=rx.State)) as root:
            if _held(root) != (staff_sid, portal_sid):
                continue  # signed in or out meanwhile: its own handlers saw to it
            cookies = await root.get_state(SessionState)
            for side in dead:
                if side is PortalSessionState:
                    await _keep_ended_reason(root, portal_sid)
                await forget_side(root, side)
                if side is StaffSessionState:
                    cookies._staff_held = ""
                else:
                    cookies._portal_held = ""
        count += 1
    return count


async def _keep_ended_reason(root: rx.State, portal_held: str) -> None:
    """The sign-in page still says why this tab's session ended (access turned off, idle, ...)."""
    portal = await root.get_state(PortalSessionState)
    if portal.account_user_id:
        portal._ended_notice = await call(partial(portal_auth.ended_reason, token_hash=portal_held))


async def sweep_forever(app: rx.App) -> None:
    """The lifespan task: `sweep_tabs` every `sweep_interval()` (a failed sweep is logged, the next one runs)."""
    every = sweep_interval()
    while True:
        await asyncio.sleep(every)
        try:
            await sweep_tabs(app)
        except Exception:  # noqa: BLE001 - one bad tab must not stop the sweeps
            logger.exception("Sweeping ended sessions' tabs failed")
