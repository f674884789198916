"""Numbered pages over one list of the open portal chart (Messages, Appointments).

The list is read on the server one page at a time. Each state writes its Next/Previous
handlers with `portal_action(its area)`, its on_load with `portal_page_load(its area)`, and turns the page with `_turn`.
"""

from __future__ import annotations

import reflex as rx

from portal_app.services.permissions import Level
from portal_app.state.actions import Patient


class PortalListPaging(rx.State, mixin=True):
    """Mixed into a PortalSessionState page state that has `rows` and defines
    `_fetch(patient_id)`: awaits the list service for `self.page`, returning an object with
    rows, page, pages and total; and `_forget()`, what a refused handler clears.
    """

    page: int = 1
    pages: int = 1
    total: int = 0

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        """Any refusal (no session, or the area taken away) forgets the list and says why."""
        self._forget()
        return rx.toast.error(message)

    def _load_refused(self, *, signed_in: bool) -> None:
        """A refused page load (`portal_page_load(its area)`) leaves the list forgotten."""
        self._forget()

    async def _fetch(self, patient_id: int):
        raise NotImplementedError

    async def _read(self, patient_id: int) -> None:
        found = await self._fetch(patient_id)
        self.rows, self.page, self.pages, self.total = found.rows, found.page, found.pages, found.total

    async def _turn(self, me: Patient, *, forward: bool) -> None:
        """One page on or back, within the list's pages."""
        if not forward:
            self.page = max(1, self.page - 1)
        elif self.page < self.pages:
            self.page += 1
        await self._read(me.patient_id)
