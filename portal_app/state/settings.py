"""Portal settings (`/staff/setup/portal`): Read shows the form disabled; Update saves it."""

from __future__ import annotations

from functools import partial
from typing import Any

import reflex as rx

from portal_app import routes
from portal_app.services import access_rules, settings
from portal_app.services.errors import DomainError, FormInvalid
from portal_app.services.permissions import Level, Permission
from portal_app.services.settings import SettingsView
from portal_app.state.actions import Staff, staff_action, staff_page_load
from portal_app.state.base import StaffSessionState, call
from portal_app.state.inputs import form_checked, form_text

FIELDS = ("practice_name", "practice_phone", "portal_base_url", "sender_address",
          "invitation_hours", "reset_minutes", "token_length", "connect_token_days", "key_days",
          "letter_key_days", "verification_minutes", "time_zone", "inactive_months", "fhir_chart_system",
          "sms_countries")
KEEP_WHEN_ABSENT = ("inactive_months", "fhir_chart_system", "sms_countries")
# What was typed is kept after an error; more than this is never valid anyway.
MAX_KEPT = 400
NO_OPEN = "You do not have permission to open the portal settings."
NO_CHANGE = "You do not have permission to change the portal settings."



class SettingsState(StaffSessionState):
    loaded: bool = False
    can_edit: bool = False
    # Bumped after a successful save so the form shows the saved (normalized) values.
    form_version: int = 0

    portal_active: bool = True
    practice_name: str = ""
    practice_phone: str = ""
    portal_base_url: str = ""
    sender_address: str = ""
    invitation_hours: str = ""
    reset_minutes: str = ""
    token_length: str = ""
    connect_token_days: str = ""
    key_days: str = ""
    letter_key_days: str = ""
    verification_minutes: str = ""
    time_zone: str = ""
    inactive_months: str = ""
    fhir_chart_system: str = ""
    sms_countries: str = ""

    errors: dict[str, str] = {}
    notice: str = ""
    form_error: str = ""

    def _show(self, view: SettingsView) -> None:
        self.portal_active = view.portal_active
        self.practice_name = view.practice_name
        self.practice_phone = view.practice_phone
        self.portal_base_url = view.portal_base_url
        self.sender_address = view.sender_address
        self.invitation_hours = str(view.invitation_hours)
        self.reset_minutes = str(view.reset_minutes)
        self.token_length = str(view.token_length)
        self.connect_token_days = str(view.connect_token_days)
        self.key_days = str(view.key_days)
        self.letter_key_days = str(view.letter_key_days)
        self.verification_minutes = str(view.verification_minutes)
        self.time_zone = view.time_zone
        self.inactive_months = str(view.inactive_months)
        self.fhir_chart_system = view.fhir_chart_system
        self.sms_countries = view.sms_countries

    def _clear_messages(self) -> None:
        self.errors = {}
        self.notice = ""
        self.form_error = ""

    # ---- refusals and failures (state/actions.py calls these) -------------------

    def _forget(self) -> None:
        self.loaded = False

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return NO_CHANGE

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        """Signed out goes to sign-in; otherwise the form turns read-only and says why."""
        self._clear_messages()
        if not signed_in:
            return rx.redirect(routes.STAFF_LOGIN)
        self.can_edit = False
        self.form_error = message
        return None

    def _failed(self, error: DomainError):
        self.form_error = error.message

    # ---- handlers -------------------------------------------------------------------

    def _load_refused(self, *, signed_in: bool) -> None:
        self._clear_messages()
        self.loaded = False
        self.form_error = NO_OPEN if signed_in else ""

    @staff_page_load(Permission.SETTINGS)
    async def load(self, staff: Staff):
        self._clear_messages()
        self.loaded = False
        self._show(await call(partial(settings.view)))
        self.can_edit = staff.principal.can(Permission.SETTINGS, Level.UPDATE)
        self.form_version += 1
        self.loaded = True
        return None

    @staff_action(Permission.SETTINGS, Level.UPDATE)
    async def save(self, staff: Staff, form_data: dict[str, Any]):
        """Validate and save; a bad field gets its message and nothing typed is lost."""
        self._clear_messages()
        values = {name: form_text(form_data, name) for name in FIELDS}
        # A form sent without the newer fields keeps their stored values (None), never refuses them.
        sent = {name: (value if name in form_data or name not in KEEP_WHEN_ABSENT else None)
                for name, value in values.items()}
        active = form_checked(form_data, "portal_active")
        try:
            view = await call(partial(settings.update, actor_id=staff.id, portal_active=active, **sent))
        except FormInvalid as exc:
            self.errors = {name: message for name, message in exc.errors.items()}
            self.form_error = "Some settings need attention; nothing was saved."
            # Keep what was typed (the inputs keep it too; this keeps it across re-renders).
            self.portal_active = active
            for name, value in values.items():
                setattr(self, name, value[:MAX_KEPT])
            return
        self._show(view)
        self.form_version += 1
        self.notice = "Portal settings saved."
        if view.inactive_months:
            # The no-visit rule applies from now on, not only at the next daily run.
            run = await call(partial(access_rules.apply_inactivity, actor=staff.actor))
            self.notice = f"Portal settings saved. {run.summary()}"
