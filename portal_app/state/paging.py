"""Paging mixins for staff lists.

`NewestFirstPaging`: Older/Newer pages over rows newest first, keyed on id (the audit log, the
outbox). `KeysetPaging`: Previous/Next over a sorted list fetched by keyset cursors (the
onboarding list; User Management has the same shape).
"""

from __future__ import annotations

from typing import Any

import reflex as rx


class NewestFirstPaging(rx.State, mixin=True):
    """Mixed into a state that has `rows` (each with an `id`) and `_read()`.

    `_read()` fetches the page before `_before_id` and sets `rows` and `has_older`; the
    stack of earlier `_before_id`s is what "Newer" walks back through. The using state's
    `older` and `newer` handlers name its permission (`staff_action`) and call `_older` and
    `_newer`.
    """

    has_older: bool = False
    has_newer: bool = False
    _before_stack: list[int | None] = []
    _before_id: int | None = None

    def _reset_paging(self) -> None:
        self._before_stack = []
        self._before_id = None

    async def _older(self) -> None:
        if not self.rows or not self.has_older:
            return
        self._before_stack = [*self._before_stack, self._before_id]
        self._before_id = self.rows[-1].id
        await self._read()

    async def _newer(self) -> None:
        if not self._before_stack:
            return
        *rest, previous = self._before_stack
        self._before_stack = rest
        self._before_id = previous
        await self._read()


class KeysetPaging(rx.State, mixin=True):
    """Mixed into a state that has `rows` (each with an `id`) and `_fetch(direction, cursor)`.

    `_fetch` reads the page "after" or "before" a cursor and hands it to `_show`; the cursors
    stay on the server (backend vars), only the rows and the numbers reach the page.
    """

    page_number: int = 1
    has_next: bool = False
    has_prev: bool = False
    loaded: bool = False

    _first: Any = None
    _last: Any = None
    _anchor: tuple[str, Any] = ("after", None)

    def _show(self, page, anchor: tuple[str, Any]) -> None:
        """Show `page` (rows, first/last cursors, has_next/has_prev), fetched from `anchor`."""
        self.rows = page.rows
        self._first, self._last = page.first, page.last
        self._anchor = anchor
        self.has_next, self.has_prev = page.has_next, page.has_prev
        if not self.has_prev:
            self.page_number = 1
        self.loaded = True

    def _replace_row(self, row) -> None:
        """Swap one row in place: the page keeps its order and its other rows."""
        self.rows = [row if existing.id == row.id else existing for existing in self.rows]

    def _row(self, row_id: int):
        return next((row for row in self.rows if row.id == row_id), None)

    async def _fetch_first(self) -> None:
        self.page_number = 1
        await self._fetch()

    async def _next_page(self) -> None:
        if not self.has_next or self._last is None:
            return
        await self._fetch("after", self._last)
        self.page_number += 1

    async def _prev_page(self) -> None:
        if not self.has_prev or self._first is None:
            return
        self.page_number = max(1, self.page_number - 1)
        await self._fetch("before", self._first)

    async def _refresh_in_place(self) -> None:
        """Re-read the page the user is looking at (after other work changed its rows)."""
        direction, cursor = self._anchor
        page_number = self.page_number
        await self._fetch(direction, cursor)
        if self.has_prev:
            self.page_number = page_number
