"""What the two Roles Setup pages (Roles, Staff users) share: Read on Roles Setup views,
Update or Write changes, and how a refusal is shown on either page."""

from __future__ import annotations

from typing import ClassVar

import reflex as rx

from portal_app import routes
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff

NO_PERMISSION = "You do not have permission to open Roles setup."
NO_CHANGE = "You can view roles; changing them needs Update or Write on Roles Setup."


class SetupGuard(rx.State, mixin=True):
    """Mixed into RolesState and StaffUsersState; their handlers are `staff_action(Permission.ROLES, ...)`.

    The using state defines `_clear_messages`, `_forget` and may set its two refusal texts.
    """

    loaded: bool = False
    can_edit: bool = False
    error: str = ""
    notice: str = ""
    search: str = ""

    _no_permission: ClassVar[str] = NO_PERMISSION
    _no_change: ClassVar[str] = NO_CHANGE

    # ---- refusals (state/actions.py calls these) ------------------------------

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return self._no_permission if level <= Level.READ else self._no_change

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        """Signed out goes to sign-in; a reader refused a change keeps the page; else it is forgotten."""
        self._clear_messages()
        if not signed_in:
            return rx.redirect(routes.STAFF_LOGIN)
        if level > Level.READ and self.staff_levels.get(Permission.ROLES.value, 0) >= Level.READ:
            self.can_edit = False
            self.error = message
            return None
        self._forget()
        self.error = self._no_permission
        return None

    def _fresh_page(self) -> None:
        self._clear_messages()
        self._forget()
        self.search = ""

    def _load_refused(self, *, signed_in: bool) -> None:
        """The page is forgotten; a signed-in user who may not open it reads why."""
        self._fresh_page()
        if signed_in:
            self.error = self._no_permission

    def _open_page(self, staff: Staff) -> None:
        """on_load's first step once allowed (`staff_page_load(Permission.ROLES)`): a fresh page."""
        self._fresh_page()
        self.can_edit = staff.principal.can(Permission.ROLES, Level.UPDATE)
