"""Portal home (`/portal`), change password (`/portal/password`) and connect a chart (`/portal/connect`).

Their handlers are `portal_action()`s and their on_loads `portal_page_load()`s: the portal session is
checked again on every event.
State holds only the fields the page shows (strings), never the account or patient rows.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import reflex as rx

from portal_app import routes
from portal_app.services import appointments, keys, messages, portal_auth, settings
from portal_app.services.areas import Area
from portal_app.services.errors import InvalidInput
from portal_app.services.permissions import Level
from portal_app.services.portal_auth import ChartView
from portal_app.services.throttle import Flow
from portal_app.state import throttling
from portal_app.state.actions import Patient, portal_action, portal_page_load
from portal_app.state.base import PortalSessionState, call
from portal_app.state.field_errors import FieldErrors, PasswordErrors
from portal_app.state.inputs import form_text

PASSWORD_CHANGED = ("Your password has been changed. Any other device signed in to your account "
                    "was signed out.")


class HomeState(PortalSessionState):
    """The open chart ("Viewing:" in the layout picks it) and what the home page shows of it."""

    chart_name: str = ""
    chart_dob: str = ""
    is_representative: bool = False
    email: str = ""
    mobile_phone: str = ""
    home_phone: str = ""
    address: str = ""
    practice_phone: str = ""
    notice: str = ""
    # What is new for the open chart (only in the areas its connection grants).
    unread_messages: int = 0
    answered_requests: int = 0

    def clear_view(self) -> None:
        """Forget everything shown about a chart (sign-out, session ended)."""
        self._show_viewing(None)
        self.chart_name = ""
        self.chart_dob = ""
        self.is_representative = False
        self.email = ""
        self.mobile_phone = ""
        self.home_phone = ""
        self.address = ""
        self.notice = ""
        self.unread_messages = self.answered_requests = 0

    def _show(self, chart: ChartView) -> None:
        self.chart_name = chart.name
        self.chart_dob = chart.dob
        self.is_representative = chart.access_type != "self"
        self.email = chart.email
        self.mobile_phone = chart.mobile_phone
        self.home_phone = chart.home_phone
        self.address = chart.address

    def _forget(self) -> None:
        self.clear_view()

    def _load_refused(self, *, signed_in: bool) -> None:
        self.clear_view()

    @portal_page_load()
    async def load(self, me: Patient):
        """on_load: signed in with a current password (else away to sign-in / change password)."""
        self.practice_phone = (await call(partial(settings.view))).practice_phone
        self._show(me.chart)
        # Set by the password page, a refused area or a closed chart: shown once, here.
        self.notice, self._pending_notice = self._pending_notice, ""
        await self._news(me.chart)
        return None

    async def _news(self, chart: ChartView) -> None:
        """Unread practice replies (Messages) and new answers to appointment requests (Appointments)."""
        self.unread_messages = await call(partial(messages.unread_threads, patient_id=chart.patient_id)) \
            if chart.allows(Area.MESSAGES.value) else 0
        self.answered_requests = await call(partial(appointments.unseen_decisions, patient_id=chart.patient_id)) \
            if chart.allows(Area.APPOINTMENTS.value) else 0


class PasswordState(PasswordErrors, PortalSessionState):
    # True once on_load has found a session; until then the page shows no form.
    ready: bool = False
    must_change: bool = False
    current_error: str = ""

    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ("current", "password", "confirm")

    def _load_refused(self, *, signed_in: bool) -> None:
        self._clear_errors()
        self.ready = False

    @portal_page_load(allow_must_change=True)
    async def load(self, me: Patient):
        self._clear_errors()
        self.must_change = me.principal.must_change_password
        self.ready = True
        return None

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        return rx.redirect(routes.LOGIN)

    @portal_action(allow_must_change=True)
    async def change_password(self, me: Patient, form_data: dict[str, Any]):
        """Check the current password, set the new one, end the account's other sessions."""
        self._clear_errors()
        verdict = await throttling.admit(Flow.PASSWORD_CHECK, self._ip())
        if not verdict.allowed:
            raise InvalidInput(verdict.message, field="current")
        try:
            await throttling.run(verdict, partial(portal_auth.change_password, account_id=me.account_id,
                                 current=form_text(form_data, "current"),
                                 new=form_text(form_data, "password"),
                                 confirm=form_text(form_data, "confirm"), session_id=self.portal_sid))
        except InvalidInput as exc:
            if exc.field == "current":
                throttling.record(Flow.PASSWORD_CHECK, self._ip())
            raise
        self.must_change = False
        home = await self.get_state(HomeState)
        home._pending_notice = PASSWORD_CHANGED
        return rx.redirect(routes.PORTAL_HOME)


class ConnectChartState(FieldErrors, PortalSessionState):
    """`/portal/connect`: a signed-in patient connects another chart with a connection key."""

    ready: bool = False
    key_error: str = ""
    last_name_error: str = ""
    dob_error: str = ""
    details_error: str = ""
    whose_error: str = ""
    relationship_error: str = ""

    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ("key", "last_name", "dob", "whose", "relationship", "details")

    def _load_refused(self, *, signed_in: bool) -> None:
        self._clear_errors()
        self.ready = False

    @portal_page_load()
    async def load(self, me: Patient):
        self._clear_errors()
        self.ready = False
        yield  # a fresh, empty form on every visit
        self.ready = True

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        return rx.redirect(routes.LOGIN)

    @portal_action()
    async def connect_chart(self, me: Patient, form_data: dict[str, Any]):
        """Key + last name + date of birth + whose chart -> the chart is connected to this account as
        self, or as the representative of someone the person cares for."""
        self._clear_errors()
        key = form_text(form_data, "key")
        if not key.strip():
            self.key_error = "Enter the connection key from the practice."
            return None
        name = await call(partial(keys.connect_another_chart, account_id=me.account_id,
                          key=key, last_name=form_text(form_data, "last_name"),
                          dob=form_text(form_data, "dob"), whose=form_text(form_data, "whose", 40),
                          relationship=form_text(form_data, "relationship", 40), ip=self._ip()))
        home = await self.get_state(HomeState)
        home._pending_notice = f"{name}'s chart is now connected to your account."
        return rx.redirect(routes.PORTAL_HOME)
