"""The chart's "Connected portal accounts" section: connections, pending secrets, actions.

Runs after ChartState.load on the chart page and reads the chart id from the page's own URL.
Every handler checks the session and the permission again (Read lists, Update changes).
Pending tokens and keys are shown by purpose, channel, destination and expiry only.
"""

from __future__ import annotations

from functools import partial

import reflex as rx

from portal_app import routes
from portal_app.services import connections
from portal_app.services.connections import ConnectionRow, PendingRow
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_action
from portal_app.state.base import StaffSessionState, call
from portal_app.state.chart import ChartState
from portal_app.state.chart_section import STALE, ChartSection

NO_CHANGE = "You do not have permission to change portal connections."
NO_VIEW = "You do not have permission to see portal connections."


class ConnectionsState(ChartSection, StaffSessionState):
    """Small view rows only; the ids acted on live in backend-only vars."""

    connections: list[ConnectionRow] = []
    pending: list[PendingRow] = []

    disconnect_open: bool = False
    disconnect_label: str = ""
    void_open: bool = False
    void_label: str = ""

    _connection_id: int = 0
    _secret_id: int = 0

    def _close_dialogs(self) -> None:
        self.disconnect_open = self.void_open = False
        self.disconnect_label = self.void_label = ""
        self._connection_id = self._secret_id = 0

    def _clear(self) -> None:
        self.loaded = False
        self.connections = []
        self.pending = []
        self.notice = self.error = ""
        self._chart_id = 0
        self._close_dialogs()

    # ---- refusals and failures (state/actions.py calls these) -------------------------

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return NO_CHANGE if level > Level.READ else NO_VIEW

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        """The dialogs close; a refused read forgets the lists; no session goes to sign-in."""
        self._close_dialogs()
        if not signed_in:
            return rx.redirect(routes.STAFF_LOGIN)
        self.notice, self.error = "", message
        if level == Level.READ:
            self.connections, self.pending, self.loaded = [], [], False
        return None

    def _listed(self, rows: list, row_id: int, gone: str):
        """Clear the messages; the row `row_id` of a list shown here, or None (and `gone` shown)."""
        self.notice = self.error = ""
        row = next((row for row in rows if row.id == row_id), None)
        if row is None:
            self.error = gone
        return row

    def _confirmed(self, chosen: int) -> bool:
        """A dialog's confirm: the dialogs close; False (and STALE shown) when the chart or the
        dialog's choice is gone."""
        self._close_dialogs()
        if not self._has_chart() or not chosen:
            self.error = STALE
            return False
        return True

    def _has_chart(self) -> bool:
        """Clear the messages; False (and STALE shown) when no chart is open here."""
        self.notice = self.error = ""
        if not self._chart_id:
            self.error = STALE
        return bool(self._chart_id)

    async def _read(self) -> None:
        self.connections = await call(partial(connections.list_connections, patient_id=self._chart_id))
        self.pending = await call(partial(connections.list_pending, patient_id=self._chart_id))
        self.loaded = True

    async def _refresh_chart(self) -> None:
        """Keep the tab's account summary (ChartState) in step after a change."""
        chart = await self.get_state(ChartState)
        if chart._chart_id == self._chart_id:
            await chart._refresh()

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def refresh(self, staff: Staff):
        if self._has_chart():
            await self._read()

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE)
    async def ask_disconnect(self, staff: Staff, connection_id: int):
        row = self._listed(self.connections, connection_id, "That connection is no longer listed. Reload the chart.")
        if row is None:
            return
        self._connection_id = row.id
        self.disconnect_label = f"{row.user_id} ({row.access_type})"
        self.disconnect_open = True

    # Closing a dialog only forgets its choice: it needs no check.
    @rx.event
    def set_disconnect_open(self, value: bool):
        if not value:
            self._close_dialogs()

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE)
    async def disconnect(self, staff: Staff):
        """Confirmed in the dialog: the account loses this chart at once."""
        connection_id, label = self._connection_id, self.disconnect_label
        if not self._confirmed(connection_id):
            return
        try:  # the lists are read again even when the service refused (shown by `_failed`)
            await call(partial(connections.disconnect, patient_id=self._chart_id, connection_id=connection_id,
                       actor=staff.actor))
            self.notice = f"Disconnected {label}. That account can no longer see this chart."
        finally:
            await self._read()
            await self._refresh_chart()

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE)
    async def ask_void(self, staff: Staff, secret_id: int):
        row = self._listed(self.pending, secret_id, "That item is no longer pending. Reload the chart.")
        if row is None:
            return
        self._secret_id = row.id
        self.void_label = f"{row.purpose_label} sent by {row.channel.lower()}" + (
            f" to {row.destination}" if row.destination else "")
        self.void_open = True

    @rx.event
    def set_void_open(self, value: bool):
        if not value:
            self._close_dialogs()

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE)
    async def void(self, staff: Staff):
        """Confirmed in the dialog: the token, key or link stops working."""
        secret_id = self._secret_id
        if not self._confirmed(secret_id):
            return
        try:  # the list is read again even when the service refused (shown by `_failed`)
            row = await call(partial(connections.void_secret, patient_id=self._chart_id, secret_id=secret_id,
                             actor=staff.actor))
            self.notice = f"{row.purpose_label} voided: it no longer works."
        finally:
            await self._read()

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE)
    async def resend(self, staff: Staff, secret_id: int):
        """A fresh link, token or key sent the same way as this one (the old one dies)."""
        if not self._has_chart():
            return
        try:  # the lists are read again even when the service refused (shown by `_failed`)
            result = await call(partial(connections.resend, patient_id=self._chart_id,
                                 secret_id=secret_id,
                                 actor=staff.actor))
            if result.sent:
                self.notice = result.message
            else:
                self.error = result.message
        finally:
            await self._read()
            await self._refresh_chart()
