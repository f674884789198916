"""The audit log (`/staff/audit`): newest first, filtered by patient and by staff user."""

from __future__ import annotations

from functools import partial
from typing import Any

import reflex as rx

from portal_app import routes
from portal_app.services import audit
from portal_app.services.audit import AuditRow, StaffRef
from portal_app.services.errors import DomainError
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_action, staff_page_load
from portal_app.state.base import StaffSessionState, call
from portal_app.state.inputs import form_text
from portal_app.state.paging import NewestFirstPaging

PAGE_SIZE = 50
NO_PERMISSION = "You do not have permission to see the audit log."


class AuditState(NewestFirstPaging, StaffSessionState):
    rows: list[AuditRow] = []
    error: str = ""

    patient_query: str = ""
    patient_error: str = ""
    patient_label: str = ""
    staff_options: list[StaffRef] = []
    staff_filter: str = ""

    _patient_id: int | None = None

    def _clear(self) -> None:
        self.rows = []
        self.has_older = self.has_newer = False
        self.staff_options = []
        self._reset_paging()

    def _reset_filters(self) -> None:
        self.patient_query = self.patient_error = self.patient_label = ""
        self.staff_filter = ""
        self._patient_id = None

    def _staff_id(self) -> int | None:
        return int(self.staff_filter) if self.staff_filter.isdigit() else None

    async def _read(self) -> None:
        self.rows, self.has_older = await call(
            partial(audit.page_of_events, patient_id=self._patient_id, staff_user_id=self._staff_id(),
            before_id=self._before_id, size=PAGE_SIZE))
        self.has_newer = bool(self._before_stack)

    async def _first_page(self) -> None:
        self._reset_paging()
        await self._read()

    # ---- refusals and failures (state/actions.py calls these) -------------------

    def _forget(self) -> None:
        self._clear()

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return NO_PERMISSION

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        """The page forgets its rows; signed out goes to sign-in, else the page says why."""
        self._clear()
        if not signed_in:
            return rx.redirect(routes.STAFF_LOGIN)
        self.error = message
        return None

    def _failed(self, error: DomainError):
        """Only the patient lookup refuses input: its message goes beside that field."""
        self.patient_error = error.message

    # ---- handlers -------------------------------------------------------------------

    def _load_refused(self, *, signed_in: bool) -> None:
        self._clear()
        self._reset_filters()
        self.error = NO_PERMISSION if signed_in else ""

    @staff_page_load(Permission.AUDIT)
    async def load(self, staff: Staff):
        self._clear()
        self._reset_filters()
        self.error = ""
        self.staff_options = await call(partial(audit.list_staff_users))
        await self._first_page()
        return None

    @staff_action(Permission.AUDIT)
    async def filter_patient(self, staff: Staff, form_data: dict[str, Any]):
        """Resolve a chart number or patient ID, then show only that patient's events."""
        text = form_text(form_data, "patient", 100)
        self.patient_query = text
        self.patient_error = ""
        ref = await call(partial(audit.find_patient, text=text))
        self._patient_id = ref.id
        self.patient_label = ref.label
        await self._first_page()

    @staff_action(Permission.AUDIT)
    async def clear_patient(self, staff: Staff):
        self.patient_query = self.patient_error = self.patient_label = ""
        self._patient_id = None
        await self._first_page()
        return rx.set_value("audit-patient", "")

    @staff_action(Permission.AUDIT)
    async def set_staff_filter(self, staff: Staff, value: str):
        known = {str(option.id) for option in self.staff_options}
        self.staff_filter = value if value in known else ""
        await self._first_page()

    @staff_action(Permission.AUDIT)
    async def older(self, staff: Staff):
        await self._older()

    @staff_action(Permission.AUDIT)
    async def newer(self, staff: Staff):
        await self._newer()
