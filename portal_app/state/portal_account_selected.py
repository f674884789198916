"""Portal Account Setup: what the buttons beside the form do to the selected connection
(Delete and Reset Pwd, each confirmed in a dialog, and the emailed reset link).

Mixed into PortalAccountsState (state/portal_accounts.py), which holds the open chart
(`_patient_id`, `connections`) and the refusal hooks; the form (state/portal_account_form.py)
holds the selection (`selected_id`). The connection a confirmation acts on is the one the
server put in the dialog.
"""

from __future__ import annotations

from functools import partial

import reflex as rx

from portal_app.services import portal_accounts
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_action
from portal_app.state.base import call
from portal_app.state.focus import focus_later

PICK_FIRST = "Select a connection in the list first."


class SelectedConnection(rx.State, mixin=True):
    """The two confirmations; the connection Delete acts on stays on the server."""

    delete_open: bool = False
    delete_label: str = ""
    delete_detail: str = ""
    reset_open: bool = False

    _delete_id: int = 0
    # Where focus goes when a dialog closes (the dialogs have no trigger to hand it back to).
    _focus_after_dialog: tuple[str, ...] = ()

    def _close_dialogs(self) -> None:
        self.delete_open = self.reset_open = False
        self.delete_label = self.delete_detail = ""
        self._delete_id = 0

    def _selected(self) -> bool:
        """An action on the selection begins: False (and the reason shown) with none selected."""
        self._begin()
        if not self._patient_id or not self.selected_id:
            self.error = PICK_FIRST
            return False
        return True

    def _confirmed(self, chosen: object, missing: str) -> bool:
        """A dialog's confirm: the dialogs close; True when a connection is still selected and
        the dialog made its choice (`chosen`), else False with the reason shown."""
        self._close_dialogs()
        if not self._selected():
            return False
        if not chosen:
            self.error = missing
            return False
        return True

    @rx.event
    def set_dialog_open(self, value: bool):
        """Either confirmation closed (Cancel, Escape, or its action): forget what it was about
        and put focus back: on new credentials, else the button that asked, else the form."""
        # Closing only forgets: it needs no check.
        if value:
            return None
        self._close_dialogs()
        return focus_later("copy-credentials", *self._focus_after_dialog, "username")

    # ---- delete ----------------------------------------------------------------------------

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def ask_delete(self, staff: Staff):
        if not self._selected():
            return
        preview = await call(partial(portal_accounts.delete_preview, patient_id=self._patient_id,
                             connection_id=self.selected_id))
        self._delete_id = preview.connection_id
        self.delete_label = preview.label
        detail = ("This account has no other connection, so the account itself is deleted too."
                  if preview.deletes_account
                  else "The account stays connected to its other charts.")
        if preview.signed_in:
            detail += " It is signed in now: its sessions end at once."
        self.delete_detail = detail
        self.delete_open = True
        self._focus_after_dialog = ("delete-button",)

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def delete(self, staff: Staff):
        """Confirmed in the dialog."""
        connection_id = self._delete_id
        if not self._confirmed(connection_id, "Nothing to delete: select a connection and try again."):
            return
        try:  # the list is read again even when the service refused (shown by `_failed`)
            message = await call(partial(portal_accounts.delete_connection, patient_id=self._patient_id,
                                 connection_id=connection_id, actor=staff.actor))
        finally:
            await self._read()
        self.notice = message
        self._blank_form()

    # ---- passwords -------------------------------------------------------------------------

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def ask_reset(self, staff: Staff):
        if self._selected():
            self.reset_open = True
            self._focus_after_dialog = ("reset-button",)

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def reset_password(self, staff: Staff):
        """Confirmed: a new generated password, shown once; the old one stops working."""
        if not self._confirmed(self.reset_open, "Confirm the reset in its dialog first."):
            return None
        credentials = await call(partial(portal_accounts.reset_password, patient_id=self._patient_id,
                                 connection_id=self.selected_id, force_change=self.force_change,
                                 actor=staff.actor), hashing=True)
        await self._read()
        self._show_credentials(credentials)
        self.notice = (f"New password for {credentials.user_id}: give it to them now, it is shown "
                       "only once. Their portal sessions have ended.")
        return self._copy_password()

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def send_reset_link(self, staff: Staff):
        """Instead of a generated password: email a link to choose one."""
        self._close_dialogs()
        if not self._selected():
            return
        message = await call(partial(portal_accounts.send_reset_link, patient_id=self._patient_id,
                             connection_id=self.selected_id, actor=staff.actor))
        if "could not be sent" in message:
            self.error = message
        else:
            self.notice = message
