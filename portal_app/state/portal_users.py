"""/staff/portal-users: every portal account, with disable, enable, force a password change,
send a reset link and unlock.

Only the visible page (50 rows) lives in state; the keyset cursors stay on the server. Every
handler checks the session and the permission itself: Read may look, Update or Write may act.
An action is asked for (one confirmation dialog for the page) and then confirmed; the account
it acts on is the one the server put in the dialog, taken from the server's copy of the page.
"""

from __future__ import annotations

from functools import partial

import reflex as rx

from portal_app.services import portal_users
from portal_app.services.errors import DomainError
from portal_app.services.permissions import Level, Permission
from portal_app.services.portal_users import AccountFilter, AccountRow, ActionResult
from portal_app.state.actions import Staff, staff_action, staff_page_load
from portal_app.state.base import StaffSessionState, call
from portal_app.state.focus import focus_later
from portal_app.state.paging import KeysetPaging

NO_ACCESS = "You do not have permission to change portal accounts. Sign in again or ask an administrator."
NO_VIEW = "You do not have permission to view portal accounts. Sign in again or ask an administrator."
NOT_ON_PAGE = "That account is not on this page any more. Search again."
NO_PASSWORD_YET = ("The account can be used again, but it has no password yet: after enabling it, "
                   "send a reset link so its owner can choose one.")
FILTER_OPTIONS: list[tuple[str, str]] = [(key.value, label) for key, label in portal_users.FILTER_LABELS.items()]
MAX_SEARCH = 200

# action -> (service, dialog title start, dialog text, confirm button)
ACTIONS: dict[str, tuple] = {
    "disable": (portal_users.disable, "Disable",
                "The account can no longer sign in. It is signed out everywhere at once, and "
                "invitation or reset links already sent to it stop working.",
                "Disable account"),
    "enable": (portal_users.enable, "Enable",
               "The account can sign in again with its current password.", "Enable account"),
    "force_change": (portal_users.force_password_change, "Require a new password for",
                     "At the next sign-in, and on the next page if it is signed in now, the user "
                     "must choose a new password before going on.",
                     "Require password change"),
    "reset_link": (portal_users.send_reset_link, "Send a password-reset link to",
                   "A link to choose a new password goes to the account's user ID: by email, or "
                   "by text message for a phone number. It works once and expires.",
                   "Send reset link"),
    "unlock": (portal_users.unlock, "Unlock",
               "The lockout after too many wrong passwords ends now, and the count of wrong tries "
               "starts again.",
               "Unlock account"),
}


def action_button_id(action: str, account_id) -> str:
    """The DOM id of a row's action button (the page and the state agree on it)."""
    # Disable and Enable are one button that changes: focus finds it after either.
    kind = "toggle" if action in ("disable", "enable") else action
    return f"{kind}-{account_id}"


def row_header_id(account_id) -> str:
    return f"account-{account_id}"


