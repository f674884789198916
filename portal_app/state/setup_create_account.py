"""`/setup?p=createAccount` and `/setup?p=verify&token=...`: create an account with a key.

The steps are `CreateAccountStep`s, shown while the setup page's view (state/setup.py) is
`SetupView.CREATE_ACCOUNT`. The verification link's token, the key, and the last name / date
of birth typed on the way are kept in backend-only vars (never sent to the browser); every
step re-checks them on the server. Passwords come from the form's submit data and are dropped after the service call.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import reflex as rx

from portal_app import routes
from portal_app.models import SessionKind
from portal_app.services import invitations, keys, message_limits
from portal_app.services.errors import DomainError, InvalidInput, PortalUnavailable
from portal_app.services.throttle import Flow
from portal_app.state import throttling
from portal_app.state.address_bar import forget_token_in_address, token_from_url
from portal_app.state.base import PortalSessionState, call, detach
from portal_app.state.field_errors import PasswordErrors
from portal_app.state.inputs import as_text, form_text
from portal_app.state.session_cookie import open_session
from portal_app.state.setup import SetupState

FRESH_VERIFICATION_SENT = ("If we can, we have sent a new message to the same address. Follow "
                           "its link soon: it works for a short time only.")


class CreateAccountStep:
    """Where creating an account with a key is (`CreateAccountState.stage`); the setup page
    shows these while its own view is `SetupView.CREATE_ACCOUNT`."""

    NONE = ""
    ENTER_ID = "enter_id"
    SENT = "sent"
    HAS_KEY = "has_key"
    KEY = "key"
    NO_KEY = "no_key"
    DETAILS = "details"
    PASSWORD = "password"
    DEAD = "dead"


FIELDS = ("user_id", "key", "last_name", "dob", "whose", "relationship", "details", "password", "confirm")


class CreateAccountState(PasswordErrors, PortalSessionState):
    stage: str = CreateAccountStep.NONE
    sent_to: str = ""
    valid_minutes: int = 30
    user_id_error: str = ""
    key_error: str = ""
    last_name_error: str = ""
    dob_error: str = ""
    details_error: str = ""
    whose_error: str = ""
    relationship_error: str = ""
    fresh_sent: bool = False
    # Between steps; never sent to the browser.
    _token: str = ""
    # The verification link's token survives a reload of the address it was taken out of.
    _verify_token: str = ""
    _key: str = ""
    _last_name: str = ""
    _dob: str = ""
    # Whose chart the key is for (their own, or someone they care for) and the relationship.
    _whose: str = ""
    _relationship: str = ""

    ERROR_FIELDS: ClassVar[tuple[str, ...]] = FIELDS

    def _drop_secrets(self) -> None:
        self._token = ""
        self._key = ""
        self._last_name = ""
        self._dob = ""
        self._whose = self._relationship = ""

    def _dead(self) -> None:
        # The token stays: "send me a new link" needs it to find the user ID.
        self._key = ""
        self._last_name = ""
        self._dob = ""
        self._whose = self._relationship = ""
        self._clear_errors()
        self.stage = CreateAccountStep.DEAD

    async def _portal_off(self) -> None:
        setup = await self.get_state(SetupState)
        setup.portal_off = True

    async def _step_refused(self, exc: DomainError) -> None:
        """What a refused step shows: the portal is off, the link is dead, the key is no good
        (back to the key), the details do not match the key's chart, or a field's message."""
        if isinstance(exc, PortalUnavailable):
            await self._portal_off()
        elif isinstance(exc, invitations.LinkInvalid):
            self._dead()
        elif isinstance(exc, keys.KeyInvalid):  # used up, expired, or voided by too many tries
            self._key = ""
            self.stage = CreateAccountStep.KEY
            self.key_error = exc.message
        elif isinstance(exc, keys.DetailsMismatch):
            self.stage = CreateAccountStep.DETAILS
            self.details_error = exc.message
        else:
            self._show_error(exc.field, exc.message)

    async def _verification_link(self, token: str) -> None:
        """`p=verify`: the link from the verification message; on to "Do you have a key?"."""
        self._token = token[:200]
        try:
            self.sent_to = await call(partial(keys.inspect_verification, token=self._token))
        except DomainError as exc:
            await self._step_refused(exc)
            return
        self.stage = CreateAccountStep.HAS_KEY

    @rx.event
    async def load(self):
        """on_load (after SetupState.load): set up the create-account steps from the URL."""
        params = self.router.url.query_parameters
        requested = params.get("p", "")
        verifying = requested == routes.SetupStep.VERIFY.value
        self._verify_token = token_from_url(params, requested, self._verify_token, requested) if verifying else ""
        self._drop_secrets()
        self._clear_errors()
        self.stage = CreateAccountStep.NONE
        self.sent_to = ""
        self.fresh_sent = False
        if requested == routes.SetupStep.CREATE_ACCOUNT.value:
            self.valid_minutes = await call(partial(keys.verification_minutes))
            self.stage = CreateAccountStep.ENTER_ID
        elif verifying:
            await self._verification_link(self._verify_token)
            return forget_token_in_address(params, requested)
        return None

    @rx.event
    async def create_account(self, form_data: dict[str, Any]):
        """"Create Account": send the verification message. The same answer whether or not an
        account with that user ID exists."""
        self._clear_errors()
        try:
            user_id = keys.contact_user_id(form_text(form_data, "user_id"))
        except InvalidInput as exc:
            self.user_id_error = exc.message
            return
        setup = await self.get_state(SetupState)
        if not await setup._load_practice():
            return
        refusal, send = await self._may_send(user_id)
        if refusal:
            self.user_id_error = refusal
            return
        if send:
            # What was sent (link or "you have an account") must not show in how long it takes.
            detach(call(partial(keys.start_create_account, user_id=user_id, ip=self._ip())))
        self.sent_to = user_id
        self.stage = CreateAccountStep.SENT

    async def _may_send(self, user_id: str) -> tuple[str, bool]:
        """The throttle and the limits on unsigned messages, the same whether or not an account
        has this user ID: (the reason to show beside it, or ""; whether to send). A repeat within
        the minute is answered as sent but sends nothing: the first message is on its way."""
        verdict = await throttling.admit(Flow.SETUP, self._ip())
        if not verdict.allowed:
            return verdict.message, False
        throttling.record(Flow.SETUP, self._ip())  # every request counts: each may send
        try:
            await call(partial(message_limits.check_text_country, user_id=user_id))
        except InvalidInput as exc:
            throttling.refused(Flow.SETUP, self._ip())
            return exc.message, False
        decision = await throttling.unsigned_send(Flow.SETUP, channel="email" if "@" in user_id else "sms",
                                                  destination=user_id, ip=self._ip())
        return decision.message, decision.send

    @rx.event
    def start_over(self):
        """From "We sent a message": enter a different user ID (it must be verified anew)."""
        self._drop_secrets()
        self._clear_errors()
        self.sent_to = ""
        self.stage = CreateAccountStep.ENTER_ID

    @rx.event
    def answer_has_key(self, answer: str):
        """"Do you have a connection key from the practice?" Yes / No."""
        if self.stage not in (CreateAccountStep.HAS_KEY, CreateAccountStep.NO_KEY) or not self._token:
            return
        self._clear_errors()
        self.stage = CreateAccountStep.KEY if as_text(answer) == "yes" else CreateAccountStep.NO_KEY

    @rx.event
    async def submit_key(self, form_data: dict[str, Any]):
        """"Next": the key must be live; wrong keys count against the verification link."""
        self._clear_errors()
        key = form_text(form_data, "key")
        if not key.strip():
            self.key_error = "Enter the connection key from the practice."
            return
        try:
            await call(partial(keys.check_key, token=self._token, key=key, ip=self._ip()))
        except DomainError as exc:
            await self._step_refused(exc)
            return
        self._key = key
        self.stage = CreateAccountStep.DETAILS

    @rx.event
    async def submit_details(self, form_data: dict[str, Any]):
        """"Connect": last name and date of birth must match the key's chart, and the person says
        whose chart it is (their own, or someone they care for, with the relationship)."""
        self._clear_errors()
        last_name, dob = form_text(form_data, "last_name"), form_text(form_data, "dob")
        whose, relationship = form_text(form_data, "whose", 40), form_text(form_data, "relationship", 40)
        try:
            await call(partial(keys.verify_details, token=self._token, key=self._key,
                       last_name=last_name, dob=dob, whose=whose, relationship=relationship, ip=self._ip()))
        except DomainError as exc:
            await self._step_refused(exc)
            return
        self._last_name = last_name
        self._dob = dob
        self._whose, self._relationship = whose, relationship
        self.stage = CreateAccountStep.PASSWORD

    @rx.event
    async def finish(self, form_data: dict[str, Any]):
        """"Finish": everything is checked again, the account is made, and the patient signed in."""
        self._clear_errors()
        try:
            plain = await call(partial(keys.finish_create_account, token=self._token, key=self._key,
                               last_name=self._last_name, dob=self._dob, whose=self._whose,
                               relationship=self._relationship, password=form_text(form_data, "password"),
                               confirm=form_text(form_data, "confirm"), ip=self._ip()), hashing=True)
        except DomainError as exc:
            await self._step_refused(exc)
            return None
        self._drop_secrets()
        self._verify_token = ""
        self.stage = CreateAccountStep.NONE
        return await open_session(SessionKind.PORTAL, plain, routes.PORTAL_HOME)

    @rx.event
    async def send_fresh_verification(self):
        """From a dead verification link: a fresh one to the same user ID. Same answer always."""
        if self._token and await throttling.may_resend(Flow.SETUP, token=self._token, ip=self._ip()):
            detach(call(partial(keys.request_fresh_verification, token=self._token, ip=self._ip())))
        self.fresh_sent = True
