"""`/portal/two-step`: a signed-in patient turns two-step verification on (optional unless the
practice requires it) or off.

The QR code and key are public vars only while set-up shows them; the recovery codes only until
the patient says they are saved. A wrong code counts towards the sign-in lockout (the service).
"""

from __future__ import annotations

from functools import partial

import reflex as rx

from portal_app.services import second_factor
from portal_app.services.errors import DomainError
from portal_app.state.actions import Patient, portal_action, portal_page_load
from portal_app.state.base import PortalSessionState, call
from portal_app.state.inputs import form_as_typed
from portal_app.state.two_step import CODE_FIELD_ID, MAX_CODE


class PortalTwoStepState(PortalSessionState):
    ready: bool = False
    enabled: bool = False
    required: bool = False
    setting_up: bool = False
    qr_code: str = ""
    setup_key: str = ""
    recovery_codes: list[str] = []
    code_error: str = ""
    notice: str = ""
    form_error: str = ""

    def _clear(self) -> None:
        self.setting_up = False
        self.qr_code = self.setup_key = ""
        self.recovery_codes = []
        self.code_error = self.notice = self.form_error = ""

    def _forget(self) -> None:
        self._clear()
        self.ready = self.enabled = self.required = False

    def _load_refused(self, *, signed_in: bool) -> None:
        self._forget()

    def _failed(self, error: DomainError):
        if error.field == "code":
            self.code_error = error.message
            return [rx.set_value(CODE_FIELD_ID, ""), rx.set_focus(CODE_FIELD_ID)]
        self.form_error = error.message
        return None

    async def _status(self, me: Patient) -> None:
        self.enabled, self.required = await call(partial(second_factor.account_status, account_id=me.account_id))

    @portal_page_load()
    async def load(self, me: Patient):
        self._clear()
        await self._status(me)
        self.ready = True

    @portal_action(None)
    async def start(self, me: Patient):
        """Show a new QR code and key to add to an authenticator app."""
        self._clear()
        shown = await call(partial(second_factor.start_for_account, account_id=me.account_id))
        self.qr_code, self.setup_key = shown.qr_data_uri, shown.key
        self.setting_up = True
        return rx.set_focus(CODE_FIELD_ID)

    @portal_action(None)
    async def confirm(self, me: Patient, form_data: dict):
        """The app's first code turns it on; the recovery codes show once."""
        self.code_error = self.form_error = ""
        code = form_as_typed(form_data, "code")[:MAX_CODE]
        if not code.strip():
            self.code_error = "Enter the 6-digit code your app shows."
            return rx.set_focus(CODE_FIELD_ID)
        codes = await call(partial(second_factor.confirm_for_account, account_id=me.account_id, code=code,
                                   ip=self._ip()))
        self._clear()
        self.recovery_codes = codes
        await self._status(me)
        return None

    @portal_action(None)
    async def codes_saved(self, me: Patient):
        self._clear()
        self.notice = "Two-step verification is on: you will enter a code from your app each time you sign in."

    @portal_action(None)
    async def turn_off(self, me: Patient, form_data: dict):
        """Turn it off, proven with a current code (or a recovery code)."""
        self.code_error = self.form_error = ""
        code = form_as_typed(form_data, "code")[:MAX_CODE]
        if not code.strip():
            self.code_error = "Enter the 6-digit code your app shows, or a recovery code."
            return rx.set_focus(CODE_FIELD_ID)
        await call(partial(second_factor.turn_off_for_account, account_id=me.account_id, code=code, ip=self._ip()))
        self._clear()
        await self._status(me)
        self.notice = "Two-step verification is off: your password alone signs you in."
        return None

    @rx.event
    def cancel(self):
        """Screen only: leave set-up (nothing was turned on)."""
        self.setting_up = False
        self.qr_code = self.setup_key = ""
        self.code_error = ""
