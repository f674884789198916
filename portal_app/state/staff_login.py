"""Staff sign-in and password change.

Passwords arrive in the form's submit data and are never kept in state. Every failure of
sign-in shows the same message (unknown user, wrong password, locked, inactive).
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import reflex as rx

from portal_app import routes
from portal_app.models import SessionKind
from portal_app.services import staff_auth
from portal_app.services.errors import DomainError, FormInvalid
from portal_app.services.permissions import Permission
from portal_app.services.second_factor import SecondStepNeeded
from portal_app.services.staff_auth import SIGN_IN_FAILED, SignInFailed, StaffPrincipal
from portal_app.services.throttle import Flow
from portal_app.state import throttling
from portal_app.state.base import StaffSessionState, call
from portal_app.state.field_errors import PasswordErrors
from portal_app.state.inputs import form_as_typed
from portal_app.state.session_cookie import clear_cookie, open_session
from portal_app.state.two_step import TwoStepMixin

# Long enough for any real password or passphrase; anything longer is refused unread.
MAX_FIELD = 1024
PASSWORD_FIELDS = ("current", "password", "confirm")


# Where a signed-in user starts: the first of these pages their roles open.
LANDING_PAGES = (
    (Permission.PORTAL_ADMIN, routes.ONBOARDING),
    (Permission.TASK_PORTAL_LIST, routes.TASKS),
    (Permission.TASK_PORTAL, routes.TASKS),
    (Permission.ACCOUNT_SETUP, routes.PORTAL_ACCOUNTS),
    (Permission.USER_MANAGEMENT, routes.PORTAL_USERS),
    (Permission.ROLES, routes.ROLES),
    (Permission.SETTINGS, routes.PORTAL_SETTINGS),
    (Permission.PATIENT_IMPORT, routes.PATIENT_IMPORT),
    (Permission.OUTBOX, routes.OUTBOX),
    (Permission.AUDIT, routes.AUDIT),
)


def _after_sign_in(principal: StaffPrincipal) -> str:
    if principal.must_change_password:
        return routes.STAFF_PASSWORD
    # A user with no role at all lands on onboarding, which says they have no access.
    return next((page for permission, page in LANDING_PAGES if principal.can(permission)), routes.STAFF_HOME)


class StaffLoginState(TwoStepMixin, StaffSessionState):
    """State of /staff/login (the password, then the second step: state/two_step.py)."""

    AUTH: ClassVar[Any] = staff_auth

    error: str = ""

    @rx.event
    async def check_signed_in(self):
        """on_load: a signed-in staff user goes on to their work; an ended session's cookie goes."""
        self.error = ""
        self._clear_two_step()
        principal = await self._principal()
        if principal is not None:
            return rx.redirect(_after_sign_in(principal))
        return clear_cookie(SessionKind.STAFF) if self.staff_sid else None

    @rx.event
    async def sign_in(self, form_data: dict):
        username = form_as_typed(form_data, "username")
        password = form_as_typed(form_data, "password")
        self.error = ""
        if len(username) > MAX_FIELD or len(password) > MAX_FIELD or "\x00" in username + password:
            self.error = SIGN_IN_FAILED
            return rx.set_value("staff-password", "")
        verdict = await throttling.admit(Flow.SIGN_IN, self._ip())
        if not verdict.allowed:
            self.error = verdict.message
            return [rx.set_value("staff-password", ""), rx.set_focus("staff-password")]
        try:
            session_id = await throttling.run(verdict, partial(staff_auth.sign_in, username=username,
                                                               password=password, ip=self._ip()))
        except SignInFailed:
            throttling.record(Flow.SIGN_IN, self._ip())
            self.error = SIGN_IN_FAILED
            # The username stays as typed; the password is cleared for the next try.
            return [rx.set_value("staff-password", ""), rx.set_focus("staff-password")]
        except SecondStepNeeded as need:
            return await self._begin_second_step(need)
        return await self._signed_in(session_id)

    async def _ended(self, message: str) -> None:
        self.error = message

    async def _signed_in(self, session_id: str):
        """A session is open (after the password, or the second step): set the cookie, go on."""
        principal = await call(partial(staff_auth.principal_for, session_id=session_id))
        if principal is None:  # e.g. deactivated between the two calls
            self.error = SIGN_IN_FAILED
            return None
        return await open_session(SessionKind.STAFF, session_id, _after_sign_in(principal))


class StaffPasswordState(PasswordErrors, StaffSessionState):
    """State of /staff/password (required at first sign-in when the password was issued)."""

    must_change: bool = False
    current_error: str = ""

    ERROR_FIELDS: ClassVar[tuple[str, ...]] = PASSWORD_FIELDS

    @rx.event
    async def load(self):
        self._clear_errors()
        principal = await self._principal()
        if principal is None:
            return rx.redirect(routes.STAFF_LOGIN)
        self.must_change = principal.must_change_password
        return None

    @rx.event
    async def change_password(self, form_data: dict):
        """Not a `staff_action`: the user who must change the password is the one it serves."""
        self._clear_errors()
        principal = await self._principal()
        if principal is None:
            return rx.redirect(routes.STAFF_LOGIN)
        values = {name: form_as_typed(form_data, name) for name in PASSWORD_FIELDS}
        if any(len(value) > MAX_FIELD for value in values.values()):
            self.password_error = "Use at most 128 characters."
            return None
        if not values["current"]:
            self.current_error = "Enter your current password."
            return None
        verdict = await throttling.admit(Flow.PASSWORD_CHECK, self._ip())
        if not verdict.allowed:
            self.current_error = verdict.message
            return None
        try:
            await throttling.run(verdict, partial(staff_auth.change_password, staff_user_id=principal.id,
                                 current=values["current"], new=values["password"],
                                 confirm=values["confirm"], session_id=self.staff_sid))
        except FormInvalid as exc:
            for field, message in exc.errors.items():
                self._show_error(field, message)
            return None
        except DomainError as exc:
            if exc.field == "current":
                throttling.record(Flow.PASSWORD_CHECK, self._ip())
            self._show_error(exc.field, exc.message)
            return None
        self.must_change = False
        principal = await self._principal()
        landing = _after_sign_in(principal) if principal is not None else routes.STAFF_LOGIN
        return [rx.toast.success("Your password has been changed."), rx.redirect(landing)]
