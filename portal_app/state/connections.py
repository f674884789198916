"""The chart's "Connected portal accounts" section: connections, pending secrets, actions.

Runs after ChartState.load on the chart page and reads the chart id from the page's own URL.
Every handler checks the session and the permission again (Read lists, Update changes).
Pending tokens and keys are shown by purpose, channel, destination and expiry only.
"""

from __future__ import annotations

import re
from functools import partial

import reflex as rx

from portal_app import routes
from portal_app.services import audit, connections
from portal_app.services.connections import ConnectionRow, PendingRow
from portal_app.services.errors import DomainError
from portal_app.services.permissions import Level, Permission
from portal_app.state.base import StaffSessionState, call
from portal_app.state.chart import ChartState

_CHART_PATH = re.compile(r"/staff/patients/(\d{1,12})/?$")
STALE = "This chart is no longer open here. Reload the page and try again."


def _as_id(value) -> int:
    """An id sent by the client, or 0 (any client can send anything)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 0
    return number if 0 < number < 10**12 else 0


class ConnectionsState(StaffSessionState):
    """Small view rows only; the ids acted on live in backend-only vars."""

    loaded: bool = False
    connections: list[ConnectionRow] = []
    pending: list[PendingRow] = []
    notice: str = ""
    error: str = ""

    disconnect_open: bool = False
    disconnect_label: str = ""
    void_open: bool = False
    void_label: str = ""

    _chart_id: int = 0
    _connection_id: int = 0
    _secret_id: int = 0

    def _route_patient_id(self) -> int | None:
        match = _CHART_PATH.search(self.router.url.path or "")
        return int(match.group(1)) if match else None

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

    async def _allowed(self, level: Level):
        """(principal, None), or (None, refusal) with the lists forgotten when not signed in."""
        staff = await self._require(Permission.PORTAL_ADMIN, level)
        if staff is not None:
            return staff, None
        self._close_dialogs()
        if not self.staff_name:
            self._clear()
            return None, rx.redirect(routes.STAFF_LOGIN)
        self.error = ("You do not have permission to change portal connections."
                      if level > Level.READ else "You do not have permission to see portal connections.")
        if level == Level.READ:
            self.connections, self.pending, self.loaded = [], [], False
        return None, None

    async def _read(self) -> None:
        self.connections = await call(partial(connections.list_connections, patient_id=self._chart_id))
        self.pending = await call(partial(connections.list_pending, patient_id=self._chart_id))
        self.loaded = True

    async def _refresh_chart(self) -> None:
        """Keep the tab's account summary (ChartState) in step after a change."""
        chart = await self.get_state(ChartState)
        if chart._chart_id == self._chart_id:
            await chart._refresh()

    @rx.event
    async def load(self):
        """on_load (after ChartState.load): list the chart's connections and pending secrets."""
        self._clear()
        staff = await self._require(Permission.PORTAL_ADMIN, Level.READ)
        if staff is None:
            return None  # ChartState.load has already redirected or said why
        patient_id = self._route_patient_id()
        if patient_id is None:
            return None
        self._chart_id = patient_id
        try:
            await self._read()
        except DomainError as exc:
            self._chart_id = 0
            self.error = exc.message
        return None

    @rx.event
    async def refresh(self):
        self.notice = self.error = ""
        staff, refusal = await self._allowed(Level.READ)
        if staff is None:
            return refusal
        if not self._chart_id:
            self.error = STALE
            return None
        await self._read()
        return None

    @rx.event
    async def ask_disconnect(self, connection_id: int):
        self.notice = self.error = ""
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        row = next((row for row in self.connections if row.id == _as_id(connection_id)), None)
        if row is None:
            self.error = "That connection is no longer listed. Reload the chart."
            return None
        self._connection_id = row.id
        self.disconnect_label = f"{row.user_id} ({row.access_type})"
        self.disconnect_open = True
        return None

    @rx.event
    def set_disconnect_open(self, value: bool):
        if not value:
            self._close_dialogs()

    @rx.event
    async def disconnect(self):
        """Confirmed in the dialog: the account loses this chart at once."""
        self.notice = self.error = ""
        connection_id, label = self._connection_id, self.disconnect_label
        staff, refusal = await self._allowed(Level.UPDATE)
        self._close_dialogs()
        if staff is None:
            return refusal
        if not self._chart_id or not connection_id:
            self.error = STALE
            return None
        try:
            await call(partial(connections.disconnect, patient_id=self._chart_id, connection_id=connection_id,
                       actor=audit.Actor.staff(staff.id, self._ip())))
        except DomainError as exc:
            self.error = exc.message
        else:
            self.notice = f"Disconnected {label}. That account can no longer see this chart."
        await self._read()
        await self._refresh_chart()
        return None

    @rx.event
    async def ask_void(self, secret_id: int):
        self.notice = self.error = ""
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        row = next((row for row in self.pending if row.id == _as_id(secret_id)), None)
        if row is None:
            self.error = "That item is no longer pending. Reload the chart."
            return None
        self._secret_id = row.id
        self.void_label = f"{row.purpose_label} sent by {row.channel.lower()}" + (
            f" to {row.destination}" if row.destination else "")
        self.void_open = True
        return None

    @rx.event
    def set_void_open(self, value: bool):
        if not value:
            self._close_dialogs()

    @rx.event
    async def void(self):
        """Confirmed in the dialog: the token, key or link stops working."""
        self.notice = self.error = ""
        secret_id = self._secret_id
        staff, refusal = await self._allowed(Level.UPDATE)
        self._close_dialogs()
        if staff is None:
            return refusal
        if not self._chart_id or not secret_id:
            self.error = STALE
            return None
        try:
            row = await call(partial(connections.void_secret, patient_id=self._chart_id, secret_id=secret_id,
                             actor=audit.Actor.staff(staff.id, self._ip())))
        except DomainError as exc:
            self.error = exc.message
        else:
            self.notice = f"{row.purpose_label} voided: it no longer works."
        await self._read()
        return None

    @rx.event
    async def resend(self, secret_id: int):
        """A fresh link, token or key sent the same way as this one (the old one dies)."""
        self.notice = self.error = ""
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        if not self._chart_id:
            self.error = STALE
            return None
        try:
            result = await call(partial(connections.resend, patient_id=self._chart_id,
                                 secret_id=_as_id(secret_id),
                                 actor=audit.Actor.staff(staff.id, self._ip())))
        except DomainError as exc:
            self.error = exc.message
        else:
            if result.sent:
                self.notice = result.message
            else:
                self.error = result.message
        await self._read()
        await self._refresh_chart()
        return None
