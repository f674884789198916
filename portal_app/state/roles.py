"""Roles setup (`/staff/setup/roles`): Read on Roles Setup views, Update or Write changes.

Level and holder edits stay in this state until "Save", which sends them in one call (one
transaction in the service). Every handler checks the permission itself.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import reflex as rx

from portal_app import routes
from portal_app.services import audit, roles
from portal_app.services.errors import DomainError, NotFound
from portal_app.services.permissions import Level, Permission
from portal_app.services.roles import MemberRow, PermissionInfo, PermissionRow, RoleRow
from portal_app.state.base import StaffSessionState, call

LEVEL_VALUES = ("0", "1", "2", "3")
NO_PERMISSION = "You do not have permission to open Roles setup."
NO_CHANGE = "You can view roles; changing them needs Update or Write on Roles Setup."


def _text(form_data: dict[str, Any], name: str, limit: int = 200) -> str:
    value = form_data.get(name, "") if isinstance(form_data, dict) else ""
    return (value if isinstance(value, str) else "")[:limit]


def _as_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 12:
        return int(value)
    return None


class SetupGuard(rx.State, mixin=True):
    """Shared by Roles and Staff users: Read on Roles Setup views, Update or Write changes.

    The using state defines `_clear_messages`, `_forget` and its two refusal texts.
    """

    loaded: bool = False
    can_edit: bool = False
    error: str = ""
    notice: str = ""
    search: str = ""

    _no_permission: ClassVar[str] = NO_PERMISSION
    _no_change: ClassVar[str] = NO_CHANGE

    async def _allowed(self, level: Level):
        """(principal, None), or (None, what to return) with the page told why."""
        staff = await self._require(Permission.ROLES, level)
        if staff is not None:
            return staff, None
        if not self.staff_name:
            self._forget()
            return None, rx.redirect(routes.STAFF_LOGIN)
        if level > Level.READ and self.staff_levels.get(Permission.ROLES.value, 0) >= Level.READ:
            self.can_edit = False
            self.error = self._no_change
            return None, None
        self._forget()
        self.error = self._no_permission
        return None, None

    async def _open_page(self):
        """on_load's guard: (principal, None), or (None, a redirect) with the page told why."""
        self._clear_messages()
        self._forget()
        self.search = ""
        staff, redirect = await self._guard(Permission.ROLES)
        if staff is None:
            if self.staff_name:
                self.error = self._no_permission
            return None, redirect
        self.can_edit = staff.can(Permission.ROLES, Level.UPDATE)
        return staff, None

    def _actor(self, staff) -> audit.Actor:
        return audit.Actor.staff(staff.id, self._ip())


