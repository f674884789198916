"""Portal Account Setup (`/staff/portal-accounts`): pick a chart, edit its connections.

Thin handlers: each checks the session and Portal Account Setup (Read views, Update changes)
itself, then calls `services.portal_accounts`. The chart worked on and the connection chosen
for Delete live in backend-only vars.

A generated password is the one secret a public var holds: it must reach the screen. It is
shown once and forgotten by every other handler of this page (only Print keeps it), by
"Done", and whenever the page loads again.
"""

from __future__ import annotations

import functools
from functools import partial
from typing import Any

import reflex as rx

from portal_app import routes
from portal_app.models import AccessType
from portal_app.services import audit, form_requests, portal_accounts
from portal_app.services.areas import Area
from portal_app.services.errors import DomainError, FormInvalid, NotFound
from portal_app.services.form_requests import FormRequestRow
from portal_app.services.onboarding import PatientRow
from portal_app.services.permissions import Level, Permission
from portal_app.services.portal_accounts import AccountForm, ChartSummary, ConnectionItem, Credentials
from portal_app.services.staff_auth import StaffPrincipal
from portal_app.state.base import StaffSessionState, call
from portal_app.state.inputs import as_id
from portal_app.state.portal_users import focus_later

ALL_AREAS = [area.value for area in Area]
FORM_NAMES = [form.value for form in form_requests.PortalForm]
FIELDS = ("username", "first_name", "last_name", "access_type", "relationship", "permissions", "forms")
MAX_TEXT = 300
NO_CHANGE = "You do not have permission to change portal accounts."
NO_VIEW = "You do not have permission to open Portal Account Setup."
STALE = "Choose a patient first."
PICK_FIRST = "Select a connection in the list first."


def _form_edit(change):
    """A form control's handler: Update access is checked on the server first (any client can
    send any event; a session that has ended goes to sign-in), then the typed form changes.
    Nothing is saved here, and the check forgets credentials on screen (the next action)."""

    @functools.wraps(change)
    async def handler(self, *args, **kwargs):  # Reflex passes the arguments by name
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        change(self, *args, **kwargs)
        return None

    return handler


def _text(form_data: Any, name: str, fallback: str) -> str:
    value = form_data.get(name, fallback) if isinstance(form_data, dict) else fallback
    return (value if isinstance(value, str) else "")[:MAX_TEXT]


