"""The onboarding list: search, filter, paging, the status rectangles and the email link.

A mixin of `OnboardingState` (state/onboarding.py). Only the visible page (50 rows) lives in
state; the keyset cursors that fetch the next and previous pages stay on the server. The list
counts what matches up to `onboarding.COUNT_CAP` rows, so every search, page and jump is bounded
work however many patients there are; past the cap it says "more than", and a jump to a letter
past it says where the page starts only as "after the first 2,000" until Previous comes back.
"""

from __future__ import annotations

from functools import partial

import reflex as rx

from portal_app.services import invitations, onboarding
from portal_app.services.onboarding import Cursor, PatientRow, StatusFilter
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_action
from portal_app.state.base import call
from portal_app.state.focus import focus_later
from portal_app.state.paging import KeysetPaging

NO_ACCESS = "You do not have permission to change portal access. Sign in again or ask an administrator."
NOT_ON_PAGE = "That patient is not on this page any more. Search again."
STATUS_OPTIONS: list[tuple[str, str]] = [(key.value, label) for key, label in onboarding.STATUS_LABELS.items()]
MAX_SEARCH = 200
LETTERS = [chr(code) for code in range(ord("A"), ord("Z") + 1)]
JUMP_PAGE_ID = "onboarding-jump-page"
# Rows changed by clicks that are sent on their own before the page is sent again whole.
CHANGED_ROWS_MAX = 10
JUMP_LETTER_ID = "onboarding-jump-letter"


def access_button_id(patient_id) -> str:
    """The DOM id of a row's status rectangle (the page and the state agree on it)."""
    return f"access-{patient_id}"


def status_of(value: str) -> StatusFilter:
    """Never trust a filter value from the browser: unknown means "all"."""
    try:
        return StatusFilter(value)
    except ValueError:
        return StatusFilter.ALL


