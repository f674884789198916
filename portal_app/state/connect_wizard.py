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
from portal_app.services import connect, consent, keys
from portal_app.services.errors import DomainError, InvalidInput
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_action
from portal_app.state.base import StaffSessionState, call
from portal_app.state.chart import ChartState
from portal_app.state.chart_section import STALE
from portal_app.state.connections import ConnectionsState
from portal_app.state.focus import focus_later
from portal_app.state.inputs import as_text, form_text

MAX_ADDRESS = 254
OPEN_BUTTON_ID = "connect-patient-open"
MAX_TOKEN_INPUT = 64
CREATE_CHANNELS = ("email", "sms")
KEY_CHANNELS = ("email", "sms", "letter")
NO_CONNECT = "You do not have permission to connect patients."
NO_KEYS = "You do not have permission to generate connection keys."
# The two ways to connect, each with its address field's error line and its own error line.
CREATE = ("create_address_error", "create_error")
KEY = ("key_address_error", "key_error")
# Beside each way's channel choice: why the chart's own address may not get that channel.
CHANNEL_ERROR = {CREATE: "create_channel_error", KEY: "key_channel_error"}


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
    create_channel_error: str = ""
    token_sent: bool = False
    token_error: str = ""
    create_notice: str = ""
    create_error: str = ""
    connected: bool = False
    # The address belongs to another person's account: the question for staff, whether the
    # account may be this patient's own (a third answer), and what staff answered ("self",
    # "representative" with a relationship, or "" not yet). Changing the address forgets it.
    owner_warning: str = ""
    owner_self_possible: bool = False
    owner_answer: str = ""
    owner_relationship: str = ""
    owner_relationship_error: str = ""

    key_channel: str = "email"
    key_address: str = ""
    key_address_error: str = ""
    key_channel_error: str = ""
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
    # What the chart agreed to receive (email, sms), read when the wizard opens.
    _allows: dict[str, bool] = {}
    # Which way (CREATE or KEY) the running handler answers in.
    _answer_in: tuple[str, str] = CREATE

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
        self._forget_owner()
        self.key_channel = "email"
        self.key_address = self.key_address_error = ""
        self.key_notice = self.key_error = ""
        self.key_shown = ""
        self.create_channel_error = self.key_channel_error = ""
        self._email = self._mobile = self._postal = ""
        self._allows = {}

    def _consent_note(self, channel: str) -> str:
        """The reason beside a channel choice when the chart has not agreed to it."""
        if channel in consent.REFUSED and not self._allows.get(channel, False):
            return consent.REFUSED[channel]
        return ""

    def _forget_owner(self) -> None:
        self.owner_warning = self.owner_answer = self.owner_relationship = self.owner_relationship_error = ""
        self.owner_self_possible = False

    def _as_whom(self) -> connect.AsWhom:
        return connect.AsWhom.of(self.owner_answer, self.owner_relationship)

    def _clear_messages(self, fields: tuple[str, str]) -> None:
        if fields == KEY:
            self.key_address_error = self.key_notice = self.key_error = ""
            self.key_shown = ""
            self.key_channel_error = self._consent_note(self.key_channel)
        else:
            self.create_address_error = self.token_error = ""
            self.create_notice = self.create_error = ""
            self.create_channel_error = self._consent_note(self.create_channel)

    # ---- refusals and failures (state/actions.py calls these) -------------------------

    def _forget(self) -> None:
        """The session has ended: forget everything (the key shown too)."""
        self._reset()

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        if not signed_in:
            return rx.redirect(routes.STAFF_LOGIN)
        fields = KEY if message == NO_KEYS else CREATE
        self._clear_messages(fields)
        setattr(self, fields[1], message)
        return None

    def _failed(self, error: DomainError):
        """A refused input beside its field (the address, Requested By, the token)."""
        address_var, other_var = self._answer_in
        if isinstance(error, connect.OwnerConfirmNeeded):
            self.owner_warning = error.message
            self.owner_self_possible = error.self_possible
            self.owner_answer = ""
        elif error.field == "relationship":
            self.owner_relationship_error = error.message
        elif not isinstance(error, InvalidInput):
            setattr(self, other_var, error.message)
        elif error.field == "address":
            setattr(self, address_var, error.message)
        elif error.field in ("channel", *consent.REFUSED):
            # A refused channel (no consent, not a channel): beside the channel choice.
            setattr(self, CHANNEL_ERROR[self._answer_in], error.message)
        elif error.field == "requested_by":
            self.requested_by_error = error.message
            self.step = 2
        elif error.field == "token":
            self.token_error = error.message
        else:
            setattr(self, other_var, error.message)

    async def _chart(self, fields: tuple[str, str]) -> ChartState | None:
        """Start a step: clear its messages; the open chart, or None with STALE shown."""
        self._answer_in = fields
        self._clear_messages(fields)
        chart = await self.get_state(ChartState)
        if not chart._chart_id:
            setattr(self, fields[1], STALE)
            return None
        return chart

    def _report_sent(self, what: str, fields: tuple[str, str], *, failed: bool, destination: str,
                     expires: str) -> None:
        """What became of the message that carries a token or key."""
        if failed:
            setattr(self, fields[1], f"The {what} to {destination} could not be sent; it is in the "
                                     "outbox to retry.")
        else:
            notice_var = "key_notice" if fields == KEY else "create_notice"
            setattr(self, notice_var, f"{what.capitalize()} sent to {destination} (expires {expires}).")

    # ---- the steps -----------------------------------------------------------------------

    @rx.event
    def reset_wizard(self):
        """on_load (after ChartState.load): a new page starts with a closed, empty wizard."""
        self._reset()

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE, refuse=NO_CONNECT)
    async def open_wizard(self, staff: Staff):
        self._reset()
        chart = await self._chart(CREATE)
        if chart is None:
            return
        self._email = chart.chart.email
        self._mobile = chart.chart.mobile_phone
        self._postal = chart.chart.address
        self._allows = {consent.EMAIL: chart.chart.allow_email, consent.SMS: chart.chart.allow_sms}
        self.create_address = self.key_address = self._email
        self.create_channel_error = self.key_channel_error = self._consent_note("email")
        self.is_open = True

    # The dialog's own controls below change only what it shows; every step that sends,
    # connects or generates checks access again.
    @rx.event
    def set_open(self, value: bool):
        """The dialog's open/close (Escape, the close button): closing forgets everything."""
        return self._close() if not value else None

    @rx.event
    def close_wizard(self):
        return self._close()

    def _close(self) -> list:
        """Close and forget; what the wizard sent or connected shows in the chart's connections
        list, and focus goes back to the button that opened it (Radix does not know it)."""
        self._reset()
        return [ConnectionsState.refresh, focus_later(OPEN_BUTTON_ID)]

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
        self.requested_by = form_text(form_data, "requested_by", 300).strip()
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
            self.create_channel_error = self._consent_note(value)
            self._forget_owner()

    @rx.event
    def set_create_address(self, value: str):
        self.create_address = as_text(value, MAX_ADDRESS)
        self.create_address_error = ""
        self._forget_owner()  # the answer was about the address as it was

    @rx.event
    def set_key_channel(self, value: str):
        if value in KEY_CHANNELS and value != self.key_channel:
            self.key_channel = value
            self.key_address = {"email": self._email, "sms": self._mobile}.get(value, self._postal)
            self.key_address_error = ""
            self.key_channel_error = self._consent_note(value)

    @rx.event
    def set_key_address(self, value: str):
        self.key_address = as_text(value, MAX_ADDRESS)
        self.key_address_error = ""

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE, refuse=NO_CONNECT)
    async def send_token(self, staff: Staff):
        chart = await self._chart(CREATE)
        if chart is None:
            return
        sent = await call(partial(connect.send_connect_token, patient_id=chart._chart_id,
                          channel=self.create_channel, address=self.create_address,
                          requested_by=self.requested_by, as_whom=self._as_whom(),
                          actor=staff.actor))
        self.token_sent = True
        self._report_sent("token", CREATE, failed=sent.status == "failed", destination=sent.destination,
                          expires=sent.expires)

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE, refuse=NO_CONNECT)
    async def connect_patient(self, staff: Staff, form_data: dict[str, Any]):
        """Check the token the patient reads back (from the form only) and connect."""
        token = form_text(form_data, "token", MAX_TOKEN_INPUT)
        chart = await self._chart(CREATE)
        if chart is None:
            return
        result = await call(partial(connect.connect_with_token, patient_id=chart._chart_id,
                            channel=self.create_channel, address=self.create_address,
                            token=token, as_whom=self._as_whom(), actor=staff.actor))
        self.connected = True
        if result.representative:
            notice = (f"Connected the existing portal account {result.user_id} as this patient's "
                      f"authorized representative ({self.owner_relationship}); its password was not changed.")
        elif result.created:
            notice = (f"Patient connected. A new portal account was created with user ID "
                      f"{result.user_id}; the token is its temporary password.")
        else:
            notice = (f"Patient connected to the existing portal account {result.user_id}; its "
                      "password was not changed.")
        if result.welcome_status == "failed":
            self.create_error = "The welcome message could not be sent; it is in the outbox to retry."
        elif result.welcome_status == "refused":
            notice += f" No welcome message went out: {consent.REFUSED[self.create_channel]}"
        self.create_notice = notice
        await chart._refresh()

    # Answering the warning only records the answer on screen; Send Token and Connect Patient
    # check access and the address again, with this answer.
    @rx.event
    def set_owner_relationship(self, value: str):
        self.owner_relationship = as_text(value, 40)
        self.owner_relationship_error = ""

    @rx.event
    def answer_owner(self, answer: str):
        """Staff's answer to "this address is another person's account"."""
        answer = as_text(answer, 20)
        if answer == "wrong":
            self._forget_owner()
            self.token_sent = False
            self.create_address_error = "Correct the address, then send a token to it."
            return
        if answer == "representative" and not self.owner_relationship:
            self.owner_relationship_error = "Choose the representative's relationship to the patient."
            return
        if answer in ("representative", "self") and (answer != "self" or self.owner_self_possible):
            self.owner_answer = answer
            self.owner_warning = ""

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE, refuse=NO_KEYS)
    async def generate_key(self, staff: Staff):
        chart = await self._chart(KEY)
        if chart is None:
            return None
        issued = await call(partial(keys.generate_key, patient_id=chart._chart_id,
                            channel=self.key_channel, address=self.key_address,
                            requested_by=self.requested_by,
                            actor=staff.actor, download_now=True))
        self.key_shown = issued.key
        if issued.channel != "letter":
            self._report_sent("connection key", KEY, failed=issued.message_status == "failed",
                              destination=issued.destination, expires=issued.expires)
            return None
        self.key_notice = (f"Connection key letter ready to print (expires {issued.expires}). "
                           "The PDF is downloading; no copy is kept (a reprint makes a new key).")
        if issued.letter_pdf:
            return rx.download(data=issued.letter_pdf, mime_type="application/pdf",
                               filename=f"connection-key-{chart.chart.chart_number}.pdf")
        return None
