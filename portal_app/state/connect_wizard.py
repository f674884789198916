"""The Connect Patient wizard on the chart's Patient Portal tab.

Step 1 confirms the patient, step 2 records who asked, step 3 either sends a read-back token
and connects with it, or generates a connection key. The chart acted on is the one ChartState
loaded from the page's own URL; every handler checks the session and Update access again.

The typed token arrives in the form's submit data and goes straight to the service: no var
holds it. The one secret a var does hold is a freshly generated connection key (see
`key_shown`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import reflex as rx

from portal_app import routes
from portal_app.services import audit, connect, keys
from portal_app.services.errors import DomainError, InvalidInput
from portal_app.services.permissions import Level, Permission
from portal_app.state.base import StaffSessionState, call
from portal_app.state.chart import STALE, ChartState
from portal_app.state.connections import ConnectionsState

MAX_ADDRESS = 254
MAX_TOKEN_INPUT = 64
CREATE_CHANNELS = ("email", "sms")
KEY_CHANNELS = ("email", "sms", "letter")


def _text(form_data: dict[str, Any], name: str, limit: int) -> str:
    value = form_data.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


class ConnectWizardState(StaffSessionState):
    """Wizard progress and messages; small strings only, no rows."""

    is_open: bool = False
    step: int = 1
    verified: bool = False

    requested_by: str = ""
    requested_by_error: str = ""

    create_channel: str = "email"
    create_address: str = ""
    create_address_error: str = ""
    token_sent: bool = False
    token_error: str = ""
    create_notice: str = ""
    create_error: str = ""
    connected: bool = False

    key_channel: str = "email"
    key_address: str = ""
    key_address_error: str = ""
    key_notice: str = ""
    key_error: str = ""
    # The connection key just generated, shown to staff once (to read to the patient or
    # check against the printed letter). It is public because the browser must show it; it
    # lives only until the dialog closes (`_reset` on close, on page load, on refusal) and
    # is never written to the database in plain form.
    key_shown: str = ""

    # Chart contact details for prefilling; the chart itself stays in ChartState.
    _email: str = ""
    _mobile: str = ""
    _postal: str = ""

    def _reset(self) -> None:
        self.is_open = False
        self.step = 1
        self.verified = False
        self.requested_by = self.requested_by_error = ""
        self.create_channel = "email"
        self.create_address = self.create_address_error = ""
        self.token_sent = False
        self.token_error = self.create_notice = self.create_error = ""
        self.connected = False
        self.key_channel = "email"
        self.key_address = self.key_address_error = ""
        self.key_notice = self.key_error = ""
        self.key_shown = ""
        self._email = self._mobile = self._postal = ""

    def _clear_create_messages(self) -> None:
        self.create_address_error = self.token_error = ""
        self.create_notice = self.create_error = ""

    def _clear_key_messages(self) -> None:
        self.key_address_error = self.key_notice = self.key_error = ""
        self.key_shown = ""

    async def _allowed(self, error_field: str, action: str):
        """(staff, chart state) when the session is live and has Update access; else (None, answer)."""
        staff = await self._require(Permission.PORTAL_ADMIN, Level.UPDATE)
        if staff is None:
            if not self.staff_name:  # the session has ended: forget everything, go sign in
                self._reset()
                return None, None, rx.redirect(routes.STAFF_LOGIN)
            setattr(self, error_field, f"You do not have permission to {action}.")
            return None, None, None
        chart = await self.get_state(ChartState)
        if not chart._chart_id:
            setattr(self, error_field, STALE)
            return None, None, None
        return staff, chart, None

    @rx.event
    def reset_wizard(self):
        """on_load (after ChartState.load): a new page starts with a closed, empty wizard."""
        self._reset()

    @rx.event
    async def open_wizard(self):
        self._reset()
        staff, chart, answer = await self._allowed("create_error", "connect patients")
        if staff is None:
            return answer
        self._email = chart.chart.email
        self._mobile = chart.chart.mobile_phone
        self._postal = chart.chart.address
        self.create_address = self.key_address = self._email
        self.create_error = ""
        self.is_open = True
        return None

    @rx.event
    def set_open(self, value: bool):
        """The dialog's open/close (Escape, the close button): closing forgets everything."""
        if not value:
            self._reset()
            # What the wizard sent or connected shows in the chart's connections list.
            return ConnectionsState.refresh
        return None

    @rx.event
    def close_wizard(self):
        self._reset()
        return ConnectionsState.refresh

    @rx.event
    def set_verified(self, checked: bool):
        self.verified = bool(checked)

    @rx.event
    def confirm_patient(self):
        if self.verified:
            self.step = 2

    @rx.event
    def back(self):
        if self.step > 1 and not self.connected:
            self.step -= 1

    @rx.event
    def submit_requested_by(self, form_data: dict[str, Any]):
        self.requested_by = _text(form_data, "requested_by", 300).strip()
        self.requested_by_error = ""
        if not self.requested_by:
            self.requested_by_error = "Enter who requested access (for example, Mother - Jane Doe)."
            return
        if len(self.requested_by) > 200:
            self.requested_by_error = "Requested By must be at most 200 characters."
            return
        self.step = 3

    @rx.event
    def set_create_channel(self, value: str):
        if value in CREATE_CHANNELS and value != self.create_channel:
            self.create_channel = value
            self.create_address = self._email if value == "email" else self._mobile
            self.create_address_error = ""

    @rx.event
    def set_create_address(self, value: str):
        self.create_address = (value or "")[:MAX_ADDRESS]
        self.create_address_error = ""

    @rx.event
    def set_key_channel(self, value: str):
        if value in KEY_CHANNELS and value != self.key_channel:
            self.key_channel = value
            self.key_address = {"email": self._email, "sms": self._mobile}.get(value, self._postal)
            self.key_address_error = ""

    @rx.event
    def set_key_address(self, value: str):
        self.key_address = (value or "")[:MAX_ADDRESS]
        self.key_address_error = ""

    def _field_error(self, exc: InvalidInput, *, address_var: str, other_var: str) -> None:
        if exc.field == "address":
            setattr(self, address_var, exc.message)
        elif exc.field == "requested_by":
            self.requested_by_error = exc.message
            self.step = 2
        elif exc.field == "token":
            self.token_error = exc.message
        else:
            setattr(self, other_var, exc.message)

    @rx.event
    async def send_token(self):
        self._clear_create_messages()
        staff, chart, answer = await self._allowed("create_error", "connect patients")
        if staff is None:
            return answer
        try:
            sent = await call(partial(connect.send_connect_token, patient_id=chart._chart_id,
                              channel=self.create_channel, address=self.create_address,
                              requested_by=self.requested_by,
                              actor=audit.Actor.staff(staff.id, self._ip())))
        except InvalidInput as exc:
            self._field_error(exc, address_var="create_address_error", other_var="create_error")
            return None
        except DomainError as exc:
            self.create_error = exc.message
            return None
        self.token_sent = True
        if sent.status == "failed":
            self.create_error = (f"The token to {sent.destination} could not be sent; it is in the "
                                 "outbox to retry.")
        else:
            self.create_notice = f"Token sent to {sent.destination} (expires {sent.expires})."
        return None

    @rx.event
    async def connect_patient(self, form_data: dict[str, Any]):
        """Check the token the patient reads back (from the form only) and connect."""
        self._clear_create_messages()
        token = _text(form_data, "token", MAX_TOKEN_INPUT)
        staff, chart, answer = await self._allowed("create_error", "connect patients")
        if staff is None:
            return answer
        try:
            result = await call(partial(connect.connect_with_token, patient_id=chart._chart_id,
                                channel=self.create_channel, address=self.create_address,
                                token=token, actor=audit.Actor.staff(staff.id, self._ip())))
        except InvalidInput as exc:
            self._field_error(exc, address_var="create_address_error", other_var="create_error")
            return None
        except DomainError as exc:
            self.create_error = exc.message
            return None
        self.connected = True
        if result.created:
            notice = (f"Patient connected. A new portal account was created with user ID "
                      f"{result.user_id}; the token is its temporary password.")
        else:
            notice = (f"Patient connected to the existing portal account {result.user_id}; its "
                      "password was not changed.")
        if result.welcome_status == "failed":
            self.create_error = "The welcome message could not be sent; it is in the outbox to retry."
        self.create_notice = notice
        await chart._refresh()
        return None

    @rx.event
    async def generate_key(self):
        self._clear_key_messages()
        staff, chart, answer = await self._allowed("key_error", "generate connection keys")
        if staff is None:
            return answer
        try:
            issued = await call(partial(keys.generate_key, patient_id=chart._chart_id,
                                channel=self.key_channel, address=self.key_address,
                                requested_by=self.requested_by,
                                actor=audit.Actor.staff(staff.id, self._ip())))
        except InvalidInput as exc:
            self._field_error(exc, address_var="key_address_error", other_var="key_error")
            return None
        except DomainError as exc:
            self.key_error = exc.message
            return None
        self.key_shown = issued.key
        if issued.channel == "letter":
            self.key_notice = (f"Connection key letter ready to print (expires {issued.expires}). "
                               "The PDF is downloading.")
            if issued.letter_pdf:
                return rx.download(data=issued.letter_pdf, mime_type="application/pdf",
                                   filename=f"connection-key-{chart.chart.chart_number}.pdf")
            return None
        if issued.message_status == "failed":
            self.key_error = (f"The connection key to {issued.destination} could not be sent; it is "
                              "in the outbox to retry.")
        else:
            self.key_notice = f"Connection key sent to {issued.destination} (expires {issued.expires})."
        return None