class PortalUsersState(KeysetPaging, StaffSessionState):
    """State of /staff/portal-users."""

    rows: list[AccountRow] = []
    search: str = ""
    status: str = AccountFilter.ALL.value
    allowed: bool = False
    notice: str = ""
    error: str = ""

    # The confirmation: which action, on which account (its user ID for the title).
    confirm_action: str = ""
    confirm_id: int = 0
    confirm_user_id: str = ""

    # Backend only: where focus goes when the dialog closes.
    _focus_after_dialog: tuple[str, ...] = ()

    # ---- refusals (state/actions.py calls these) ------------------------------

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return NO_VIEW if level <= Level.READ else NO_ACCESS

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        if level <= Level.READ:
            self.rows = []
            return rx.toast.error(message)
        self.error = message
        return None

    def _forget(self) -> None:
        self.rows = []
        self.confirm_action, self.confirm_id, self.confirm_user_id = "", 0, ""

    @rx.var
    def can_act(self) -> bool:
        """Update or Write: the action buttons work (the handlers check again)."""
        return self.staff_levels.get(Permission.USER_MANAGEMENT.value, 0) >= Level.UPDATE

    @rx.var
    def confirm_title(self) -> str:
        spec = ACTIONS.get(self.confirm_action)
        return f"{spec[1]} {self.confirm_user_id}?" if spec else ""

    @rx.var
    def confirm_text(self) -> str:
        spec = ACTIONS.get(self.confirm_action)
        if not spec:
            return ""
        row = self._row(self.confirm_id)
        if self.confirm_action == "enable" and row is not None and not row.has_password:
            return NO_PASSWORD_YET
        return spec[2]

    @rx.var
    def confirm_button(self) -> str:
        spec = ACTIONS.get(self.confirm_action)
        return spec[3] if spec else ""

    @rx.var
    def confirm_danger(self) -> bool:
        return self.confirm_action == "disable"

    # ---- the list -----------------------------------------------------------

    async def _fetch(self, direction: str = "after", cursor: str | None = None) -> None:
        kwargs = {"after": cursor} if direction == "after" else {"before": cursor}
        page = await call(partial(portal_users.list_page, search=self.search,
                          status=portal_users.parse_filter(self.status), **kwargs))
        self._show(page, (direction, cursor))

    def _clear_messages(self) -> None:
        self.notice, self.error = "", ""

    def _failed(self, error: DomainError):
        self.error = error.message

    def _load_refused(self, *, signed_in: bool) -> None:
        self._clear_messages()
        self._forget()
        self.allowed, self.loaded = False, True

    @staff_page_load(Permission.USER_MANAGEMENT, Level.READ)
    async def load_page(self, staff: Staff):
        """on_load: show the first page."""
        self._clear_messages()
        self.confirm_action, self.confirm_id, self.confirm_user_id = "", 0, ""
        self.allowed = True
        await self._fetch_first()
        return None

    async def _reload(self) -> None:
        self._clear_messages()
        await self._fetch_first()

    @staff_action(Permission.USER_MANAGEMENT, Level.READ)
    async def set_search(self, staff: Staff, value: str):
        """The search box (debounced in the browser)."""
        self.search = value[:MAX_SEARCH]
        await self._reload()

    @staff_action(Permission.USER_MANAGEMENT, Level.READ)
    async def set_status(self, staff: Staff, value: str):
        """The filter; anything unknown from the browser means "all"."""
        self.status = portal_users.parse_filter(value).value
        await self._reload()

    @staff_action(Permission.USER_MANAGEMENT, Level.READ)
    async def next_page(self, staff: Staff):
        if self.has_next:  # a message stays until the page really changes
            self._clear_messages()
        await self._next_page()

    @staff_action(Permission.USER_MANAGEMENT, Level.READ)
    async def prev_page(self, staff: Staff):
        if self.has_prev:
            self._clear_messages()
        await self._prev_page()

    # ---- actions -------------------------------------------------------------

    @staff_action(Permission.USER_MANAGEMENT, Level.UPDATE)
    async def ask(self, staff: Staff, action: str, account_id: int):
        """A row's action button: open the confirmation for that account."""
        self._clear_messages()
        row = self._row(account_id)
        if action not in ACTIONS or row is None:
            self.error = NOT_ON_PAGE
            return None
        self.confirm_action, self.confirm_id, self.confirm_user_id = action, row.id, row.user_id
        self._focus_after_dialog = (action_button_id(action, row.id), row_header_id(row.id))
        return None

    @rx.event
    def set_confirm_open(self, is_open: bool):
        """The dialog closed (Cancel, Escape, or after the confirm button)."""
        if not is_open:
            self.confirm_action, self.confirm_id, self.confirm_user_id = "", 0, ""
            if self._focus_after_dialog:
                return focus_later(*self._focus_after_dialog)
        return None

    @staff_action(Permission.USER_MANAGEMENT, Level.UPDATE)
    async def confirm(self, staff: Staff):
        """The dialog's confirm button: do what it named, to the account it named."""
        action, account_id = self.confirm_action, self.confirm_id
        self.confirm_action, self.confirm_id, self.confirm_user_id = "", 0, ""
        self._clear_messages()
        if action not in ACTIONS or not account_id:
            return None
        service = ACTIONS[action][0]
        result: ActionResult = await call(partial(service, account_id=account_id, actor=staff.actor))
        self._replace_row(result.row)
        if result.ok:
            self.notice = result.message
        else:
            self.error = result.message
        return None