class RolesState(SetupGuard, StaffSessionState):
    role_rows: list[RoleRow] = []
    matching_permissions: list[PermissionInfo] = []

    new_name: str = ""
    new_name_error: str = ""

    selected_id: int = 0
    selected_name: str = ""
    selected_built_in: bool = False
    locked_levels: bool = False
    permission_rows: list[PermissionRow] = []
    levels: dict[str, str] = {}
    members: list[MemberRow] = []
    rename_value: str = ""
    rename_error: str = ""
    add_username: str = ""
    add_error: str = ""
    detail_error: str = ""
    dirty: bool = False
    delete_confirm: str = ""
    # The form keys change after a reload so uncontrolled inputs show the new values.
    form_version: int = 0

    _all_permission_rows: list[PermissionRow] = []
    _delete_holders: int = 0

    # --- helpers ----------------------------------------------------------------------------

    def _clear_messages(self) -> None:
        self.error = self.notice = ""
        self.new_name_error = self.rename_error = self.add_error = self.detail_error = ""
        self.delete_confirm = ""

    def _forget(self) -> None:
        self.loaded = False
        self.role_rows = []
        self.matching_permissions = []
        self._forget_selection()

    def _forget_selection(self) -> None:
        self.selected_id = 0
        self.selected_name = ""
        self.selected_built_in = False
        self.locked_levels = False
        self.permission_rows = []
        self._all_permission_rows = []
        self.levels = {}
        self.members = []
        self.rename_value = ""
        self.dirty = False

    def _unsaved(self, next_role_id: int | None) -> bool:
        """True (and said beside Save) when opening another role would drop unsaved edits."""
        if not self.dirty or next_role_id == self.selected_id:
            return False
        self.detail_error = (f"{self.selected_name} has unsaved changes: choose Save or Discard "
                             "changes first.")
        return True

    def _filter_rows(self) -> None:
        needle = self.search.strip().lower()
        self.permission_rows = [row for row in self._all_permission_rows if needle in row.name.lower()]

    async def _read_lists(self) -> None:
        self.matching_permissions = await call(partial(roles.search_permissions, search=self.search))
        # A search that names permissions ("Patient Portal") is for setting them on some role:
        # every role stays listed. Otherwise it looks for roles by name.
        role_search = "" if self.matching_permissions else self.search
        self.role_rows = await call(partial(roles.list_roles, search=role_search))
        self._filter_rows()

    async def _open(self, role_id: int) -> None:
        detail = await call(partial(roles.role_detail, role_id=role_id))
        self.selected_id = detail.id
        self.selected_name = detail.name
        self.selected_built_in = detail.built_in
        self.locked_levels = detail.locked_levels
        self._all_permission_rows = list(detail.permissions)
        self.levels = {row.name: str(row.level) for row in detail.permissions}
        self.members = list(detail.members)
        self.rename_value = detail.name
        self.dirty = False
        self.add_username = ""
        self.form_version += 1
        self._filter_rows()

    # --- page -------------------------------------------------------------------------------

    @rx.event
    async def load(self):
        staff, redirect = await self._open_page()
        if staff is None:
            return redirect
        await self._read_lists()
        self.loaded = True
        return None

    @rx.event
    async def run_search(self, form_data: dict[str, Any]):
        staff, refusal = await self._allowed(Level.READ)
        if staff is None:
            return refusal
        self.search = _text(form_data, "search", roles.MAX_SEARCH)
        await self._read_lists()
        return None

    @rx.event
    async def clear_search(self):
        staff, refusal = await self._allowed(Level.READ)
        if staff is None:
            return refusal
        self.search = ""
        await self._read_lists()
        return rx.set_value("role-search", "")

    @rx.event
    async def select_role(self, role_id: int):
        self._clear_messages()
        staff, refusal = await self._allowed(Level.READ)
        if staff is None:
            return refusal
        role_id = _as_id(role_id)
        if self._unsaved(role_id):
            return None
        try:
            await self._open(role_id if role_id is not None else -1)
        except NotFound as exc:
            self._forget_selection()
            self.error = exc.message
            await self._read_lists()
        return None

    # --- roles ------------------------------------------------------------------------------

    @rx.event
    async def create_role(self, form_data: dict[str, Any]):
        self._clear_messages()
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        name = _text(form_data, "name", 300)
        self.new_name = name
        if self._unsaved(None):
            self.new_name_error = self.detail_error
            return None
        try:
            role_id = await call(partial(roles.create_role, name=name, actor=self._actor(staff)))
        except DomainError as exc:
            self.new_name_error = exc.message
            return None
        self.new_name = ""
        self.search = ""
        await self._read_lists()
        await self._open(role_id)
        self.notice = f"Role {self.selected_name} created. Every permission starts at Off."
        return [rx.set_value("new-role-name", ""), rx.set_value("role-search", "")]

    @rx.event
    async def rename_role(self, form_data: dict[str, Any]):
        self._clear_messages()
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        name = _text(form_data, "name", 300)
        self.rename_value = name
        try:
            await call(partial(roles.rename_role, role_id=self.selected_id, name=name, actor=self._actor(staff)))
        except DomainError as exc:
            self.rename_error = exc.message
            return None
        await self._read_lists()
        self.selected_name = name.strip()
        self.notice = f"Role renamed to {self.selected_name}."
        return None

    @rx.event
    async def delete_role(self):
        """Ask first, saying how many staff users hold the role (the service checks again)."""
        self._clear_messages()
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        if self.locked_levels:
            self.detail_error = "The Administrator role cannot be deleted."
            return None
        holders = next((row.holders for row in self.role_rows if row.id == self.selected_id), None)
        if holders is None:
            holders = len(self.members)
        self._delete_holders = holders
        self.delete_confirm = (str(roles.RoleHeld(self.selected_name, holders)) if holders
                               else f"No staff user holds the role {self.selected_name}.")
        return None

    @rx.event
    async def confirm_delete(self):
        held = self._delete_holders
        self._clear_messages()
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        name = self.selected_name
        try:
            # Confirmed for the holders the question named; more since then asks again.
            await call(partial(roles.delete_role, role_id=self.selected_id, actor=self._actor(staff),
                       confirmed=held > 0))
        except roles.RoleHeld as exc:
            self._delete_holders = exc.holders
            self.delete_confirm = exc.message
            return None
        except DomainError as exc:
            self.detail_error = exc.message
            return None
        self._forget_selection()
        await self._read_lists()
        self.notice = f"Role {name} deleted."
        return None

    @rx.event
    def cancel_delete(self):
        self.delete_confirm = ""

    # --- levels and holders (kept here until Save) -------------------------------------------

    @rx.event
    async def set_level(self, permission: str, value: str):
        self.notice = ""
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        if permission not in self.levels or value not in LEVEL_VALUES or self.locked_levels:
            self.detail_error = "Choose Off, Read, Update or Write."
            return None
        self.detail_error = ""
        self.levels = {**self.levels, permission: value}
        self.dirty = True
        return None

    @rx.event
    async def add_member(self, form_data: dict[str, Any]):
        self.notice = ""
        self.add_error = ""
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        username = _text(form_data, "username", 100)
        self.add_username = username
        try:
            member = await call(partial(roles.find_staff, username=username))
        except DomainError as exc:
            self.add_error = exc.message
            return None
        if all(row.id != member.id for row in self.members):
            self.members = sorted([*self.members, member], key=lambda row: row.username)
            self.dirty = True
        self.add_username = ""
        return rx.set_value("add-member", "")

    @rx.event
    async def remove_member(self, user_id: int):
        self.notice = ""
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        user_id = _as_id(user_id)
        self.members = [row for row in self.members if row.id != user_id]
        self.dirty = True
        return None

    @rx.event
    async def discard(self):
        self._clear_messages()
        staff, refusal = await self._allowed(Level.READ)
        if staff is None:
            return refusal
        if self.selected_id:
            await self._open(self.selected_id)
        return None

    @rx.event
    async def save(self):
        self._clear_messages()
        staff, refusal = await self._allowed(Level.UPDATE)
        if staff is None:
            return refusal
        if not self.selected_id:
            return None
        levels: dict[str, int] = {}
        for name, value in self.levels.items():
            if value not in LEVEL_VALUES:
                self.detail_error = f"{name}: choose Off, Read, Update or Write."
                return None
            levels[name] = int(value)
        try:
            result = await call(partial(roles.save_role, role_id=self.selected_id, levels=levels,
                                member_ids=[row.id for row in self.members], actor=self._actor(staff)))
        except DomainError as exc:
            self.detail_error = exc.message
            return None
        await self._open(self.selected_id)
        await self._read_lists()
        self.notice = (f"Role {self.selected_name} saved: {result.level_changes} permission "
                       f"change(s), {result.added} staff user(s) added, {result.removed} removed.")
        return None
