"""One way to write a guarded handler, for staff pages and patient pages.

A handler says who may call it in one visible line; the code here does the rest the same way
for every handler:

    @staff_action(Permission.USER_MANAGEMENT, Level.UPDATE)
    async def unlock(self, staff: Staff, account_id: int):
        row = await call(partial(portal_users.unlock, account_id=account_id, actor=staff.actor))
        ...

    @portal_action(Area.MESSAGES)
    async def send(self, me: Patient, form_data: dict):
        ...

- The principal is looked up again from the database on every event, so a disabled account,
  an ended session or a changed role applies at once (an on_load redirect does not stop the
  next handler: any client can send any event).
- A refusal is audited and answered by the state's `_refused` hook (a toast by default; a page
  may put the message beside a field instead). A tab whose session has ended forgets what it
  showed: every PHI state of its side (state/phi.py), so no PHI stays in its server state.
- The first parameter after `self` receives the caller (`Staff` or `Patient`, with the audit
  actor ready); Reflex never sees it: the handler's public signature is the rest.
- Arguments are coerced to their annotations (`int`, `str`, `bool`, `dict`, `list[str]`);
  anything else a client sends becomes the type's empty value, unknown names are dropped.
- A `DomainError` raised by a service becomes the state's `_failed` answer (a toast by default).

Reflex 0.10 registers any public function in a state class as a handler and reads its
parameters with `inspect.signature` and its annotations with `get_type_hints`; the wrapper
carries an explicit `__signature__` and `__annotations__` without the caller parameter, and
keeps `__wrapped__` so the annotations resolve in the handler's own module. Background
handlers are not wrapped: they must take the state lock (`async with self`) before touching
vars, so they check access inside it themselves.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import reflex as rx

from portal_app import routes
from portal_app.services import audit, roles
from portal_app.services.areas import Area
from portal_app.services.errors import DomainError, Forbidden, NotFound, PortalUnavailable
from portal_app.services.permissions import Level, Permission
from portal_app.services.portal_auth import ChartView, PortalPrincipal
from portal_app.services.staff_auth import StaffPrincipal
from portal_app.state.base import PortalSessionState, StaffSessionState, call
from portal_app.state.inputs import coerce
from portal_app.state.phi import forget_side

PAGE_REFUSED = "You do not have permission to open that page."


@dataclass(frozen=True)
class Staff:
    """The signed-in staff user a handler acts as."""

    principal: StaffPrincipal
    actor: audit.Actor

    @property
    def id(self) -> int:
        return self.principal.id


@dataclass(frozen=True)
class Patient:
    """The signed-in portal account and the chart it has open."""

    principal: PortalPrincipal
    chart: ChartView
    actor: audit.Actor

    @property
    def account_id(self) -> int:
        return self.principal.account_id

    @property
    def patient_id(self) -> int:
        return self.chart.patient_id


def _public_signature(fn: Callable) -> tuple[inspect.Signature, dict[str, Any]]:
    """The handler's signature and annotations as Reflex should see them (no caller parameter)."""
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    if len(params) < 2:
        raise TypeError(f"{fn.__qualname__}: a guarded handler takes (self, caller, ...)")
    caller = params[1].name
    public = signature.replace(parameters=[params[0], *params[2:]])
    annotations = {k: v for k, v in fn.__annotations__.items() if k != caller}
    return public, annotations


@functools.cache
def _hints(fn: Callable) -> dict[str, Any]:
    """The handler's resolved annotations, worked out once (on its first call: while its state
    class is being built, names the annotations use may not exist yet)."""
    return typing.get_type_hints(fn)


