"""Staff chart page (`/staff/patients/[patient_id]`): demographics and the Patient Portal tab.

Every handler checks the session and the permission again (Read views, Update changes). The
manual password arrives in the form's submit data and goes straight to the service: no var
of this state ever holds it.
"""

from __future__ import annotations

import re
from typing import Any

import reflex as rx

from portal_app import routes
from portal_app.services import audit, charts, invitations, manual_credentials, onboarding
from portal_app.services.charts import ChartView
from portal_app.services.errors import DomainError, InvalidInput
from portal_app.services.permissions import Level, Permission
from portal_app.state.base import StaffSessionState, call

_CHART_PATH = re.compile(r"/staff/patients/(\d{1,12})/?$")
MAX_USERNAME = 300
PASSWORD_FIELD_ID = "manual-password"
STALE = "This chart is no longer open here. Reload the page and try again."


class ChartState(StaffSessionState):
    """The open chart; only a small view object, never the table rows."""

    chart: ChartView = ChartView()
    loaded: bool = False

    @rx.var
    def account_setup_href(self) -> str:
        return routes.portal_accounts(self.chart.patient_id or None)
    load_error: str = ""

    access_notice: str = ""
    access_error: str = ""
    send_notice: str = ""
    send_error: str = ""

    username: str = ""
    username_ok: bool = False
    username_message: str = ""
    set_password: bool = False
    force_change: bool = True
    password_error: str = ""
    account_notice: str = ""
    account_error: str = ""

    # Which chart the handlers act on: set only by `load`, from the page's own URL.
    _chart_id: int = 0

    def _route_patient_id(self) -> int | None:
        match = _CHART_PATH.search(self.router.url.path or "")
        return int(match.group(1)) if match else None

    def _clear_messages(self) -> None:
        self.access_notice = self.access_error = ""
        self.send_notice = self.send_error = ""
        self.account_notice = self.account_error = self.password_error = ""

    def _clear(self) -> None:
        """Forget the chart (on a failed check, so no PHI stays in this tab's state)."""
        self.chart = ChartView()
        self.loaded = False
        self.load_error = ""
        self._chart_id = 0
        self.username = ""
        self.username_ok = False
        self.username_message = ""
        self.set_password = False
        self.force_change = True
        self._clear_messages()

    def _refuse(self, field: str, action: str):
        """Answer a handler called without a live session or without the permission."""
        if not self.staff_name:  # no live session: drop the chart, go to sign-in
            self._clear()
            return rx.redirect(routes.STAFF_LOGIN)
        setattr(self, field, f"You do not have permission to {action}.")
        return None

    async def _refresh(self) -> None:
        self.chart = await call(charts.chart_view, patient_id=self._chart_id)

    @rx.event
    async def load(self):
        """on_load: check access, read the chart named by the URL, record the view."""
        self._clear()
        staff, redirect = await self._guard(Permission.PORTAL_ADMIN)
        if staff is None:
            if self.staff_name:
                self.load_error = "You do not have permission to open patient charts."
            return redirect
        patient_id = self._route_patient_id()
        if patient_id is None:
            self.load_error = "That patient does not exist."
            return None
        try:
            view = await call(charts.chart_view, patient_id=patient_id,
                              actor=audit.Actor.staff(staff.id, self._ip()))
        except DomainError as exc:
            self.load_error = exc.message
            return None
        self._chart_id = patient_id
        self.chart = view
        self.username = view.account_user_id
        self.loaded = True
        return None

    async def _change_access(self, change, notice: str):
        self._clear_messages()
        staff = await self._require(Permission.PORTAL_ADMIN, Level.UPDATE)
        if staff is None:
            return self._refuse("access_error", "change portal access")
        if not self._chart_id:
            self.access_error = STALE
            return None
        try:
            await call(change, patient_id=self._chart_id, actor=audit.Actor.staff(staff.id, self._ip()))
        except DomainError as exc:
            self.access_error = exc.message
            return None
        await self._refresh()
        self.access_notice = notice
        return None

    @rx.event
    async def enable_access(self):
        return await self._change_access(onboarding.enable_access, "Portal access enabled.")

    @rx.event
    async def disable_access(self):
        """Confirmed in the page's dialog; ends the patient's portal sessions and open links."""
        return await self._change_access(
            onboarding.disable_access, "Portal access disabled. The patient's portal sessions have ended.")

    @rx.event
    async def send_email(self):
        """Invitation (no account yet) or password reset (account exists) to the email on file."""
        self._clear_messages()
        staff = await self._require(Permission.PORTAL_ADMIN, Level.UPDATE)
        if staff is None:
            return self._refuse("send_error", "send portal emails")
        if not self._chart_id:
            self.send_error = STALE
            return None
        try:
            result = await call(invitations.send_invitation_or_reset, patient_id=self._chart_id,
                                actor=audit.Actor.staff(staff.id, self._ip()))
        except DomainError as exc:
            self.send_error = exc.message
            return None
        if result.status == "failed":
            self.send_error = result.message
        else:
            self.send_notice = result.message
        await self._refresh()
        return None

    @rx.event
    async def check_username(self, value: str):
        """Live check of the username field (debounced in the page)."""
        value = (value or "")[:MAX_USERNAME]
        self.username = value
        staff = await self._require(Permission.PORTAL_ADMIN, Level.UPDATE)
        if staff is None:
            self.username_ok = False
            return self._refuse("username_message", "set portal usernames")
        if not self._chart_id:
            return None
        result = await call(manual_credentials.check_username, username=value, patient_id=self._chart_id)
        self.username_ok = result.ok
        self.username_message = result.message
        return None

    @rx.event
    def toggle_set_password(self, checked: bool):
        self.set_password = bool(checked)
        self.password_error = ""

    @rx.event
    def toggle_force_change(self, checked: bool):
        self.force_change = bool(checked)

    @rx.event
    async def save_account(self, form_data: dict[str, Any]):
        """Create or update the chart's `self` account; the password comes from the form only."""
        self._clear_messages()
        staff = await self._require(Permission.PORTAL_ADMIN, Level.UPDATE)
        if staff is None:
            return self._refuse("account_error", "set up portal accounts")
        if not self._chart_id:
            self.account_error = STALE
            return None
        raw_username = form_data.get("username", self.username)
        username = (raw_username if isinstance(raw_username, str) else "")[:MAX_USERNAME]
        self.username = username
        # A local from the form, never a state var.
        chosen = None
        if self.set_password:
            raw_password = form_data.get("password")
            chosen = raw_password if isinstance(raw_password, str) else ""
            if not chosen:
                self.password_error = ("Type the password to set, or untick "
                                       "\u201cManually set patient's portal password\u201d.")
                return None
        try:
            await call(manual_credentials.set_manually, patient_id=self._chart_id, username=username,
                       password=chosen, force_change=self.force_change,
                       actor=audit.Actor.staff(staff.id, self._ip()))
        except InvalidInput as exc:
            if exc.field == "username":
                self.username_ok = False
                self.username_message = exc.message
            elif exc.field in ("password", "confirm"):
                self.password_error = exc.message
            else:
                self.account_error = exc.message
            return None
        except DomainError as exc:
            self.account_error = exc.message
            return None
        await self._refresh()
        self.username = self.chart.account_user_id
        self.username_ok = True
        self.username_message = f"{self.chart.account_user_id} is this patient's username."
        notice = f"Portal account saved. Username: {self.chart.account_user_id}."
        if self.set_password:
            notice += (" Tell the patient the password in person or by phone."
                       + (" They must choose a new one at first sign-in." if self.force_change else ""))
        else:
            notice += " No password was set."
        self.account_notice = notice
        # Hiding the password field removes it, and what was typed in it, from the page.
        self.set_password = False
        return None
