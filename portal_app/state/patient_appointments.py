"""`/portal/appointments`: request an appointment for the open chart; see its requests.

Every handler is a `portal_action(Area.APPOINTMENTS)`: the session and the Appointments area of
the chart being viewed are checked again (a refusal is audited and forgets the page).
Only the visible page of requests lives in state.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any, ClassVar

import reflex as rx

from portal_app.services import appointments
from portal_app.services.appointments import RequestRow
from portal_app.services.areas import Area
from portal_app.services.errors import DomainError, FormInvalid
from portal_app.services.permissions import Level
from portal_app.state.actions import Patient, portal_action, portal_page_load
from portal_app.state.base import PortalSessionState, call
from portal_app.state.field_errors import FieldErrors
from portal_app.state.inputs import as_id, form_text
from portal_app.state.patient_paging import PortalListPaging

REFUSED = "Appointments are not available for this chart."
SENT = "Your request was sent. The practice will confirm a time; its answer appears below."
FIELDS = ("date_1", "time_1", "date_2", "time_2", "date_3", "time_3", "reason")


class PatientAppointmentsState(FieldErrors, PortalListPaging, PortalSessionState):
    ready: bool = False
    rows: list[RequestRow] = []
    # The date inputs' min and max (tomorrow, a year ahead), as YYYY-MM-DD.
    min_date: str = ""
    max_date: str = ""

    date_1_error: str = ""
    time_1_error: str = ""
    date_2_error: str = ""
    time_2_error: str = ""
    date_3_error: str = ""
    time_3_error: str = ""
    reason_error: str = ""
    notice: str = ""
    form_version: int = 0

    ERROR_FIELDS: ClassVar[tuple[str, ...]] = FIELDS

    def _forget(self) -> None:
        self.ready = False
        self.rows = []
        self.page, self.pages, self.total = 1, 1, 0
        self.notice = ""
        self._clear_errors()

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return REFUSED

    def _failed(self, error: DomainError):
        """Each refused field's message beside it; any other above the form."""
        errors = error.errors if isinstance(error, FormInvalid) else {error.field: error.message}
        for field, message in errors.items():
            self._show_error(field, message)

    async def _fetch(self, patient_id: int):
        return await call(partial(appointments.requests_for, patient_id=patient_id, page=self.page))

    @portal_page_load(Area.APPOINTMENTS)
    async def load(self, me: Patient):
        """on_load: the Appointments area of the open chart, and its requests."""
        self._forget()
        today = appointments.today()
        self.min_date = (today + timedelta(days=1)).isoformat()
        self.max_date = (today + timedelta(days=appointments.HORIZON_DAYS)).isoformat()
        await self._read(me.patient_id)
        await call(partial(appointments.mark_decisions_seen, patient_id=me.patient_id))
        self.ready = True
        return None

    @portal_action(Area.APPOINTMENTS)
    async def next_page(self, me: Patient):
        await self._turn(me, forward=True)

    @portal_action(Area.APPOINTMENTS)
    async def prev_page(self, me: Patient):
        await self._turn(me, forward=False)

    @portal_action(Area.APPOINTMENTS)
    async def request_appointment(self, me: Patient, form_data: dict[str, Any]):
        """Preferred date(s) and time(s) of day plus a reason -> an Appointment Request item."""
        self._clear_errors()
        self.notice = ""
        preferred = [(form_text(form_data, f"date_{n}"), form_text(form_data, f"time_{n}")) for n in (1, 2, 3)]
        await call(partial(appointments.request_appointment, account_id=me.account_id, chart=me.chart,
                   preferred=preferred, reason=form_text(form_data, "reason"), ip=self._ip()))
        self.form_version += 1
        self.notice = SENT
        self.page = 1
        await self._read(me.patient_id)

    @portal_action(Area.APPOINTMENTS, audit_as="download_calendar")
    async def download_calendar(self, me: Patient, task_id: str):
        """A booked visit of the open chart as a calendar file (.ics); audited by the service."""
        try:
            data = await call(partial(appointments.calendar_file, patient_id=me.patient_id, task_id=as_id(task_id),
                                      actor=me.actor))
        except DomainError as exc:
            return rx.toast.error(exc.message)
        return rx.download(data=data, filename="appointment.ics", mime_type="text/calendar")
