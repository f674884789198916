"""The practice's name in the patient pages' header (public: the name is on every letter)."""

from __future__ import annotations

from functools import partial

import reflex as rx

from portal_app.services import settings
from portal_app.state.base import call

FALLBACK = "Patient Portal"


class PracticeHeaderState(rx.State):
    """Whose portal this is, read when the header mounts."""

    practice_name: str = ""

    @rx.event
    async def load(self):
        """Read the practice's name from Portal Settings (no patient data: public like the sign-in page)."""
        self.practice_name = (await call(partial(settings.view))).practice_name.strip()
