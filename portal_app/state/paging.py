"""Older/Newer pages over rows newest first, keyed on id (the audit log, the outbox)."""

from __future__ import annotations

import reflex as rx


class NewestFirstPaging(rx.State, mixin=True):
    """Mixed into a state that has `rows` (each with an `id`), `_allowed()` and `_read()`.

    `_read()` fetches the page before `_before_id` and sets `rows` and `has_older`; the
    stack of earlier `_before_id`s is what "Newer" walks back through.
    """

    has_older: bool = False
    has_newer: bool = False
    _before_stack: list[int | None] = []
    _before_id: int | None = None

    def _reset_paging(self) -> None:
        self._before_stack = []
        self._before_id = None

    @rx.event
    async def older(self):
        staff, refusal = await self._allowed()
        if staff is None:
            return refusal
        if not self.rows or not self.has_older:
            return None
        self._before_stack = [*self._before_stack, self._before_id]
        self._before_id = self.rows[-1].id
        await self._read()
        return None

    @rx.event
    async def newer(self):
        staff, refusal = await self._allowed()
        if staff is None:
            return refusal
        if not self._before_stack:
            return None
        *rest, previous = self._before_stack
        self._before_stack = rest
        self._before_id = previous
        await self._read()
        return None
