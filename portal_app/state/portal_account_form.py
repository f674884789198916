"""Portal Account Setup: the account form (its fields, the live username check, the wand that
fills it from the chart, New, choosing a connection to change, and Save).

Mixed into PortalAccountsState (state/portal_accounts.py), which holds the open chart
(`_patient_id`, `chart`, `connections`), the page's `notice`/`error` and the refusal hooks.
Every control's handler checks Update access on the server (any client can send any event);
nothing is saved before Save, and each handler forgets the credentials on screen.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import reflex as rx

from portal_app.models import AccessType
from portal_app.services import form_requests, portal_accounts
from portal_app.services.areas import Area
from portal_app.services.errors import DomainError, FormInvalid
from portal_app.services.permissions import Level, Permission
from portal_app.services.portal_accounts import AccountForm, ConnectionItem, SaveResult
from portal_app.state.actions import Staff, staff_action
from portal_app.state.base import call
from portal_app.state.inputs import form_text

ALL_AREAS = [area.value for area in Area]
FORM_NAMES = [form.value for form in form_requests.PortalForm]
FIELDS = ("username", "first_name", "last_name", "access_type", "relationship", "permissions", "forms",
          "confirm_young")
MAX_TEXT = 300
STALE = "Choose a patient first."


def _flipped(chosen: list[str], item: str, order: list[str]) -> list[str]:
    """`chosen` with `item` added or taken out, kept in the order of `order`."""
    picked = set(chosen) ^ {item}
    return [name for name in order if name in picked]


class AccountEditor(rx.State, mixin=True):
    """The form's fields, each field's message, and the connection it edits (0: a new one)."""

    selected_id: int = 0
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
    # Staff confirmed a Self account on a young child's chart (asked by Save: confirm_young_error).
    confirm_young: bool = False
    confirm_young_error: str = ""

    # The name of the existing account the username belongs to (filled in when connecting it).
    _owner_name: tuple[str, str] = ("", "")

    @rx.var
    def is_representative(self) -> bool:
        return self.access_type == AccessType.REPRESENTATIVE.value

    @rx.var
    def force_change_applies(self) -> bool:
        """Whether "Force Password Change on Next Login" means anything for this form."""
        if self.selected_id:
            return self.has_password
        return self.access_type == AccessType.SELF.value

    # ---- the form's own housekeeping -----------------------------------------------------

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
        self.confirm_young = False
        self.forms = []
        self.permissions = [] if has_self else list(ALL_AREAS)
        self._close_dialogs()

    def _load_row(self, row: ConnectionItem) -> None:
        self.selected_id = row.id
        self.username, self.username_ok = row.user_id, True
        self.first_name, self.last_name = row.first_name, row.last_name
        self.access_type, self.relationship = row.access_type, row.relationship
        self.force_change = row.must_change
        self.has_password = row.has_password
        self.permissions = [name for name in row.permissions.split(",") if name]

    def _show_form_errors(self, exc: DomainError) -> None:
        """A refused save: each message beside its field, or the page's error line."""
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

    # ---- choosing what the form edits ----------------------------------------------------

    @staff_action(Permission.ACCOUNT_SETUP, Level.READ)
    async def select_connection(self, staff: Staff, connection_id: int):
        """Load an existing connection into the form, to change it."""
        self._begin()
        row = next((row for row in self.connections if row.id == connection_id), None)
        if row is None:
            self.error = "That connection is no longer listed. Reload the page."
            return
        self._blank_form()
        self._load_row(row)

    @staff_action(Permission.ACCOUNT_SETUP, Level.READ)
    async def new_form(self, staff: Staff):
        """"New": a blank form for another connection to this chart."""
        self._begin()
        self._blank_form()

    # ---- the username ----------------------------------------------------------------------

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def fill_from_chart(self, staff: Staff):
        """The wand: the chart's name and email (or a free numbered variant) into the form."""
        self._forget_credentials()
        if not self._patient_id:
            self.error = STALE
            return
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

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def check_username(self, staff: Staff, value: str):
        """Live check of the Username field (debounced in the page)."""
        self._forget_credentials()
        self.username = value[:MAX_TEXT]
        if self._patient_id and not self.selected_id:
            await self._check(self.username)

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def use_suggestion(self, staff: Staff):
        self._forget_credentials()
        if self._patient_id and self.username_suggestion and not self.selected_id:
            self.username = self.username_suggestion
            await self._check(self.username)

    # ---- the other fields (nothing is saved until Save) ------------------------------------

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def set_first_name(self, staff: Staff, value: str):
        self._forget_credentials()
        self.first_name = value[:MAX_TEXT]

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def set_last_name(self, staff: Staff, value: str):
        self._forget_credentials()
        self.last_name = value[:MAX_TEXT]

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def set_access_type(self, staff: Staff, value: str):
        """Self defaults to every area; a representative starts with none chosen. The
        username's answer depends on it (no numbered username for a representative)."""
        self._forget_credentials()
        if value not in (AccessType.SELF.value, AccessType.REPRESENTATIVE.value):
            return
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

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def set_relationship(self, staff: Staff, value: str):
        self._forget_credentials()
        self.relationship = value if value in portal_accounts.RELATIONSHIPS else ""
        self.relationship_error = ""

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def toggle_force_change(self, staff: Staff, checked: bool):
        self._forget_credentials()
        self.force_change = checked

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def toggle_confirm_young(self, staff: Staff, checked: bool):
        self._forget_credentials()
        self.confirm_young = checked

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def toggle_connect_existing(self, staff: Staff, checked: bool):
        """Connecting an existing account: its own name fills empty name fields (Save would
        otherwise rename it to whatever is typed)."""
        self._forget_credentials()
        self.connect_existing = checked and self.username_connectable
        if self.connect_existing and not (self.first_name.strip() or self.last_name.strip()):
            self.first_name, self.last_name = self._owner_name
            self.first_name_error = self.last_name_error = ""

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def flip_permission(self, staff: Staff, area: str):
        self._forget_credentials()
        if area in ALL_AREAS:
            self.permissions = _flipped(self.permissions, area, ALL_AREAS)
            self.permissions_error = ""

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def flip_form(self, staff: Staff, name: str):
        self._forget_credentials()
        if name in FORM_NAMES:
            self.forms = _flipped(self.forms, name, FORM_NAMES)

    # ---- Save ------------------------------------------------------------------------------

    def _submitted(self, form_data: dict[str, Any], name: str) -> str:
        """A text field of the submitted form; what the form holds when the submit left it out."""
        return form_text(form_data, name, MAX_TEXT) if name in form_data else getattr(self, name)

    def _account_form(self, form_data: dict[str, Any]) -> AccountForm:
        if not self.selected_id:
            self.username = self._submitted(form_data, "username")
        self.first_name = self._submitted(form_data, "first_name")
        self.last_name = self._submitted(form_data, "last_name")
        return AccountForm(
            username=self.username, first_name=self.first_name, last_name=self.last_name,
            access_type=self.access_type, relationship=self.relationship,
            force_change=self.force_change, permissions=tuple(self.permissions),
            forms=tuple(self.forms), connect_existing=self.connect_existing,
            confirm_young_self=self.confirm_young)

    @staff_action(Permission.ACCOUNT_SETUP, Level.UPDATE)
    async def save(self, staff: Staff, form_data: dict[str, Any]):
        """Create the connection (and account), or change the selected one."""
        self._begin()
        if not self._patient_id:
            self.error = STALE
            return None
        form = self._account_form(form_data)
        result = await call(partial(portal_accounts.save, patient_id=self._patient_id,
                            connection_id=self.selected_id, form=form, actor=staff.actor))
        await self._show_saved(result)
        return self._copy_password()

    async def _show_saved(self, result: SaveResult) -> None:
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
