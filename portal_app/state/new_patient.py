"""The "New patient" form (`/staff/onboarding/new-patient`): a chart typed in by staff.

What staff type stays in the browser's inputs (the form is never reset after an error) and only
passes through the save handler: no var here holds a name, a date or a contact, only the
messages. Creating a chart needs Write on Patient Portal Administration, checked on every event.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import reflex as rx

from portal_app import routes
from portal_app.services import new_patient
from portal_app.services.errors import DomainError, FormInvalid
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_action, staff_page_load
from portal_app.state.base import StaffSessionState, call
from portal_app.state.field_errors import FieldErrors
from portal_app.state.focus import focus_later
from portal_app.state.inputs import form_checked, form_text

NO_CREATE = "You do not have permission to add patients. Adding a chart needs Write on Patient Portal Administration."
NOT_SAVED = "Nothing was saved yet: see the messages beside the fields."
CONFIRM_FIELD = "confirm_different"
# Seconds the "Chart ... created." notice stays on the chart page (a person reads it there).
NOTICE_MS = 10_000


def field_id(key: str) -> str:
    """The id (and form name) of the input for a record field."""
    return f"new-patient-{key.replace('_', '-')}"


class NewPatientState(FieldErrors, StaffSessionState):
    """Messages of the New patient form; the values live in the form's inputs."""

    ERROR_FIELDS: ClassVar[tuple[str, ...]] = (*new_patient.FORM_FIELDS, new_patient.DUPLICATE_FIELD)

    loaded: bool = False
    allowed: bool = False
    chart_number_error: str = ""
    first_name_error: str = ""
    middle_name_error: str = ""
    last_name_error: str = ""
    preferred_name_error: str = ""
    sex_error: str = ""
    dob_error: str = ""
    email_error: str = ""
    mobile_phone_error: str = ""
    home_phone_error: str = ""
    address_error: str = ""
    city_error: str = ""
    state_error: str = ""
    postal_code_error: str = ""
    allow_email_error: str = ""
    allow_sms_error: str = ""
    last_visit_error: str = ""
    duplicate_error: str = ""
    # The other charts the probable-duplicate box names ("C0000456"); the box confirms only these.
    duplicate_charts: str = ""
    _duplicates_shown: tuple[str, ...] = ()

    # ---- refusals and failures (state/actions.py calls these) ------------------------

    def _forget(self) -> None:
        self._clear_errors()
        self._ask_no_more()
        self.loaded = self.allowed = False

    def _ask_no_more(self) -> None:
        self.duplicate_charts = ""
        self._duplicates_shown = ()

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return NO_CREATE

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        """Over the form (what was typed stays in it); a session that has ended goes to sign-in."""
        if not signed_in:
            return rx.redirect(routes.STAFF_LOGIN)
        self._clear_errors()
        self.form_error = message
        return None

    def _failed(self, error: DomainError):
        """Each message beside its field; the keyboard focus goes to the first field in error."""
        if isinstance(error, new_patient.ProbableDuplicate):
            self._duplicates_shown = tuple(error.chart_numbers)
            self.duplicate_charts = ", ".join(error.chart_numbers)
            self.duplicate_error = error.message
            return focus_later(CONFIRM_FIELD)
        self._ask_no_more()
        errors = error.errors if isinstance(error, FormInvalid) else {error.field: error.message}
        for field, message in errors.items():
            self._show_error(field, message)
        if self.form_error == "":
            self.form_error = NOT_SAVED
        first = next((field for field in errors if field in self.ERROR_FIELDS), "")
        return focus_later(field_id(first)) if first else None

    # ---- handlers ---------------------------------------------------------------------

    def _load_refused(self, *, signed_in: bool) -> None:
        self._forget()
        self.loaded = True
        self.form_error = NO_CREATE if signed_in else ""

    @staff_page_load(Permission.PORTAL_ADMIN, Level.WRITE)
    async def load(self, staff: Staff):
        """on_load: an empty form."""
        self._clear_errors()
        self._ask_no_more()
        self.allowed = self.loaded = True

    @staff_action(Permission.PORTAL_ADMIN, Level.WRITE)
    async def save(self, staff: Staff, form_data: dict[str, Any]):
        """Create the chart and open it; otherwise every message beside its field, nothing lost."""
        self._clear_errors()
        confirmed = self._duplicates_shown if form_checked(form_data, CONFIRM_FIELD) else ()
        values = {key: form_text(form_data, field_id(key), limit=1000) for key in new_patient.FORM_FIELDS}
        ticked = {key for key in new_patient.CONSENT_FIELDS if form_checked(form_data, field_id(key))}
        form = new_patient.form_from(values, ticked=ticked, different_from=confirmed)
        created = await call(partial(new_patient.create, form=form, actor=staff.actor))
        self._ask_no_more()
        return [rx.redirect(routes.patient_chart(created.patient_id)),
                rx.toast.success(created.notice, duration=NOTICE_MS)]