class OnboardingList(KeysetPaging, mixin=True):
    """The rows of /staff/onboarding and what one row's controls do.

    `rows` is the page as fetched, sent once per page. A row changed by a click goes to
    `changed_rows` (keyed by its id as text), which the page reads first: Reflex sends a var
    whole whenever it changes, so a click answers with its one row (about 200 bytes), not the
    page of 50, and the rows it did not touch are not drawn again. A page with many changes
    folds them into `rows` (one full send) so the overlay stays small.
    """

    rows: list[PatientRow] = []
    changed_rows: dict[str, PatientRow] = {}
    search: str = ""
    status: str = StatusFilter.ALL.value
    allowed: bool = False

    # How many patients match, counted up to `onboarding.COUNT_CAP`: past it `total` is the cap
    # and `total_capped` is set ("more than 2,000"). `first_row` is the list position (1-based) of
    # the first row shown; 0 when it was not counted (a jump to a letter past the cap).
    total: int = 0
    total_capped: bool = False
    first_row: int = 1
    jump_error: str = ""

    # The disable confirmation ("Disable portal access for NAME?").
    confirm_id: int = 0
    confirm_name: str = ""

    # Backend only: where focus goes after the dialog.
    _focus_after_dialog: str = ""

    async def _fetch(self, direction: str = "after", cursor: Cursor | None = None) -> None:
        kwargs = {"after": cursor} if direction == "after" else {"before": cursor}
        page = await call(partial(onboarding.list_page, search=self.search, status=status_of(self.status),
                          **kwargs))
        self._show(page, (direction, cursor))

    def _set_total(self, counted: int) -> None:
        """A count up to the cap + 1: above the cap, "more than" the cap match."""
        self.total, self.total_capped = min(counted, onboarding.COUNT_CAP), counted > onboarding.COUNT_CAP

    def _row_after(self, before: int) -> int | None:
        """The row number after `before` counted rows (None: more than the cap, not counted)."""
        return before + 1 if before <= onboarding.COUNT_CAP else None

    async def _count(self) -> None:
        self._set_total(await call(partial(onboarding.count_matching, search=self.search,
                                           status=status_of(self.status), cap=onboarding.COUNT_CAP)))

    def _at_row(self, first_row: int | None) -> None:
        """The page shown starts at `first_row` (None: not counted): number the page from it."""
        if not self.has_prev:
            first_row = 1
        self.first_row = 0 if first_row is None else max(1, first_row)
        if self.first_row:
            self.page_number = (self.first_row - 1) // onboarding.PAGE_SIZE + 1

    async def _locate(self) -> None:
        """Where the page shown starts, when it was not counted: the rows before it, up to the cap
        (so it is known again once Previous comes within the cap of the start)."""
        if not self.has_prev or self._first is None:
            self._at_row(1)
            return
        before = await call(partial(onboarding.count_before, search=self.search, status=status_of(self.status),
                                    cursor=self._first, cap=onboarding.COUNT_CAP))
        self._at_row(self._row_after(before))

    async def _start_over(self) -> None:
        """A new search or filter: its first page, and how many match (up to the cap)."""
        self.jump_error = ""
        found = await call(partial(onboarding.first_page, search=self.search, status=status_of(self.status),
                                   cap=onboarding.COUNT_CAP))
        self.page_number = 1
        self._show(found.page, ("after", None))
        self._set_total(found.count)
        self._at_row(1)

    async def _refresh_in_place(self) -> None:
        first_row = self.first_row
        await super()._refresh_in_place()
        await self._count()
        if first_row:
            self._at_row(first_row)
        else:
            await self._locate()

    def _pages(self) -> int:
        """How many pages "Go to page" offers: all of them, or (more match) the cap's."""
        return max(1, -(-self.total // onboarding.PAGE_SIZE))

    def _known_total(self) -> int | None:
        """How many match, when known: counted under the cap, or seen on reaching the last page."""
        if not self.total_capped:
            return self.total
        if self.first_row and not self.has_next:
            return self.first_row + len(self.rows) - 1
        return None

    @rx.var
    def showing_text(self) -> str:
        """"Showing 51-100 of 120 patients", "Showing 1-50 of more than 2,000 patients", "Showing
        50 patients after the first 2,000" (where the page starts was not counted), or "No patients"."""
        if not self.rows:
            return "No patients"
        shown = len(self.rows)
        if not self.first_row:
            noun = "patient" if shown == 1 else "patients"
            return f"Showing {shown:,} {noun} after the first {onboarding.COUNT_CAP:,}"
        last = self.first_row + shown - 1
        total = self._known_total()
        if total is None:
            return f"Showing {self.first_row:,}\u2013{last:,} of more than {max(self.total, last):,} patients"
        noun = "patient" if total == 1 else "patients"
        return f"Showing {self.first_row:,}\u2013{last:,} of {total:,} {noun}"

    @rx.var
    def page_text(self) -> str:
        """"Page 2 of 3", "Page 2 of more than 40", or "Beyond page 40" (not counted)."""
        size = onboarding.PAGE_SIZE
        if not self.first_row:
            return f"Beyond page {onboarding.COUNT_CAP // size:,}"
        total = self._known_total()
        if total is None:
            last = self.first_row + len(self.rows) - 1
            return f"Page {self.page_number:,} of more than {max(self.total, last) // size:,}"
        return f"Page {self.page_number:,} of {max(1, -(-total // size)):,}"

    async def _open_row(self, row: int) -> None:
        """Show the page that starts at 0-based `row` of the matching patients."""
        cursor = await call(partial(onboarding.cursor_before_row, search=self.search,
                                    status=status_of(self.status), row=row))
        if cursor is None:
            await self._fetch_first()
            self._at_row(1)
        else:
            await self._fetch("after", cursor)
            self._at_row(row + 1)

    # ---- the page's rows: what was fetched, and what changed since ----------------

    def _show(self, page, anchor) -> None:
        super()._show(page, anchor)
        self.changed_rows = {}

    def _shown_rows(self) -> list[PatientRow]:
        """The page as the browser shows it: each fetched row, or its change since."""
        return [self.changed_rows.get(str(row.id), row) for row in self.rows]

    def _row(self, row_id: int) -> PatientRow | None:
        changed = self.changed_rows.get(str(row_id))
        return changed if changed is not None else super()._row(row_id)

    def _replace_row(self, row: PatientRow) -> None:
        if super()._row(row.id) is None:
            return
        changed = {**self.changed_rows, str(row.id): row}
        if len(changed) > CHANGED_ROWS_MAX:
            self.rows = [changed.get(str(existing.id), existing) for existing in self.rows]
            changed = {}
        self.changed_rows = changed

    def _close_confirm(self) -> None:
        self.confirm_id, self.confirm_name = 0, ""

    # ---- search, filter, paging -------------------------------------------------

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def set_search(self, staff: Staff, value: str):
        """The search box (debounced in the browser)."""
        self.search = value[:MAX_SEARCH]
        await self._start_over()

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def set_status(self, staff: Staff, value: str):
        self.status = status_of(value).value
        await self._start_over()

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def next_page(self, staff: Staff):
        shown, first_row = len(self.rows), self.first_row
        if self.has_next:
            await self._next_page()
            self._at_row(first_row + shown if first_row else None)

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def prev_page(self, staff: Staff):
        first_row = self.first_row
        if self.has_prev:
            await self._prev_page()
            if first_row:
                self._at_row(first_row - len(self.rows))
            else:
                await self._locate()

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def go_to_page(self, staff: Staff, form_data: dict):
        """"Go to page": the number typed, checked against how many pages there are (past the
        cap, the cap's pages: a jump beyond it would skip rows uncounted)."""
        text = str(form_data.get("page", "")).strip()
        number = int(text) if text.isascii() and text.isdigit() and len(text) < 10 else 0
        if not 1 <= number <= self._pages():
            self.jump_error = f"Enter a page number from 1 to {self._pages():,}."
            if self.total_capped:
                self.jump_error = (f"Enter a page number from 1 to {self._pages():,} (the first {self.total:,} "
                                   "patients). To find others, search or jump to a letter.")
            return None
        self.jump_error = ""
        await self._open_row((number - 1) * onboarding.PAGE_SIZE)
        return None

    @staff_action(Permission.PORTAL_ADMIN, Level.READ)
    async def go_to_letter(self, staff: Staff, form_data: dict):
        """"Last names from": the first patient whose last name starts at that letter or later
        (a keyset seek; its row number is a range count on the same index, up to the cap)."""
        letter = str(form_data.get("letter", ""))[:1].upper()
        if letter not in LETTERS:
            self.jump_error = "Choose a letter from A to Z."
            return None
        self.jump_error = ""
        cursor = onboarding.letter_cursor(letter)
        found = await call(partial(onboarding.page_from, search=self.search, status=status_of(self.status),
                                   cursor=cursor, cap=onboarding.COUNT_CAP))
        before = found.count
        if not self.total_capped and before >= self.total:  # nobody from that letter on: the last page
            await self._open_row((self._pages() - 1) * onboarding.PAGE_SIZE)
        elif before == 0:
            await self._open_row(0)
        else:
            self._show(found.page, ("after", cursor))
            row = self._row_after(before)
            if not self.rows:  # nobody from that letter on, and more than the cap before it: the end
                await self._fetch("before", onboarding.END)
                row = None if row is None else row - len(self.rows)
            self._at_row(row)
        return None

    # ---- one patient ----------------------------------------------------------

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE)
    async def toggle_access(self, staff: Staff, patient_id: int):
        """The status rectangle: red enables at once, green asks before disabling.

        Which one it is comes from the server's copy of the row, not from the browser.
        """
        row = self._row(patient_id)
        if row is None:
            return rx.toast.error(NOT_ON_PAGE)
        if row.enabled:
            self.confirm_id, self.confirm_name = row.id, row.name
            self._focus_after_dialog = access_button_id(row.id)
            return None
        updated = await call(partial(onboarding.enable_access, patient_id=row.id, actor=staff.actor))
        self._replace_row(updated)
        return rx.toast.success(f"Portal access enabled for {updated.name}.")

    @rx.event
    def set_confirm_open(self, is_open: bool):
        """The dialog closed (Cancel, Escape, or after "Disable access"): nothing to guard."""
        if not is_open:
            self._close_confirm()
            if self._focus_after_dialog:
                return focus_later(self._focus_after_dialog)
        return None

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE)
    async def confirm_disable(self, staff: Staff):
        """Disable the patient named in the dialog: ends their portal sessions, voids links."""
        patient_id = self.confirm_id
        self._close_confirm()
        if not patient_id:
            return None
        updated = await call(partial(onboarding.disable_access, patient_id=patient_id, actor=staff.actor))
        self._replace_row(updated)
        return rx.toast.success(f"Portal access disabled for {updated.name}.")

    @staff_action(Permission.PORTAL_ADMIN, Level.UPDATE)
    async def send_email(self, staff: Staff, patient_id: int):
        """The email link: an invitation (no account) or a password reset (account exists).

        A second click within a minute re-uses the link just sent (the service decides),
        so a double click sends one message.
        """
        result = await call(partial(invitations.send_invitation_or_reset, patient_id=patient_id,
                            actor=staff.actor))
        if self._row(patient_id) is not None:
            # An invitation moves the account state to "Invited": show it.
            self._replace_row(await call(partial(onboarding.patient_row, patient_id=patient_id)))
        if result.status == "failed":
            return rx.toast.error(result.message)
        return rx.toast.success(result.message)
