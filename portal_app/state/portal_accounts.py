"""Portal Account Setup (`/staff/portal-accounts`): pick a chart, edit its connections.

One page state made of its parts (each a mixin in its own module):

- the patient picker (state/portal_account_picker.py),
- the account form: fields, live username check, fill from chart, New and Save
  (state/portal_account_form.py),
- Delete, Reset Pwd and the reset link for the selected connection
  (state/portal_account_selected.py),
- the credentials shown once: Copy, Print, Done (state/portal_account_credentials.py).

This module holds the open chart and what every handler shares: each is a `staff_action` on
Portal Account Setup (Read views, Update changes) that calls `services.portal_accounts`; a
refusal or a service's refusal is answered here (`_refused`, `_failed`). The chart worked on
and the connection chosen for Delete live in backend-only vars. Every handler but Print
forgets the credentials on screen.
"""

from __future__ import annotations

from functools import partial

import reflex as rx

from portal_app import routes
from portal_app.services import audit, form_requests, portal_accounts
from portal_app.services.errors import DomainError, NotFound
from portal_app.services.form_requests import FormRequestRow
from portal_app.services.permissions import Level, Permission
from portal_app.services.portal_accounts import ChartSummary, ConnectionItem
from portal_app.state.actions import Staff, staff_page_load
from portal_app.state.base import StaffSessionState, call
from portal_app.state.inputs import as_id
from portal_app.state.portal_account_credentials import ShownCredentials
from portal_app.state.portal_account_form import AccountEditor
from portal_app.state.portal_account_picker import PatientPicker
from portal_app.state.portal_account_selected import SelectedConnection

NO_CHANGE = "You do not have permission to change portal accounts."
NO_VIEW = "You do not have permission to open Portal Account Setup."


class PortalAccountsState(PatientPicker, AccountEditor, SelectedConnection, ShownCredentials,
                          StaffSessionState):
    loaded: bool = False
    load_error: str = ""

    # The chart and its connections (small views).
    chart: ChartSummary = ChartSummary()
    connections: list[ConnectionItem] = []
    open_forms: list[FormRequestRow] = []
    notice: str = ""
    error: str = ""

    _patient_id: int = 0

    # ---- what the page shows -----------------------------------------------------------

    @rx.var
    def can_change(self) -> bool:
        return self.staff_levels.get(Permission.ACCOUNT_SETUP.value, 0) >= Level.UPDATE

    @rx.var
    def has_chart(self) -> bool:
        return self.chart.patient_id > 0

    @rx.var
    def chart_href(self) -> str:
        return routes.patient_chart(self.chart.patient_id) if self.chart.patient_id else ""

    # ---- refusals and failures (state/actions.py calls these) ----------------------------

    def _forget(self) -> None:
        self._clear()

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return NO_CHANGE if level > Level.READ else NO_VIEW

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        """The credentials and dialogs go; a refused view forgets the chart; no session: sign-in."""
        self._forget_credentials()
        self._close_dialogs()
        if not signed_in:
            return rx.redirect(routes.STAFF_LOGIN)
        if level > Level.READ:
            self._clear_errors()
            self.error = message
            return None
        self._clear()
        self.loaded = True
        self.load_error = message
        return None

    def _failed(self, error: DomainError):
        self._show_form_errors(error)

    # ---- housekeeping ------------------------------------------------------------------

    def _begin(self) -> None:
        """An action begins: the credentials on screen go, and so does the last answer."""
        self._forget_credentials()
        self._clear_errors()

    def _clear(self) -> None:
        """Forget the chart and everything typed (a failed check, or a new visit)."""
        self._forget_credentials()
        self._clear_errors()
        self.chart = ChartSummary()
        self.connections = []
        self.open_forms = []
        self._blank_form()
        self._clear_search()
        self._patient_id = 0
        self.loaded = False
        self.load_error = ""

    async def _read(self) -> None:
        self.connections = await call(partial(portal_accounts.list_connections, patient_id=self._patient_id))
        self.open_forms = await call(partial(form_requests.open_requests, patient_id=self._patient_id))

    async def _open(self, actor: audit.Actor, patient_id: int) -> None:
        try:
            self.chart = await call(partial(portal_accounts.open_chart, patient_id=patient_id,
                                    actor=actor))
        except NotFound as exc:
            self.load_error = exc.message
            return
        self._patient_id = patient_id
        await self._read()
        self._blank_form()

    def _load_refused(self, *, signed_in: bool) -> None:
        self._clear()
        self.load_error = NO_VIEW if signed_in else ""

    @staff_page_load(Permission.ACCOUNT_SETUP)
    async def load(self, staff: Staff):
        """on_load: open the chart named by `?patient=ID`, if any."""
        self._clear()
        patient_id = as_id(self.router.url.query_parameters.get("patient", ""))
        if patient_id:
            await self._open(staff.actor, patient_id)
        self.loaded = True
        return None