class PortalAccountsState(StaffSessionState):
    loaded: bool = False
    load_error: str = ""

    # The patient picker.
    search: str = ""
    results: list[PatientRow] = []
    search_message: str = ""

    # The chart and its connections (small views).
    chart: ChartSummary = ChartSummary()
    connections: list[ConnectionItem] = []
    open_forms: list[FormRequestRow] = []
    selected_id: int = 0

    # The form.
    username: str = ""
    username_ok: bool = False
    username_message: str = ""
    username_connectable: bool = False
    username_suggestion: str = ""
    connect_existing: bool = False
    first_name: str = ""
    last_name: str = ""
    access_type: str = AccessType.SELF.value
    relationship: str = ""
    force_change: bool = True
    # False for a new representative, or a selected account still waiting for its password:
    # there is no password to force a change of (the emailed link lets them choose one).
    has_password: bool = True
    forms: list[str] = []
    permissions: list[str] = ALL_AREAS
    username_error: str = ""
    first_name_error: str = ""
    last_name_error: str = ""
    access_type_error: str = ""
    relationship_error: str = ""
    permissions_error: str = ""
    forms_error: str = ""
    notice: str = ""
    error: str = ""

    # Confirmations.
    delete_open: bool = False
    delete_label: str = ""
    delete_detail: str = ""
    reset_open: bool = False

    # New credentials, shown once.
    cred_user_id: str = ""
    cred_password: str = ""
    cred_must_change: bool = False
    cred_expires: str = ""
    cred_portal_url: str = ""

    _patient_id: int = 0
    _delete_id: int = 0
    # The name of the existing account the username belongs to (filled in when connecting it).
    _owner_name: tuple[str, str] = ("", "")
    # Where focus goes when a dialog closes (the dialogs have no trigger to hand it back to).
    _focus_after_dialog: tuple[str, ...] = ()

    # ---- what the page shows -----------------------------------------------------------

    @rx.var
    def can_change(self) -> bool:
        return self.staff_levels.get(Permission.ACCOUNT_SETUP.value, 0) >= Level.UPDATE

    @rx.var
    def is_representative(self) -> bool:
        return self.access_type == AccessType.REPRESENTATIVE.value

    @rx.var
    def force_change_applies(self) -> bool:
        """Whether "Force Password Change on Next Login" means anything for this form."""
        if self.selected_id:
            return self.has_password
        return self.access_type == AccessType.SELF.value

    @rx.var
    def has_chart(self) -> bool:
        return self.chart.patient_id > 0

    @rx.var
    def chart_href(self) -> str:
        return routes.patient_chart(self.chart.patient_id) if self.chart.patient_id else ""

    @rx.var
    def has_credentials(self) -> bool:
        return self.cred_password != ""

    @rx.var
    def credential_message(self) -> str:
        """The whole message that "Copy" puts on the clipboard."""
        if not self.cred_password:
            return ""
        return portal_accounts.credential_text(Credentials(
            user_id=self.cred_user_id, password=self.cred_password, must_change=self.cred_must_change,
            expires=self.cred_expires, portal_url=self.cred_portal_url, person_name="", patient_name=""))

    # ---- housekeeping ------------------------------------------------------------------

    def _forget_credentials(self) -> None:
        self.cred_user_id = self.cred_password = self.cred_expires = self.cred_portal_url = ""
        self.cred_must_change = False

    def _clear_errors(self) -> None:
        for name in FIELDS:
            setattr(self, f"{name}_error", "")
        self.notice = self.error = ""

    def _blank_form(self) -> None:
        """A new connection. Once the chart has its Self account, the only new connection it
        can take is a representative, so the form starts as one (with no area chosen)."""
        self.selected_id = 0
        self.username = self.username_message = self.username_suggestion = ""
        self.username_ok = self.username_connectable = self.connect_existing = False
        self.first_name = self.last_name = self.relationship = ""
        has_self = any(row.access_type == AccessType.SELF.value for row in self.connections)
        self.access_type = (AccessType.REPRESENTATIVE if has_self else AccessType.SELF).value
        self.force_change = True
        self.has_password = True
        self.forms = []
        self.permissions = [] if has_self else list(ALL_AREAS)
        self._close_dialogs()

    def _close_dialogs(self) -> None:
        self.delete_open = self.reset_open = False
        self.delete_label = self.delete_detail = ""
        self._delete_id = 0

    def _clear(self) -> None:
        """Forget the chart and everything typed (a failed check, or a new visit)."""
        self._forget_credentials()
        self._clear_errors()
        self.chart = ChartSummary()
        self.connections = []
        self.open_forms = []
        self._blank_form()
        self.results = []
        self.search = self.search_message = ""
        self._patient_id = 0
        self.loaded = False
        self.load_error = ""

    def _actor(self, staff: StaffPrincipal) -> audit.Actor:
        return audit.Actor.staff(staff.id, self._ip())

    async def _allowed(self, level: Level, *, keep_credentials: bool = False):
        """(principal, None) or (None, refusal). Every handler starts here."""
        if not keep_credentials:
            self._forget_credentials()
        staff = await self._require(Permission.ACCOUNT_SETUP, level)
        if staff is not None:
            return staff, None
        self._close_dialogs()
        if not self.staff_name:
            self._clear()
            return None, rx.redirect(routes.STAFF_LOGIN)
        self.error = NO_CHANGE if level > Level.READ else NO_VIEW
        if level == Level.READ:
            self._clear()
            self.loaded = True
            self.load_error = NO_VIEW
        return None, None

    async def _for_selected(self, *, close_dialogs: bool = False):
        """(principal, None) for Update access with a connection of the open chart selected;
        else (None, refusal or None) with the reason shown. The selection buttons start here."""
        self._clear_errors()
        staff, refusal = await self._allowed(Level.UPDATE)
        if close_dialogs:
            self._close_dialogs()
        if staff is None:
            return None, refusal
        if not self._patient_id or not self.selected_id:
            self.error = PICK_FIRST
            return None, None
        return staff, None

    async def _read(self) -> None:
        self.connections = await call(partial(portal_accounts.list_connections, patient_id=self._patient_id))
        self.open_forms = await call(partial(form_requests.open_requests, patient_id=self._patient_id))

    async def _open(self, staff: StaffPrincipal, patient_id: int) -> None:
        try:
            self.chart = await call(partial(portal_accounts.open_chart, patient_id=patient_id,
                                    actor=self._actor(staff)))
        except NotFound as exc:
            self.load_error = exc.message
            return
        self._patient_id = patient_id
        await self._read()
        self._blank_form()

    def _show_form_errors(self, exc: DomainError) -> None:
        errors = exc.errors if isinstance(exc, FormInvalid) else (
            {exc.field: exc.message} if exc.field in FIELDS else {})
        for name, message in errors.items():
            if name in FIELDS:
                setattr(self, f"{name}_error", message)
        if "username" in errors:
            self.username_ok = False
            self.username_message = ""
        if not errors:
            self.error = exc.message
        else:
            self.error = "The account was not saved: check the fields marked below."

    # ---- loading and picking a patient ----------------------------------------------------

    @rx.event
    async def load(self):
        """on_load: check access; open the chart named by `?patient=ID`, if any."""
        self._clear()
        staff, redirect = await self._guard(Permission.ACCOUNT_SETUP)
        if staff is None:
            if self.staff_name:
                self.load_error = NO_VIEW
            return redirect
        patient_id = as_id(self.router.url.query_parameters.get("patient", ""))
        if patient_id:
            await self._open(staff, patient_id)
        self.loaded = True
        return None

    @rx.event
    async def search_patients(self, value: str):
        """The picker's search box (debounced in the page): a few matching charts."""
        self.search = (value if isinstance(value, str) else "")[:100]
        staff, refusal = await self._allowed(Level.READ)
        if staff is None:
            return refusal
        self.results = await call(partial(portal_accounts.find_patients, search=self.search))
        if len(self.search.strip()) < 2:
            self.search_message = ""
        elif not self.results:
            self.search_message = "No patient matches."
        else:
            self.search_message = (f"{len(self.results)} shown; type more to narrow the list."
                                   if len(self.results) >= portal_accounts.SEARCH_ROWS else "")
        return None

    @rx.event
    async def choose_patient(self, patient_id: int):
        staff, refusal = await self._allowed(Level.READ)
        if staff is None:
            return refusal
        self._clear_errors()
        chosen = as_id(patient_id)
        if not any(row.id == chosen for row in self.results):
            self.error = "That patient is no longer in the list. Search again."
            return None
        self.results = []
        self.search = self.search_message = ""
        await self._open(staff, chosen)
        # The button pressed is gone: a keyboard user goes on from the patient's name.
        return focus_later("chart-heading")

    @rx.event
    async def change_patient(self):
        """Back to the picker (forgets the chart and the form)."""
        staff, refusal = await self._allowed(Level.READ)
        if staff is None:
            return refusal
        self._clear()
        self.loaded = True
        return focus_later("patient-search")

    # ---- the form --------------------------------------------------------------------------

    @rx.event
    async def select_connection(self, connection_id: int):
        """Load an existing connection into the form, to change it."""
        staff, refusal = await self._allowed(Level.READ)
        if staff is None:
            return refusal
        self._clear_errors()
        row = next((row for row in self.connections if row.id == as_id(connection_id)), None)
        if row is None:
            self.error = "That connection is no longer listed. Reload the page."
            return None
        self._blank_form()
        self._load_row(row)
        return None

    def _load_row(self, row: ConnectionItem) -> None:
        self.selected_id = row.id
        self.username, self.username_ok = row.user_id, True
        self.first_name, self.last_name = row.first_name, row.last_name
        self.access_type, self.relationship = row.access_type, row.relationship
        self.force_change = row.must_change
        self.has_password = row.has_password
        self.permissions = [name for name in row.permissions.split(",") if name]

    @rx.event
    async def new_form(self):
        """"New": a blank form for another connection to this chart."""
        staff, refusal = await self._allowed(Level.READ)
        if staff is None:
            return refusal
        self._clear_errors()
        self._blank_form()
        return None

    @rx.event
    async def fill_from_chart(self):
        """The wand: the chart's name and email (or a free numbered variant) into the form."""
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        if not self._patient_id:
            self.error = STALE
            return None
        fill = await call(partial(portal_accounts.fill_from_chart, patient_id=self._patient_id,
                          access_type=self.access_type))
        if fill.first_name or fill.last_name:  # a representative's own name is typed, not filled
            self.first_name, self.last_name = fill.first_name, fill.last_name
            self.first_name_error = self.last_name_error = ""
        if self.is_representative:
            self.notice = fill.message
        if not self.selected_id:
            self.username = fill.username
            await self._check(fill.username)
            if fill.username and fill.username != self.chart.email.lower():
                self.username_message = fill.message
        return None

    async def _check(self, value: str) -> None:
        self.username_error = ""
        if not value.strip():
            self.username_ok = self.username_connectable = False
            self.username_message = self.username_suggestion = ""
            return
        result = await call(partial(portal_accounts.check_username, patient_id=self._patient_id,
                            username=value, connection_id=self.selected_id,
                            access_type=self.access_type))
        self.username_ok = result.ok
        self.username_message = result.message
        self.username_connectable = result.connectable
        self.username_suggestion = result.suggestion
        self._owner_name = (result.first_name, result.last_name) if result.connectable else ("", "")
        if not result.connectable:
            self.connect_existing = False

    @rx.event
    async def check_username(self, value: str):
        """Live check of the Username field (debounced in the page)."""
        self.username = (value if isinstance(value, str) else "")[:MAX_TEXT]
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        if not self._patient_id or self.selected_id:
            return None
        await self._check(self.username)
        return None

    @rx.event
    async def use_suggestion(self):
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        if self._patient_id and self.username_suggestion and not self.selected_id:
            self.username = self.username_suggestion
            await self._check(self.username)
        return None

    @rx.event
    @_form_edit
    def set_first_name(self, value: str):
        self.first_name = (value if isinstance(value, str) else "")[:MAX_TEXT]

    @rx.event
    @_form_edit
    def set_last_name(self, value: str):
        self.last_name = (value if isinstance(value, str) else "")[:MAX_TEXT]

    @rx.event
    async def set_access_type(self, value: str):
        """Self defaults to every area; a representative starts with none chosen. The
        username's answer depends on it (no numbered username for a representative)."""
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        if value not in (AccessType.SELF.value, AccessType.REPRESENTATIVE.value):
            return None
        changed = value != self.access_type
        if changed and not self.selected_id:
            self.permissions = list(ALL_AREAS) if value == AccessType.SELF.value else []
        self.access_type = value
        self.access_type_error = self.permissions_error = ""
        if value == AccessType.SELF.value:
            self.relationship = ""
            self.connect_existing = False
        if changed and self._patient_id and not self.selected_id and self.username.strip():
            await self._check(self.username)
        return None

    @rx.event
    @_form_edit
    def set_relationship(self, value: str):
        self.relationship = value if value in portal_accounts.RELATIONSHIPS else ""
        self.relationship_error = ""

    @rx.event
    @_form_edit
    def toggle_force_change(self, checked: bool):
        self.force_change = bool(checked)

    @rx.event
    @_form_edit
    def toggle_connect_existing(self, checked: bool):
        """Connecting an existing account: its own name fills empty name fields (Save would
        otherwise rename it to whatever is typed)."""
        self.connect_existing = bool(checked) and self.username_connectable
        if self.connect_existing and not (self.first_name.strip() or self.last_name.strip()):
            self.first_name, self.last_name = self._owner_name
            self.first_name_error = self.last_name_error = ""

    @rx.event
    @_form_edit
    def flip_permission(self, area: str):
        if area not in ALL_AREAS:
            return
        chosen = set(self.permissions) ^ {area}
        self.permissions = [name for name in ALL_AREAS if name in chosen]
        self.permissions_error = ""

    @rx.event
    @_form_edit
    def flip_form(self, name: str):
        if name not in FORM_NAMES:
            return
        chosen = set(self.forms) ^ {name}
        self.forms = [form for form in FORM_NAMES if form in chosen]

    @rx.event
    async def save(self, form_data: dict[str, Any]):
        """Create the connection (and account), or change the selected one."""
        self._clear_errors()
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        if not self._patient_id:
            self.error = STALE
            return None
        if not self.selected_id:
            self.username = _text(form_data, "username", self.username)
        self.first_name = _text(form_data, "first_name", self.first_name)
        self.last_name = _text(form_data, "last_name", self.last_name)
        form = AccountForm(
            username=self.username, first_name=self.first_name, last_name=self.last_name,
            access_type=self.access_type, relationship=self.relationship,
            force_change=self.force_change, permissions=tuple(self.permissions),
            forms=tuple(self.forms), connect_existing=self.connect_existing)
        try:
            result = await call(partial(portal_accounts.save, patient_id=self._patient_id,
                                connection_id=self.selected_id, form=form, actor=self._actor(staff)))
        except DomainError as exc:
            self._show_form_errors(exc)
            return None
        await self._read()
        self._blank_form()
        row = next((row for row in self.connections if row.id == result.connection_id), None)
        if row is not None:  # keep the saved connection open in the form (Reset Pwd, Delete)
            self._load_row(row)
        if result.credentials is not None:
            self._show_credentials(result.credentials)
        if result.email_failed:
            self.error = result.message
        else:
            self.notice = result.message
        return None

    def _show_credentials(self, credentials: Credentials) -> None:
        self.cred_user_id = credentials.user_id
        self.cred_password = credentials.password
        self.cred_must_change = credentials.must_change
        self.cred_expires = credentials.expires
        self.cred_portal_url = credentials.portal_url

    # ---- delete ----------------------------------------------------------------------------

    @rx.event
    async def ask_delete(self):
        staff, refusal = await self._for_selected()
        if staff is None:
            return refusal
        try:
            preview = await call(partial(portal_accounts.delete_preview, patient_id=self._patient_id,
                                 connection_id=self.selected_id))
        except DomainError as exc:
            self.error = exc.message
            return None
        self._delete_id = preview.connection_id
        self.delete_label = preview.label
        detail = ("This account has no other connection, so the account itself is deleted too."
                  if preview.deletes_account
                  else "The account stays connected to its other charts.")
        if preview.signed_in:
            detail += " It is signed in now: its sessions end at once."
        self.delete_detail = detail
        self.delete_open = True
        self._focus_after_dialog = ("delete-button",)
        return None

    @rx.event
    def set_dialog_open(self, value: bool):
        """Either confirmation closed (Cancel, Escape, or its action): forget what it was about
        and put focus back: on new credentials, else the button that asked, else the form."""
        if value:
            return None
        self._close_dialogs()
        return focus_later("copy-credentials", *self._focus_after_dialog, "username")

    @rx.event
    async def delete(self):
        """Confirmed in the dialog."""
        connection_id = self._delete_id
        staff, refusal = await self._for_selected(close_dialogs=True)
        if staff is None:
            return refusal
        if not connection_id:
            self.error = "Nothing to delete: select a connection and try again."
            return None
        try:
            message = await call(partial(portal_accounts.delete_connection, patient_id=self._patient_id,
                                 connection_id=connection_id, actor=self._actor(staff)))
        except DomainError as exc:
            self.error = exc.message
            await self._read()
            return None
        self.notice = message
        await self._read()
        self._blank_form()
        return None

    # ---- passwords -------------------------------------------------------------------------

    @rx.event
    async def ask_reset(self):
        staff, refusal = await self._for_selected()
        if staff is None:
            return refusal
        self.reset_open = True
        self._focus_after_dialog = ("reset-button",)
        return None

    @rx.event
    async def reset_password(self):
        """Confirmed: a new generated password, shown once; the old one stops working."""
        was_open = self.reset_open
        staff, refusal = await self._for_selected(close_dialogs=True)
        if staff is None:
            return refusal
        if not was_open:
            self.error = "Confirm the reset in its dialog first."
            return None
        try:
            credentials = await call(partial(portal_accounts.reset_password, patient_id=self._patient_id,
                                     connection_id=self.selected_id, force_change=self.force_change,
                                     actor=self._actor(staff)))
        except DomainError as exc:
            self.error = exc.message
            return None
        await self._read()
        self._show_credentials(credentials)
        self.notice = (f"New password for {credentials.user_id}: give it to them now, it is shown "
                       "only once. Their portal sessions have ended.")
        return None

    @rx.event
    async def send_reset_link(self):
        """Instead of a generated password: email a link to choose one."""
        staff, refusal = await self._for_selected(close_dialogs=True)
        if staff is None:
            return refusal
        try:
            message = await call(partial(portal_accounts.send_reset_link, patient_id=self._patient_id,
                                 connection_id=self.selected_id, actor=self._actor(staff)))
        except DomainError as exc:
            self.error = exc.message
            return None
        if "could not be sent" in message:
            self.error = message
        else:
            self.notice = message
        return None

    # ---- credentials -----------------------------------------------------------------------

    @rx.event
    async def print_sheet(self):
        """The printable credential sheet (PDF) of the credentials on screen."""
        staff, refusal = await self._allowed(Level.UPDATE, keep_credentials=True)
        if staff is None:
            self._forget_credentials()
            return refusal
        if not self._patient_id or not self.cred_password:
            self.error = "The credentials are no longer shown. Use Reset Pwd to make new ones."
            return None
        try:
            filename, data = await call(partial(portal_accounts.credential_sheet, patient_id=self._patient_id,
                                        user_id=self.cred_user_id, password=self.cred_password,
                                        actor=self._actor(staff)))
        except DomainError as exc:
            self._forget_credentials()
            self.error = exc.message
            return None
        return rx.download(data=data, filename=filename, mime_type="application/pdf")

    @rx.event
    def forget_credentials(self):
        """The credentials left the screen (the page was left): forget them here too."""
        self._forget_credentials()

    @rx.event
    def done_credentials(self):
        """"Done": the credentials were handed over; take them off the screen."""
        self._forget_credentials()
        self.notice = ""