def _coerced_arguments(fn: Callable, public: inspect.Signature, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The client's arguments by name, each coerced to its annotation; unknown names dropped."""
    params = list(public.parameters.values())[1:]  # without self
    hints = _hints(fn)
    given = dict(zip((p.name for p in params), args, strict=False))  # extra positionals are dropped
    given.update({k: v for k, v in kwargs.items() if k in public.parameters and k != "self"})
    values: dict[str, Any] = {}
    for param in params:
        if param.name in given:
            values[param.name] = coerce(given[param.name], hints.get(param.name, Any))
        elif param.default is not inspect.Parameter.empty:
            values[param.name] = param.default
        else:
            values[param.name] = coerce(None, hints.get(param.name, Any))
    return values


# What a staff user reads when a send met the portal switch (patients read PortalUnavailable's own).
STAFF_PORTAL_OFF = ("Nothing was sent: the patient portal is switched off (Setup > Portal Settings). "
                    "Switch it on to send.")


def _for_staff(exc: DomainError) -> DomainError:
    if isinstance(exc, PortalUnavailable):
        exc.message = STAFF_PORTAL_OFF
    return exc


def _named_ids(values: dict[str, Any]) -> str:
    """The arguments that name objects (whole numbers), for the audit; typed text is left out."""
    return "; ".join(f"{key}={value}" for key, value in values.items()
                     if (isinstance(value, int) and not isinstance(value, bool))
                     or (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12))


async def _audit_object_refusal(state, caller: Staff | Patient, handler: str, values: dict[str, Any],
                                exc: DomainError) -> None:
    """A service refused an object the handler named (another chart's, or none such: a crafted
    event's id, or a row gone meanwhile): audit it once, with the ids asked for."""
    if not isinstance(exc, (NotFound, Forbidden)) or exc.audited:
        return
    parts = [f"handler={type(state).__name__}.{handler}", type(exc).__name__, _named_ids(values)]
    if isinstance(caller, Patient):
        parts.append(f"viewing chart={caller.patient_id}")
    await call(partial(audit.record_object_refusal, actor=caller.actor, detail="; ".join(p for p in parts if p)))
    exc.audited = True


def _guarded(fn: Callable, admit: Callable, guard: str, staff: bool = False) -> Callable:
    """Wrap `fn` so that `admit(state, handler_name)` runs first.

    `admit` returns (caller, None) to go on or (None, answer) to stop with that answer.
    `guard` says what is checked (kept on the wrapper as `__guard__` for the inventory test).
    """
    public, annotations = _public_signature(fn)
    name = fn.__name__

    async def run(self, caller, values):
        try:
            result = fn(self, caller, **values)
            if inspect.isawaitable(result):
                result = await result
            return result
        except DomainError as exc:
            await _audit_object_refusal(self, caller, name, values, exc)
            return self._failed(_for_staff(exc) if staff else exc)

    if inspect.isasyncgenfunction(fn):
        @functools.wraps(fn)
        async def wrapper(self, *args, **kwargs):
            caller, answer = await admit(self, name)
            if caller is None:
                yield answer
                return
            values = _coerced_arguments(fn, public, args, kwargs)
            try:
                async for item in fn(self, caller, **values):
                    yield item
            except DomainError as exc:
                await _audit_object_refusal(self, caller, name, values, exc)
                yield self._failed(_for_staff(exc) if staff else exc)
    else:
        @functools.wraps(fn)
        async def wrapper(self, *args, **kwargs):
            caller, answer = await admit(self, name)
            if caller is None:
                return answer
            return await run(self, caller, _coerced_arguments(fn, public, args, kwargs))

    wrapper.__signature__ = public  # type: ignore[attr-defined]
    wrapper.__annotations__ = annotations
    wrapper.__guard__ = guard  # type: ignore[attr-defined]
    return wrapper


def staff_action(permission: Permission | None, level: Level = Level.READ, *,
                 refuse: str = "") -> Callable[[Callable], Callable]:
    """An event handler for a staff page, allowed at `permission` >= `level`.

    `permission=None` means any signed-in staff user whose password is current. `refuse` is
    what a refused caller reads (the state's `_refusal_message` when empty).
    """

    need = f"{permission.name.lower()}>={level.name.lower()}" if permission else "signed-in"

    def decorate(fn: Callable) -> Callable:
        async def admit(state, handler: str):
            principal = await state._principal()
            allowed = (principal is not None and not principal.must_change_password
                       and (permission is None or principal.can(permission, level)))
            if allowed:
                return Staff(principal, audit.Actor.staff(principal.id, state._ip())), None
            actor = (audit.Actor.staff(principal.id, state._ip()) if principal is not None
                     else audit.Actor.anonymous(ip=state._ip()))
            await call(partial(audit.record_refusal, actor=actor,
                               handler=f"{type(state).__name__}.{handler}", need=need))
            if principal is None:
                await forget_side(state, StaffSessionState)
            return None, state._refused(refuse or state._refusal_message(level),
                                        signed_in=principal is not None, level=level)

        return rx.event(_guarded(fn, admit, f"staff:{need}", staff=True))

    return decorate


def portal_action(area: Area | None = None, *, allow_must_change: bool = False,
                  refuse: str = "", audit_as: str = "") -> Callable[[Callable], Callable]:
    """An event handler for a patient page: a signed-in account, and the open chart's `area`.

    `area=None` means any signed-in account (its own pages: home, password). A refusal of an
    area is audited by `_area_principal` (as `audit_as`, the handler's name when empty: audit
    records keep their names when a handler is renamed); a call with no live session forgets
    the page.
    """

    def decorate(fn: Callable) -> Callable:
        async def admit(state, handler: str):
            if area is not None:
                return await _admit_to_area(state, area, audit_as or handler, refuse)
            principal = await state._portal_principal()
            if principal is None or (principal.must_change_password and not allow_must_change):
                if principal is None:
                    state._forget()
                    await forget_side(state, PortalSessionState)
                await _audit_portal_refusal(state, principal.account_id if principal else None,
                                            audit_as or handler, "signed-in")
                return None, state._refused(refuse or state._refusal_message(), signed_in=principal is not None)
            chart = state._show_viewing(principal)
            return Patient(principal, chart, audit.Actor.portal(principal.account_id, state._ip())), None

        return rx.event(_guarded(fn, admit, f"portal:{area.value if area else 'signed-in'}"))

    return decorate


async def _audit_portal_refusal(state, account_id: int | None, handler: str, need: str) -> None:
    """A patient-page handler refused for want of a session (or a password that must change first)."""
    actor = audit.Actor.portal(account_id, state._ip()) if account_id else audit.Actor.anonymous(ip=state._ip())
    await call(partial(audit.record_refusal, actor=actor, handler=f"{type(state).__name__}.{handler}",
                       need=f"portal:{need}"))


async def _admit_to_area(state, area: Area, handler: str, refuse: str):
    """(Patient, None) when the chart this tab shows is still open to it and grants `area`.

    `_area_principal` is the only lookup: it compares the chart the tab was viewing with what
    the session may open now, and a lookup before it would already have moved the tab to
    another chart (an action meant for a revoked chart must not land in another one).
    """
    got = await state._area_principal(area, handler)
    if got is None:
        signed_in = bool(state.account_user_id)
        if not signed_in:
            state._forget()
            await forget_side(state, PortalSessionState)
            await _audit_portal_refusal(state, None, handler, area.value)
        answer = state._refused(refuse or state._refusal_message(), signed_in=signed_in)
        if signed_in and state._pending_notice:
            # The area or the chart was taken away: the portal home says so in a sentence that stays.
            return None, [event for event in (answer, rx.redirect(routes.PORTAL_HOME)) if event is not None]
        return None, answer
    principal, chart = got
    return Patient(principal, chart, audit.Actor.portal(principal.account_id, state._ip())), None


def staff_page_load(permission: Permission, level: Level = Level.READ) -> Callable[[Callable], Callable]:
    """The on_load handler of a staff page, allowed at `permission` >= `level`.

    The same check as `staff_action`, answered the way a page load must be: a tab with no
    session goes to sign-in (and forgets what it showed), a password that must change goes to
    the change page, a user without the permission reads why. The state's
    `_load_refused(signed_in=)` hook puts the page's own words on it; the refusal is audited.
    """
    need = f"{permission.name.lower()}>={level.name.lower()}"

    def decorate(fn: Callable) -> Callable:
        async def admit(state, handler: str):
            principal = await state._principal()
            if principal is None:  # a tab with no session is sent to sign in, and forgets
                await forget_side(state, StaffSessionState)
                state._load_refused(signed_in=False)
                return None, rx.redirect(routes.STAFF_LOGIN)
            if principal.must_change_password:
                state._load_refused(signed_in=True)
                return None, rx.redirect(routes.STAFF_PASSWORD)
            if principal.can(permission, level):
                return Staff(principal, audit.Actor.staff(principal.id, state._ip())), None
            await call(partial(audit.record_refusal, actor=audit.Actor.staff(principal.id, state._ip()),
                               handler=f"{type(state).__name__}.{handler}", need=need))
            state._load_refused(signed_in=True)
            if not any(level > 0 for level in principal.levels.values()):
                # No permission at all: the page says whom to ask (components/notices.py).
                state.staff_access_contacts = await call(partial(roles.access_contacts))
            return None, rx.toast.error(PAGE_REFUSED)

        return rx.event(_guarded(fn, admit, f"staff-page:{need}"))

    return decorate


def portal_page_load(area: Area | None = None, *, allow_must_change: bool = False) -> Callable[[Callable], Callable]:
    """The on_load handler of a patient page: a signed-in account and, for an area page, the
    open chart's `area` (a refusal is audited and goes home with a sentence saying why).

    A tab with no session goes to sign-in and forgets what it showed; a password that must
    change goes to the change page (unless `allow_must_change`: the change page itself).
    """

    def decorate(fn: Callable) -> Callable:
        async def admit(state, handler: str):
            if area is not None:
                got, answer = await state._area_guard(area)
                principal, chart = got if got is not None else (None, None)
            else:
                principal, answer = await state._portal_guard(allow_must_change=allow_must_change)
                chart = state._show_viewing(principal) if principal is not None else None
            if principal is None or chart is None:
                if not state.account_user_id:
                    await forget_side(state, PortalSessionState)
                state._load_refused(signed_in=bool(state.account_user_id))
                return None, answer
            return Patient(principal, chart, audit.Actor.portal(principal.account_id, state._ip())), None

        return rx.event(_guarded(fn, admit, f"portal-page:{area.value if area else 'signed-in'}"))

    return decorate
