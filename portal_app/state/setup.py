"""`/setup?p=...`: which view the setup page shows; invitation and reset links, and the page a
dead link lands on.

The journey: `routes.SetupStep` is the URL's `p=` (what a link asks for); `SetupView` is what
the page shows for it (this state); creating an account with a key has its own steps,
`CreateAccountStep` (state/setup_create_account.py). Services: invitations (links), keys.

The link's token comes from the URL (`self.router.url.query_parameters`) and is kept in a
backend-only var; public vars hold only what the page shows.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import reflex as rx

from portal_app import routes
from portal_app.models import SecretPurpose, SessionKind
from portal_app.services import invitations
from portal_app.services.errors import DomainError, PortalUnavailable
from portal_app.services.throttle import Flow
from portal_app.state import throttling
from portal_app.state.address_bar import forget_token_in_address, token_from_url
from portal_app.state.base import call
from portal_app.state.field_errors import PasswordErrors
from portal_app.state.inputs import form_text
from portal_app.state.patient_page import PatientPageState
from portal_app.state.session_cookie import open_session

FRESH_LINK_SENT = ("If we can, we have sent a new link the way the first one came: by email, or by text "
                   "message to a mobile number.")


class SetupView:
    """What the setup page shows (values of `SetupState.step`)."""

    CHECKING = ""
    INVITE = "invite"
    RESET = "reset"
    INVALID = "invalid"
    CREATE_ACCOUNT = "create_account"


# The links that carry a token: what each opens, and the secret it must be.
LINKS: dict[str, tuple[SecretPurpose, str]] = {
    routes.SetupStep.INVITE.value: (SecretPurpose.INVITATION, SetupView.INVITE),
    routes.SetupStep.RESET.value: (SecretPurpose.PASSWORD_RESET, SetupView.RESET),
}
# Creating an account with a key: CreateAccountState shows its steps (its own on_load).
CREATE_ACCOUNT_STEPS = (routes.SetupStep.CREATE_ACCOUNT.value, routes.SetupStep.VERIFY.value)


class SetupState(PasswordErrors, PatientPageState):
    step: str = SetupView.CHECKING
    first_name: str = ""
    suggested_user_id: str = ""
    # A reset link of an account that never had a password (a representative's first visit).
    first_password: bool = False
    user_id_error: str = ""
    fresh_link_sent: bool = False
    # The link's secret, from the URL; never sent back to the browser (and taken out of the
    # address bar once read: state/address_bar.py). `_token_step` is the `p` it came with.
    _token: str = ""
    _token_step: str = ""

    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ("user_id", "password", "confirm")

    def _link_dead(self) -> None:
        self._clear_errors()
        self.step = SetupView.INVALID
        self.first_name = ""
        self.suggested_user_id = ""
        self.first_password = False

    def _start_visit(self) -> str:
        """Read `p` and `token` from the URL, and show nothing yet; returns `p`."""
        params = self.router.url.query_parameters
        requested = params.get("p", "")
        self._token = token_from_url(params, requested, self._token, self._token_step)
        self._token_step = requested
        self.step = SetupView.CHECKING
        self.ready = False
        self.first_name = ""
        self.suggested_user_id = ""
        self.first_password = False
        self.fresh_link_sent = False
        self._clear_errors()
        return requested

    async def _inspect_link(self, requested: str) -> None:
        """An invitation or reset link: its form when the link is live, the dead-link page if not."""
        purpose, view = LINKS[requested]
        try:
            info = await call(partial(invitations.inspect_link, token=self._token, purpose=purpose))
        except invitations.LinkInvalid:
            self._link_dead()
            return
        self.step = view
        self.first_name = info.first_name
        self.suggested_user_id = info.suggested_user_id
        self.first_password = info.first_password

    @rx.event
    async def load(self):
        """on_load: read `p` and `token`, and check the link before showing a form."""
        requested = self._start_visit()
        # With the previous visit's form unmounted (so the new one starts from its defaults), the
        # invitation or reset link's token leaves the address bar (the verify link's: CreateAccountState).
        yield forget_token_in_address(self.router.url.query_parameters, requested) if requested in LINKS else None
        if not await self._load_practice():
            self.ready = True
            return
        if requested in CREATE_ACCOUNT_STEPS:
            self.step = SetupView.CREATE_ACCOUNT
        elif requested in LINKS:
            await self._inspect_link(requested)
        else:
            self._link_dead()
        self.ready = True

    async def _redeem(self, fn, **kwargs: Any):
        """Call a redeem service; signed in and on to the portal, or the reason shown."""
        self._clear_errors()
        try:
            plain = await call(partial(fn, token=self._token, ip=self._ip(), **kwargs))
        except PortalUnavailable:
            self.portal_off = True
            return None
        except invitations.LinkInvalid:
            self._link_dead()
            return None
        except DomainError as exc:  # a password rule, a taken username, ...
            self._show_error(exc.field, exc.message)
            return None
        self._token = ""
        if not plain:  # two-step verification: the new password, then the code, at sign-in
            return [rx.redirect(routes.LOGIN),
                    rx.toast.success("Your new password is saved. Sign in with it and your authenticator code.")]
        return await open_session(SessionKind.PORTAL, plain, routes.PORTAL_HOME)

    @rx.event
    async def create_account(self, form_data: dict[str, Any]):
        """Invitation: create the account with the chosen username and password, signed in."""
        return await self._redeem(invitations.redeem_invitation,
                                  user_id=form_text(form_data, "user_id"),
                                  password=form_text(form_data, "password"),
                                  confirm=form_text(form_data, "confirm"))

    @rx.event
    async def save_password(self, form_data: dict[str, Any]):
        """Reset link: set the new password (other sessions end), signed in."""
        return await self._redeem(invitations.redeem_reset,
                                  password=form_text(form_data, "password"),
                                  confirm=form_text(form_data, "confirm"))

    @rx.event
    async def send_new_link(self):
        """From a dead link: a fresh one to the contact on file. The same answer whatever happens."""
        try:
            if await throttling.may_resend(Flow.FORGOT, token=self._token, ip=self._ip()):
                await call(partial(invitations.request_fresh_link, token=self._token, ip=self._ip()))
        except DomainError:
            pass
        self.fresh_link_sent = True
