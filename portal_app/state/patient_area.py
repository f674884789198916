"""What a patient area page (Forms, Documents) does when a handler is refused."""

from __future__ import annotations

from typing import ClassVar

import reflex as rx

from portal_app import routes
from portal_app.services.permissions import Level


class AreaRefusals(rx.State, mixin=True):
    """Any refusal forgets what the page shows (`_forget`): a signed-in patient reads why in a
    toast (`REFUSED`, "... are not available for this chart."), a signed-out one goes to sign-in.
    A refused page load (`portal_page_load(Area....)`) forgets the page too."""

    REFUSED: ClassVar[str] = ""

    def _load_refused(self, *, signed_in: bool) -> None:
        self._forget()

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return self.REFUSED

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        self._forget()
        return rx.toast.error(message) if signed_in else rx.redirect(routes.LOGIN)
