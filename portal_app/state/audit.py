"""The audit log (`/staff/audit`): newest first, filtered by patient and by staff user."""

from __future__ import annotations

from functools import partial
from typing import Any

import reflex as rx

from portal_app import routes
from portal_app.services import audit
from portal_app.services.audit import AuditRow, StaffRef
from portal_app.services.errors import DomainError
from portal_app.services.permissions import Permission
from portal_app.state.base import StaffSessionState, call
from portal_app.state.paging import NewestFirstPaging

PAGE_SIZE = 50


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

    async def _allowed(self):
        """The principal, or a refusal (and the page forgotten)."""
        staff = await self._require(Permission.AUDIT)
        if staff is not None:
            return staff, None
        self._clear()
        if not self.staff_name:
            return None, rx.redirect(routes.STAFF_LOGIN)
        self.error = "You do not have permission to see the audit log."
        return None, None

    @rx.event
    async def load(self):
        self._clear()
        self._reset_filters()
        self.error = ""
        staff, redirect = await self._guard(Permission.AUDIT)
        if staff is None:
            if self.staff_name:
                self.error = "You do not have permission to see the audit log."
            return redirect
        self.staff_options = await call(partial(audit.list_staff_users))
        await self._first_page()
        return None

    @rx.event
    async def filter_patient(self, form_data: dict[str, Any]):
        """Resolve a chart number or patient ID, then show only that patient's events."""
        staff, refusal = await self._allowed()
        if staff is None:
            return refusal
        raw = form_data.get("patient", "")
        text = (raw if isinstance(raw, str) else "")[:100]
        self.patient_query = text
        self.patient_error = ""
        try:
            ref = await call(partial(audit.find_patient, text=text))
        except DomainError as exc:
            self.patient_error = exc.message
            return None
        self._patient_id = ref.id
        self.patient_label = ref.label
        await self._first_page()
        return None

    @rx.event
    async def clear_patient(self):
        staff, refusal = await self._allowed()
        if staff is None:
            return refusal
        self.patient_query = self.patient_error = self.patient_label = ""
        self._patient_id = None
        await self._first_page()
        return rx.set_value("audit-patient", "")

    @rx.event
    async def set_staff_filter(self, value: str):
        staff, refusal = await self._allowed()
        if staff is None:
            return refusal
        known = {str(option.id) for option in self.staff_options}
        self.staff_filter = value if value in known else ""
        await self._first_page()
        return None

