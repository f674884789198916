"""Older/Newer pages over rows newest first, keyed on id (the audit log, the outbox)."""

from __future__ import annotations

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
