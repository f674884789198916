"""Staff chart page (`/staff/patients/[patient_id]`): demographics and the Patient Portal tab.

Every handler checks the session and the permission again (Read views, Update changes). The
manual password arrives in the form's submit data and goes straight to the service: no var
of this state ever holds it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import reflex as rx

from portal_app import routes
from portal_app.services import charts, invitations, manual_credentials, onboarding
from portal_app.services.charts import ChartView
from portal_app.services.errors import DomainError, InvalidInput
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_action, staff_page_load
from portal_app.state.base import StaffSessionState, call
from portal_app.state.chart_section import STALE, chart_id_in
from portal_app.state.focus import focus_later
from portal_app.state.inputs import as_text, form_text

MAX_USERNAME = 300
PASSWORD_FIELD_ID = "manual-password"
ENABLE_ACCESS_ID = "enable-portal-access"
DISABLE_ACCESS_ID = "disable-portal-access"
NO_ACCESS_CHANGE = "You do not have permission to change portal access."
NO_SEND = "You do not have permission to send portal emails."
NO_USERNAME = "You do not have permission to set portal usernames."
NO_ACCOUNT = "You do not have permission to set up portal accounts."
NO_OPEN = "You do not have permission to open patient charts."
NO_CONSENT = "You do not have permission to change what the patient agreed to receive."
# A refusal shows beside the part of the page whose control asked.
REFUSAL_FIELDS = {NO_ACCESS_CHANGE: "access_error", NO_SEND: "send_error",
                  NO_USERNAME: "username_message", NO_ACCOUNT: "account_error", NO_CONSENT: "consent_error"}


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
    consent_notice: str = ""
    consent_error: str = ""

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
    # Where the running handler's failure message goes (its section's error line).
    _error_field: str = "account_error"

    def _clear_messages(self) -> None:
        self.access_notice = self.access_error = ""
        self.send_notice = self.send_error = ""
        self.consent_notice = self.consent_error = ""
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

    # ---- refusals and failures (state/actions.py calls these) -------------------------

    def _forget(self) -> None:
        self._clear()

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        """Beside the section that asked; a session that has ended goes to sign-in."""
        if not signed_in:
            return rx.redirect(routes.STAFF_LOGIN)
        field = REFUSAL_FIELDS.get(message, "account_error")
        if field == "username_message":
            self.username_ok = False
        else:
            self._clear_messages()
        setattr(self, field, message)
        return None

    def _failed(self, error: DomainError):
        if self._error_field == "account_error" and isinstance(error, InvalidInput):
            if error.field == "username":
                self.username_ok = False
                self.username_message = error.message
                return None
            if error.field in ("password", "confirm"):
                self.password_error = error.message
                return None
        setattr(self, self._error_field, error.message)
        return None

    def _start(self, error_field: str) -> bool:
        """A change begins: clear the messages; False (and STALE shown) when no chart is open."""
        self._clear_messages()
        self._error_field = error_field
        if not self._chart_id:
            setattr(self, error_field, STALE)
            return False
        return True

    async def _refresh(self) -> None:
        self.chart = await call(partial(charts.chart_view, patient_id=self._chart_id))

    def _load_refused(self, *, signed_in: bool) -> None:
        self._clear()
        self.load_error = NO_OPEN if signed_in else ""

    @staff_page_load(Permission.PORTAL_ADMIN)
    async def load(self, staff: Staff):
        """on_load: read the chart named by the URL, record the view."""
        self._clear()
        patient_id = chart_id_in(self.router.url.path)
        if patient_id is None:
            self.load_error = "That patient does not exist."
            return None
        try:
            view = await call(partial(charts.chart_view, patient_id=patient_id, actor=staff.actor))
        except DomainError as exc:
            self.load_error = exc.message
            return None
        self._chart_id = patient_id
        self.chart = view
        self.username = view.account_user_id
        self.loaded = True
        return None

    async def _change_access(self, staff: Staff, change, notice: str, focus_id: str):
        """Enable or disable; the button pressed is replaced by its opposite, which takes the
        keyboard focus (else it would fall back to the top of the page)."""
        if not self._start("access_error"):
            return None
        await call(partial(change, patient_id=self._chart_id, actor=staff.actor))
        await self._refresh()
        self.access_notice = notice
        return focus_later(focus_id)

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE, refuse=NO_ACCESS_CHANGE)
    async def enable_access(self, staff: Staff):
        return await self._change_access(staff, onboarding.enable_access, "Portal access enabled.",
                                         DISABLE_ACCESS_ID)

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE, refuse=NO_ACCESS_CHANGE)
    async def disable_access(self, staff: Staff):
        """Confirmed in the page's dialog; ends the patient's portal sessions and open links."""
        return await self._change_access(
            staff, onboarding.disable_access, "Portal access disabled. The patient's portal sessions have ended.",
            ENABLE_ACCESS_ID)

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE, refuse=NO_SEND)
    async def send_email(self, staff: Staff):
        """Invitation (no account yet) or password reset (account exists) to the email on file."""
        if not self._start("send_error"):
            return None
        result = await call(partial(invitations.send_invitation_or_reset, patient_id=self._chart_id,
                            actor=staff.actor))
        if result.status == "failed":
            self.send_error = result.message
        else:
            self.send_notice = result.message
        await self._refresh()
        return None

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE, refuse=NO_CONSENT)
    async def set_consent(self, staff: Staff, channel: str, allowed: bool):
        """Demographics: tick or untick "Allow email" / "Allow text messages" (audited)."""
        if not self._start("consent_error"):
            return None
        notice = await call(partial(charts.set_consent, patient_id=self._chart_id, channel=channel,
                                    allowed=allowed, actor=staff.actor))
        await self._refresh()
        self.consent_notice = notice
        return None

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE, refuse=NO_USERNAME)
    async def check_username(self, staff: Staff, value: str):
        """Live check of the username field (debounced in the page)."""
        value = value[:MAX_USERNAME]
        self.username = value
        self._error_field = "username_message"
        if not self._chart_id:
            return None
        result = await call(partial(manual_credentials.check_username, username=value, patient_id=self._chart_id))
        self.username_ok = result.ok
        self.username_message = result.message
        return None

    # The two boxes only change what the form shows; Save checks access and sends them.
    @rx.event
    def toggle_set_password(self, checked: bool):
        self.set_password = bool(checked)
        self.password_error = ""

    @rx.event
    def toggle_force_change(self, checked: bool):
        self.force_change = bool(checked)

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE, refuse=NO_ACCOUNT)
    async def save_account(self, staff: Staff, form_data: dict[str, Any]):
        """Create or update the chart's `self` account; the password comes from the form only."""
        if not self._start("account_error"):
            return None
        raw_username = form_data.get("username", self.username)
        self.username = as_text(raw_username, MAX_USERNAME)
        username = self.username
        # A local from the form, never a state var.
        chosen = None
        if self.set_password:
            chosen = form_text(form_data, "password")
            if not chosen:
                self.password_error = ("Type the password to set, or untick "
                                       "\u201cManually set patient's portal password\u201d.")
                return None
        await call(partial(manual_credentials.set_manually, patient_id=self._chart_id, username=username,
                   password=chosen, force_change=self.force_change,
                   actor=staff.actor))
        await self._refresh()
        self._show_saved()
        return None

    def _show_saved(self) -> None:
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
