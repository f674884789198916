"""What a patient area page (Forms, Documents) does when a handler is refused."""

from __future__ import annotations

from typing import ClassVar

import reflex as rx

from portal_app import routes
from portal_app.services.areas import Area
from portal_app.services.permissions import Level


class AreaRefusals(rx.State, mixin=True):
    """Any refusal forgets what the page shows (`_forget`): a signed-in patient reads why in a
    toast (`REFUSED`, "... are not available for this chart."), a signed-out one goes to sign-in.
    The page's on_load opens its `AREA` with `_open_area`."""

    AREA: ClassVar[Area]
    REFUSED: ClassVar[str] = ""

    async def _open_area(self):
        """For on_load: ((principal, chart), None), or (None, a redirect) with the page forgotten."""
        target, redirect = await self._area_guard(self.AREA)
        if redirect is not None:
            self._forget()
        return target, redirect

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return self.REFUSED

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        self._forget()
        return rx.toast.error(message) if signed_in else rx.redirect(routes.LOGIN)
