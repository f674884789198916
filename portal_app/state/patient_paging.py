"""Numbered pages over one list of the open portal chart (Messages, Appointments).

The list is read on the server one page at a time; every handler checks the session and the
page's portal area again (`_area_principal` audits a refusal).
"""

from __future__ import annotations

import reflex as rx

from portal_app.services.areas import Area


class PortalListPaging(rx.State, mixin=True):
    """Mixed into a PortalSessionState page state that has `rows` and defines:

    - `_area()`: its portal area; `_refusal()`: what a refused handler shows;
    - `_fetch(patient_id)`: awaits the list service for `self.page`, returning an object with
      rows, page, pages and total;
    - `_forget()`: clears what the page shows.
    """

    page: int = 1
    pages: int = 1
    total: int = 0

    def _area(self) -> Area:
        raise NotImplementedError

    def _refusal(self) -> str:
        raise NotImplementedError

    async def _fetch(self, patient_id: int):
        raise NotImplementedError

    def _forget(self) -> None:
        raise NotImplementedError

    async def _read(self, patient_id: int) -> None:
        found = await self._fetch(patient_id)
        self.rows, self.page, self.pages, self.total = found.rows, found.page, found.pages, found.total

    async def _allowed(self, action: str):
        """(principal, chart) when the open chart grants the area; None (page forgotten) otherwise."""
        got = await self._area_principal(self._area(), action)
        if got is None:
            self._forget()
        return got

    @rx.event
    async def next_page(self):
        got = await self._allowed("next_page")
        if got is None:
            return rx.toast.error(self._refusal())
        if self.page < self.pages:
            self.page += 1
        await self._read(got[1].patient_id)
        return None

    @rx.event
    async def prev_page(self):
        got = await self._allowed("prev_page")
        if got is None:
            return rx.toast.error(self._refusal())
        self.page = max(1, self.page - 1)
        await self._read(got[1].patient_id)
        return None
