"""Patient sign-in (`/login`) and "Forgot password" / "Set up or reset my account" (`/forgot`).

Passwords arrive in the form's submit data and are dropped after the service call: no
public var ever holds one. Every answer that could tell whether an account exists is the
same for every case.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import reflex as rx

from portal_app import routes
from portal_app.models import SessionKind
from portal_app.services import invitations, message_limits, portal_auth
from portal_app.services.errors import FormInvalid, InvalidInput, PortalUnavailable
from portal_app.services.second_factor import SecondStepNeeded
from portal_app.services.throttle import Flow
from portal_app.state import throttling
from portal_app.state.base import call, detach
from portal_app.state.field_errors import FieldErrors
from portal_app.state.inputs import form_text
from portal_app.state.patient_page import PatientPageState
from portal_app.state.session_cookie import clear_cookie, open_session
from portal_app.state.two_step import TwoStepMixin


class LoginState(TwoStepMixin, FieldErrors, PatientPageState):
    """State of /login: the password, then the second step when the account has one (state/two_step.py)."""

    AUTH: ClassVar[Any] = portal_auth

    user_id_error: str = ""
    password_error: str = ""
    # Why this tab, signed in a moment ago, is on the sign-in page (disabled, idle, ...).
    notice: str = ""

    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ("user_id", "password")

    @rx.event
    async def load(self):
        """on_load: check the portal switch; someone already signed in goes to the portal."""
        self._clear_errors()
        self._clear_two_step()
        self.notice = ""
        if not await self._load_practice():
            self.ready = True
            return None
        principal = await self._portal_principal()
        if principal is not None:
            return rx.redirect(routes.PORTAL_PASSWORD if principal.must_change_password
                               else routes.PORTAL_HOME)
        self.notice, self._ended_notice = self._ended_notice, ""
        await self._forget_signed_in_view()
        self.ready = True
        # An ended session's cookie goes (it is HttpOnly: only its route can clear it).
        return clear_cookie(SessionKind.PORTAL) if self.portal_sid else None

    @rx.event
    async def sign_in(self, form_data: dict[str, Any]):
        """Check the user ID and password; one answer for every kind of failure."""
        user_id = form_text(form_data, "user_id")
        password = form_text(form_data, "password")
        self._clear_errors()
        self.notice = ""
        if not user_id.strip():
            self.user_id_error = "Enter your email address or phone number."
        if not password:
            self.password_error = "Enter your password."
        if self.user_id_error or self.password_error:
            return None
        verdict = await throttling.admit(Flow.SIGN_IN, self._ip())
        if not verdict.allowed:
            self.form_error = verdict.message
            return None
        try:
            plain = await throttling.run(verdict, partial(portal_auth.sign_in, user_id=user_id, password=password,
                                                          ip=self._ip()))
        except PortalUnavailable:
            self.portal_off = True
            return None
        except portal_auth.SignInFailed as exc:
            throttling.record(Flow.SIGN_IN, self._ip())
            self.form_error = exc.message
            return None
        except SecondStepNeeded as need:
            return await self._begin_second_step(need)
        return await self._signed_in(plain)

    async def _ended(self, message: str) -> None:
        self.form_error = message

    async def _signed_in(self, plain: str):
        """A session is open (after the password, or the second step): set the cookie, go on."""
        principal = await call(partial(portal_auth.principal_for, session_id=plain))
        must_change = principal is not None and principal.must_change_password
        then = routes.PORTAL_PASSWORD if must_change else routes.PORTAL_HOME
        return await open_session(SessionKind.PORTAL, plain, then)


FORGOT_CONFIRMATION = ("If that email or mobile number and date of birth match an account or a chart with "
                       "portal access, we have sent a link: by email to the email on file, or by text "
                       "message to that mobile number. It may take a few minutes.")


class ForgotState(PatientPageState):
    user_id_error: str = ""
    dob_error: str = ""
    sent: bool = False

    @rx.event
    async def load(self):
        """on_load: a fresh form each visit."""
        self.ready = False
        self.sent = False
        self.user_id_error = ""
        self.dob_error = ""
        yield  # unmount the old form so its fields start empty
        await self._load_practice()
        self.ready = True

    @rx.event
    async def request_link(self, form_data: dict[str, Any]):
        """Send an invitation or reset when a chart matches; say the same thing in every case."""
        self.user_id_error = ""
        self.dob_error = ""
        user_id, dob = form_text(form_data, "user_id"), form_text(form_data, "dob")
        try:
            normalized, _birth = invitations.check_self_service_request(user_id=user_id, dob=dob)
        except FormInvalid as exc:
            self.user_id_error = exc.errors.get("user_id", "")
            self.dob_error = exc.errors.get("dob", "")
            return
        if not await self._load_practice():
            return
        refusal, send = await self._may_send(normalized)
        if refusal:
            self.user_id_error = refusal
            return
        if send:
            # Whether a chart matched must not show in how long the answer takes.
            detach(call(partial(invitations.request_link, user_id=user_id, dob=dob, ip=self._ip())))
        self.sent = True

    async def _may_send(self, user_id: str) -> tuple[str, bool]:
        """The throttle and the limits on unsigned messages, the same for every account: (the
        reason to show beside the user ID, or ""; whether to send). A repeat within the minute is
        answered as sent but sends nothing: the first message is on its way."""
        verdict = await throttling.admit(Flow.FORGOT, self._ip())
        if not verdict.allowed:
            return verdict.message, False
        throttling.record(Flow.FORGOT, self._ip())  # every request counts: each may send
        try:
            await call(partial(message_limits.check_text_country, user_id=user_id))
        except InvalidInput as exc:
            throttling.refused(Flow.FORGOT, self._ip())
            return exc.message, False
        decision = await throttling.unsigned_send(Flow.FORGOT, channel="email" if "@" in user_id else "sms",
                                                  destination=user_id, ip=self._ip())
        return decision.message, decision.send
