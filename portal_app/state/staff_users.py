"""Staff users (`/staff/setup/users`): Read on Roles Setup views, Update or Write changes.

A generated temporary password is shown once, right after create or reset, and forgotten on
the next event of this page.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import reflex as rx

from portal_app.services import roles, second_factor, staff_users
from portal_app.services.errors import DomainError, FormInvalid
from portal_app.services.permissions import Level, Permission
from portal_app.services.roles import RoleRow
from portal_app.services.staff_users import StaffRow
from portal_app.state.actions import Staff, staff_action, staff_page_load
from portal_app.state.base import StaffSessionState, call
from portal_app.state.inputs import as_bool, form_text
from portal_app.state.setup_guard import SetupGuard

NO_PERMISSION = "You do not have permission to manage staff users."
NO_CHANGE = "You can view staff users; changing them needs Update or Write on Roles Setup."


class StaffUsersState(SetupGuard, StaffSessionState):
    _no_permission: ClassVar[str] = NO_PERMISSION
    _no_change: ClassVar[str] = NO_CHANGE

    rows: list[StaffRow] = []
    page: int = 1
    pages: int = 1
    total: int = 0

    role_options: list[RoleRow] = []
    new_username: str = ""
    new_full_name: str = ""
    new_role_ids: list[str] = []
    errors: dict[str, str] = {}
    form_version: int = 0

    # Shown once, then cleared by the next event.
    temp_password: str = ""
    temp_for: str = ""

    def _clear_messages(self) -> None:
        self.error = self.notice = ""
        self.errors = {}
        self.temp_password = self.temp_for = ""

    def _forget(self) -> None:
        self.loaded = False
        self.rows = []
        self.role_options = []
        self.total = 0
        self.page = self.pages = 1

    def _failed(self, error: DomainError):
        self.error = error.message

    async def _read(self) -> None:
        result = await call(partial(staff_users.list_staff, search=self.search, page=self.page))
        self.rows = result.rows
        self.page, self.pages, self.total = result.page, result.pages, result.total

    @staff_page_load(Permission.ROLES)
    async def load(self, staff: Staff):
        self._open_page(staff)
        self.role_options = await call(partial(roles.list_roles))
        await self._read()
        self.loaded = True
        return None

    @staff_action(Permission.ROLES, Level.READ)
    async def run_search(self, staff: Staff, form_data: dict[str, Any]):
        self._clear_messages()
        self.search = form_text(form_data, "search", 100)
        self.page = 1
        await self._read()

    @staff_action(Permission.ROLES, Level.READ)
    async def go_page(self, staff: Staff, page: int):
        self._clear_messages()
        self.page = page or 1
        await self._read()

    def _chosen_roles(self, form_data: dict[str, Any]) -> list[str]:
        """The ids (as text) of the ticked "role-ID" boxes that name a role this page offers."""
        known = {str(role.id) for role in self.role_options}
        chosen = [key[len("role-"):] for key, value in form_data.items()
                  if isinstance(key, str) and key.startswith("role-") and as_bool(value)]
        return [value for value in chosen if value in known]

    @staff_action(Permission.ROLES, Level.UPDATE)
    async def create(self, staff: Staff, form_data: dict[str, Any]):
        self._clear_messages()
        self.new_username = form_text(form_data, "username", 200)
        self.new_full_name = form_text(form_data, "full_name", 300)
        self.new_role_ids = self._chosen_roles(form_data)
        try:
            created = await call(partial(staff_users.create_staff_user, username=self.new_username,
                                 full_name=self.new_full_name,
                                 role_ids=[int(value) for value in self.new_role_ids], actor=staff.actor),
                                 hashing=True)
        except FormInvalid as exc:
            self.errors = dict(exc.errors)
            self.error = "The new staff user needs attention; nothing was saved."
            return
        self.temp_password = created.password
        self.temp_for = created.username
        self.notice = (f"Staff user {created.username} created. Give them the temporary password "
                       f"below; they must choose their own at first sign-in.")
        self.new_username = self.new_full_name = ""
        self.new_role_ids = []
        self.form_version += 1
        await self._read()

    async def _act(self, staff: Staff, user_id: int, service, done: str, **kwargs):
        """Run `service` on a staff user of this page; its result, or None with the page told why."""
        self._clear_messages()
        username = next((row.username for row in self.rows if row.id == user_id), "")
        if not username:
            self.error = "That staff user is not on this page any more."
            return None
        try:
            result = await call(partial(service, staff_user_id=user_id, actor=staff.actor, **kwargs))
        except DomainError as exc:
            # Unlike the `_failed` hook, the list is re-read: the row may have changed meanwhile.
            self.error = exc.message
            await self._read()
            return None
        self.notice = done.format(username=username)
        await self._read()
        return result

    @staff_action(Permission.ROLES, Level.UPDATE)
    async def deactivate(self, staff: Staff, user_id: int):
        await self._act(staff, user_id, staff_users.set_active,
                        "{username} deactivated; their sessions have ended.", active=False)

    @staff_action(Permission.ROLES, Level.UPDATE)
    async def reactivate(self, staff: Staff, user_id: int):
        await self._act(staff, user_id, staff_users.set_active, "{username} can sign in again.", active=True)

    @staff_action(Permission.ROLES, Level.UPDATE)
    async def unlock(self, staff: Staff, user_id: int):
        await self._act(staff, user_id, staff_users.unlock, "{username} unlocked.")

    @staff_action(Permission.ROLES, Level.UPDATE)
    async def reset_password(self, staff: Staff, user_id: int):
        result = await self._act(
            staff, user_id, staff_users.reset_password, "New temporary password for {username}; their sessions "
                                                        "have ended and they must choose their own at next sign-in.")
        if result is not None:
            self.temp_password = result.password
            self.temp_for = result.username

    @staff_action(Permission.ROLES, Level.UPDATE)
    async def reset_two_step(self, staff: Staff, user_id: int):
        await self._act(staff, user_id, second_factor.reset_staff,
                        "Two-step verification reset for {username}: their sessions have ended, and they set "
                        "up an authenticator app again at next sign-in.")

    @rx.event
    def forget_password(self):
        """Hides the temporary password (nothing to guard)."""
        self.temp_password = self.temp_for = ""
