"""The second step of a sign-in (staff and patients): the authenticator code or a recovery code,
or, for someone who must have a second factor and has none, setting one up.

The password step leaves a challenge (server-side only: a backend var) when the service raises
`SecondStepNeeded`; these handlers pass it with a code. No session cookie is set before the
second step has passed. The QR code and key are public vars only while the set-up screen shows
them; the recovery codes only while the screen that lists them once is open.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import reflex as rx

from portal_app.services import second_factor
from portal_app.services.errors import InvalidInput, SignInFailed
from portal_app.services.second_factor import SecondStepNeeded
from portal_app.state.base import call
from portal_app.state.inputs import form_as_typed

CODE_FIELD_ID = "two-step-code"
MAX_CODE = 64


class TwoStepMixin(rx.State, mixin=True):
    """Vars and handlers of the second step; a concrete state names its service module (AUTH:
    `staff_auth` or `portal_auth`) and how a finished sign-in sets its cookie (`_signed_in`)."""

    # "" (the password form shows), "code", "enrol" (set up the app), "codes" (the recovery codes, once).
    step: str = ""
    use_recovery: bool = False
    qr_code: str = ""
    setup_key: str = ""
    recovery_codes: list[str] = []
    code_error: str = ""
    _challenge: str = ""
    _pending_sid: str = ""

    AUTH: ClassVar[Any]

    def _clear_two_step(self) -> None:
        self.step = ""
        self.use_recovery = False
        self.qr_code = ""
        self.setup_key = ""
        self.recovery_codes = []
        self.code_error = ""
        self._challenge = ""
        self._pending_sid = ""

    async def _signed_in(self, session_id: str):
        """Set the session cookie the way the password-only sign-in does; return where to go."""
        raise NotImplementedError

    async def _ended(self, message: str) -> None:
        """Back to the password form, with `message` over it."""
        raise NotImplementedError

    async def _begin_second_step(self, need: SecondStepNeeded):
        """Called by the sign-in handler when the password was right and a second step is needed."""
        self._clear_two_step()
        self._challenge = need.challenge
        if need.enrol:
            try:
                shown = await call(partial(second_factor.begin_enrolment, challenge=need.challenge))
            except SignInFailed as exc:
                self._clear_two_step()
                await self._ended(exc.message)
                return None
            self.qr_code, self.setup_key = shown.qr_data_uri, shown.key
            self.step = "enrol"
        else:
            self.step = "code"
        return rx.set_focus(CODE_FIELD_ID)

    async def _refused(self, exc: SignInFailed | InvalidInput):
        if exc.field == "code":
            self.code_error = exc.message
            return [rx.set_value(CODE_FIELD_ID, ""), rx.set_focus(CODE_FIELD_ID)]
        self._clear_two_step()
        await self._ended(exc.message)
        return None

    @rx.event
    async def submit_code(self, form_data: dict):
        """The sign-in's second step: a 6-digit code from the app, or a recovery code."""
        code = form_as_typed(form_data, "code")[:MAX_CODE]
        self.code_error = ""
        if self.step != "code" or not self._challenge:
            return None
        if not code.strip():
            self.code_error = "Enter a recovery code." if self.use_recovery else "Enter the 6-digit code."
            return rx.set_focus(CODE_FIELD_ID)
        try:
            session_id = await call(partial(self.AUTH.sign_in_second_step, challenge=self._challenge, code=code,
                                            recovery=self.use_recovery, ip=self.router.session.client_ip or ""))
        except SignInFailed as exc:
            return await self._refused(exc)
        self._clear_two_step()
        return await self._signed_in(session_id)

    @rx.event
    async def submit_enrolment(self, form_data: dict):
        """Setting up the app: its first code finishes set-up and sign-in; the recovery codes show once."""
        code = form_as_typed(form_data, "code")[:MAX_CODE]
        self.code_error = ""
        if self.step != "enrol" or not self._challenge:
            return None
        if not code.strip():
            self.code_error = "Enter the 6-digit code your app shows."
            return rx.set_focus(CODE_FIELD_ID)
        try:
            session_id, codes = await call(partial(self.AUTH.enrol_and_sign_in, challenge=self._challenge,
                                                   code=code, ip=self.router.session.client_ip or ""))
        except (SignInFailed, InvalidInput) as exc:
            return await self._refused(exc)
        self._clear_two_step()
        self._pending_sid = session_id
        self.recovery_codes = codes
        self.step = "codes"
        return None

    @rx.event
    async def finish(self):
        """The recovery codes are saved: the session cookie is set and the user goes on."""
        session_id = self._pending_sid
        self._clear_two_step()
        if not session_id:
            return None
        return await self._signed_in(session_id)

    @rx.event
    def toggle_recovery(self):
        """Screen only: the same field takes a recovery code instead of the app's code."""
        self.use_recovery = not self.use_recovery
        self.code_error = ""
        return [rx.set_value(CODE_FIELD_ID, ""), rx.set_focus(CODE_FIELD_ID)]

    @rx.event
    def cancel(self):
        """Screen only: back to the password form (the challenge is dropped; it expires anyway)."""
        self._clear_two_step()
