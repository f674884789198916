"""Roles setup (`/staff/setup/roles`): Read on Roles Setup views, Update or Write changes.

Level and holder edits stay in this state until "Save", which sends them in one call (one
transaction in the service). Every handler checks the permission itself (`staff_action`).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import reflex as rx

from portal_app.services import roles
from portal_app.services.errors import DomainError, NotFound
from portal_app.services.permissions import Level, Permission
from portal_app.services.roles import MemberRow, PermissionInfo, PermissionRow, RoleRow
from portal_app.state.actions import Staff, staff_action, staff_page_load
from portal_app.state.base import StaffSessionState, call
from portal_app.state.inputs import form_text
from portal_app.state.setup_guard import NO_CHANGE, NO_PERMISSION, SetupGuard

__all__ = ["NO_CHANGE", "NO_PERMISSION", "RolesState"]

LEVEL_VALUES = ("0", "1", "2", "3")


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

    def _failed(self, error: DomainError):
        """A service refused a change of the open role: said beside Save."""
        self.detail_error = error.message

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

    @staff_page_load(Permission.ROLES)
    async def load(self, staff: Staff):
        self._open_page(staff)
        await self._read_lists()
        self.loaded = True
        return None

    @staff_action(Permission.ROLES, Level.READ)
    async def run_search(self, staff: Staff, form_data: dict[str, Any]):
        self.search = form_text(form_data, "search", roles.MAX_SEARCH)
        await self._read_lists()

    @staff_action(Permission.ROLES, Level.READ)
    async def clear_search(self, staff: Staff):
        self.search = ""
        await self._read_lists()
        return rx.set_value("role-search", "")

    @staff_action(Permission.ROLES, Level.READ)
    async def select_role(self, staff: Staff, role_id: int):
        self._clear_messages()
        if self._unsaved(role_id):
            return
        try:
            await self._open(role_id)
        except NotFound as exc:
            self._forget_selection()
            self.error = exc.message
            await self._read_lists()

    # --- roles ------------------------------------------------------------------------------

    @staff_action(Permission.ROLES, Level.UPDATE)
    async def create_role(self, staff: Staff, form_data: dict[str, Any]):
        self._clear_messages()
        name = form_text(form_data, "name", 300)
        self.new_name = name
        if self._unsaved(None):
            self.new_name_error = self.detail_error
            return None
        try:
            role_id = await call(partial(roles.create_role, name=name, actor=staff.actor))
        except DomainError as exc:
            self.new_name_error = exc.message
            return None
        self.new_name = ""
        self.search = ""
        await self._read_lists()
        await self._open(role_id)
        self.notice = f"Role {self.selected_name} created. Every permission starts at Off."
        return [rx.set_value("new-role-name", ""), rx.set_value("role-search", "")]

    @staff_action(Permission.ROLES, Level.UPDATE)
    async def rename_role(self, staff: Staff, form_data: dict[str, Any]):
        self._clear_messages()
        name = form_text(form_data, "name", 300)
        self.rename_value = name
        try:
            await call(partial(roles.rename_role, role_id=self.selected_id, name=name, actor=staff.actor))
        except DomainError as exc:
            self.rename_error = exc.message
            return
        await self._read_lists()
        self.selected_name = name.strip()
        self.notice = f"Role renamed to {self.selected_name}."

    @staff_action(Permission.ROLES, Level.UPDATE)
    async def delete_role(self, staff: Staff):
        """Ask first, saying how many staff users hold the role (the service checks again)."""
        self._clear_messages()
        if self.locked_levels:
            self.detail_error = "The Administrator role cannot be deleted."
            return
        holders = next((row.holders for row in self.role_rows if row.id == self.selected_id), None)
        if holders is None:
            holders = len(self.members)
        self._delete_holders = holders
        self.delete_confirm = (str(roles.RoleHeld(self.selected_name, holders)) if holders
                               else f"No staff user holds the role {self.selected_name}.")

    @staff_action(Permission.ROLES, Level.UPDATE)
    async def confirm_delete(self, staff: Staff):
        held = self._delete_holders
        self._clear_messages()
        name = self.selected_name
        try:
            # Confirmed for the holders the question named; more since then asks again.
            await call(partial(roles.delete_role, role_id=self.selected_id, actor=staff.actor,
                       confirmed=held > 0))
        except roles.RoleHeld as exc:
            self._delete_holders = exc.holders
            self.delete_confirm = exc.message
            return
        self._forget_selection()
        await self._read_lists()
        self.notice = f"Role {name} deleted."

    @rx.event
    def cancel_delete(self):
        """Closes the question (nothing to guard)."""
        self.delete_confirm = ""

    # --- levels and holders (kept here until Save) -------------------------------------------

    @staff_action(Permission.ROLES, Level.UPDATE)
    async def set_level(self, staff: Staff, permission: str, value: str):
        self.notice = ""
        if permission not in self.levels or value not in LEVEL_VALUES or self.locked_levels:
            self.detail_error = "Choose Off, Read, Update or Write."
            return
        self.detail_error = ""
        self.levels = {**self.levels, permission: value}
        self.dirty = True

    @staff_action(Permission.ROLES, Level.UPDATE)
    async def add_member(self, staff: Staff, form_data: dict[str, Any]):
        self.notice = ""
        self.add_error = ""
        username = form_text(form_data, "username", 100)
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

    @staff_action(Permission.ROLES, Level.UPDATE)
    async def remove_member(self, staff: Staff, user_id: int):
        self.notice = ""
        self.members = [row for row in self.members if row.id != user_id]
        self.dirty = True

    @staff_action(Permission.ROLES, Level.READ)
    async def discard(self, staff: Staff):
        self._clear_messages()
        if self.selected_id:
            await self._open(self.selected_id)

    @staff_action(Permission.ROLES, Level.UPDATE)
    async def save(self, staff: Staff):
        self._clear_messages()
        if not self.selected_id:
            return
        levels: dict[str, int] = {}
        for name, value in self.levels.items():
            if value not in LEVEL_VALUES:
                self.detail_error = f"{name}: choose Off, Read, Update or Write."
                return
            levels[name] = int(value)
        result = await call(partial(roles.save_role, role_id=self.selected_id, levels=levels,
                            member_ids=[row.id for row in self.members], actor=staff.actor))
        await self._open(self.selected_id)
        await self._read_lists()
        self.notice = (f"Role {self.selected_name} saved: {result.level_changes} permission "
                       f"change(s), {result.added} staff user(s) added, {result.removed} removed.")
