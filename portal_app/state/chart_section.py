"""The staff chart page's own URL (`/staff/patients/ID`), and what its sections share.

The chart state and its sections (connections, documents, the Connect wizard) act on the
chart named by the page's URL, read on load, never on an id a client sends.
"""

from __future__ import annotations

import re

import reflex as rx

from portal_app.services.errors import DomainError
from portal_app.services.permissions import Level, Permission

CHART_PATH = re.compile(r"/staff/patients/(\d{1,12})/?$")
STALE = "This chart is no longer open here. Reload the page and try again."


def chart_id_in(path: str | None) -> int | None:
    """The patient id in a chart page's path, or None for any other path."""
    match = CHART_PATH.search(path or "")
    return int(match.group(1)) if match else None


class ChartSection(rx.State, mixin=True):
    """A section of the chart page that loads after ChartState.load (which redirects or says
    why when the chart cannot be shown). A state mixing it in defines `_clear` (forget what
    it shows) and `_read` (show the chart `_chart_id`), and its `_refused` answer."""

    loaded: bool = False
    notice: str = ""
    error: str = ""

    # Which chart the handlers act on: set only by `load`, from the page's own URL.
    _chart_id: int = 0
    # The staff user reading it (the audit actor of what a section shows).
    _reader_id: int = 0

    def _forget(self) -> None:
        self._clear()

    def _failed(self, error: DomainError):
        self.error = error.message

    @rx.event
    async def load(self):
        """on_load (after ChartState.load): the section of the chart named by the URL."""
        self._clear()
        staff = await self._require(Permission.PORTAL_ADMIN, Level.READ)
        if staff is None:
            return  # ChartState.load has already redirected or said why (and audited a refusal)
        patient_id = chart_id_in(self.router.url.path)
        if patient_id is None:
            return
        self._chart_id = patient_id
        self._reader_id = staff.id
        try:
            await self._read()
        except DomainError as exc:
            self._chart_id = 0
            self.error = exc.message
