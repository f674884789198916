"""Portal Account Setup: the credentials a save or Reset Pwd generated, shown once.

Mixed into PortalAccountsState (state/portal_accounts.py), which holds the open chart
(`_patient_id`) and the refusal hooks. A generated password is the one secret a public var
holds: it must reach the screen. Every other handler of the page forgets it (only Print
keeps it), and so do "Done", leaving the page, and loading it again.
"""

from __future__ import annotations

import json
from functools import partial

import reflex as rx

from portal_app.services import generated_credentials
from portal_app.services.errors import DomainError
from portal_app.services.generated_credentials import Credentials
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_action
from portal_app.state.base import call

NOT_SHOWN = "The credentials are no longer shown. Use Reset Pwd to make new ones."


class ShownCredentials(rx.State, mixin=True):
    """New credentials on screen, for Copy and Print, until the next action."""

    cred_user_id: str = ""
    cred_password: str = ""
    cred_must_change: bool = False
    cred_expires: str = ""
    cred_portal_url: str = ""
    # The browser confirmed the password is on the clipboard (copied as it appeared).
    cred_copied: bool = False

    @rx.var
    def has_credentials(self) -> bool:
        return self.cred_password != ""

    @rx.var
    def credential_message(self) -> str:
        """The whole message that "Copy" puts on the clipboard."""
        if not self.cred_password:
            return ""
        return generated_credentials.credential_text(Credentials(
            user_id=self.cred_user_id, password=self.cred_password, must_change=self.cred_must_change,
            expires=self.cred_expires, portal_url=self.cred_portal_url, person_name="", patient_name=""))

    def _forget_credentials(self) -> None:
        self.cred_user_id = self.cred_password = self.cred_expires = self.cred_portal_url = ""
        self.cred_must_change = self.cred_copied = False

    def _show_credentials(self, credentials: Credentials) -> None:
        self.cred_user_id = credentials.user_id
        self.cred_password = credentials.password
        self.cred_must_change = credentials.must_change
        self.cred_expires = credentials.expires
        self.cred_portal_url = credentials.portal_url
        self.cred_copied = False

    def _copy_password(self):
        """The event that puts the password on the clipboard as it appears (as staff are used to
        from ClinicTracker); "Password copied" shows only once the browser says it worked."""
        if not self.cred_password:
            return None
        script = (f"navigator.clipboard.writeText({json.dumps(self.cred_password)})"
                  ".then(() => true, () => false)")
        return rx.call_script(script, callback=type(self).password_copied)

    # Needs no check: it only records what the browser answered about its own clipboard.
    @rx.event
    def password_copied(self, ok: bool):
        """The browser's answer to the automatic copy."""
        self.cred_copied = bool(ok) and self.cred_password != ""

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def print_sheet(self, staff: Staff):
        """The printable credential sheet (PDF) of the credentials on screen (they stay shown)."""
        if not self._patient_id or not self.cred_password:
            self.error = NOT_SHOWN
            return None
        try:
            filename, data = await call(partial(generated_credentials.credential_sheet,
                                                patient_id=self._patient_id, user_id=self.cred_user_id,
                                                password=self.cred_password, actor=staff.actor))
        except DomainError:
            self._forget_credentials()
            raise  # shown by the state's _failed
        return rx.download(data=data, filename=filename, mime_type="application/pdf")

    # Forgetting needs no check: it only takes the secret off the screen and out of the state.
    @rx.event
    def forget_credentials(self):
        """The credentials left the screen (the page was left): forget them here too."""
        self._forget_credentials()

    @rx.event
    def done_credentials(self):
        """"Done": the credentials were handed over; take them off the screen."""
        self._forget_credentials()
        self.notice = ""
