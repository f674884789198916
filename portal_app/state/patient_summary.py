"""Portal Health summary (`/portal/summary`): the open chart's details, read-only."""

from __future__ import annotations

from functools import partial

import reflex as rx

from portal_app.services import forms
from portal_app.services.areas import Area
from portal_app.services.forms import HealthSummary
from portal_app.state.base import PortalSessionState, call


class SummaryState(PortalSessionState):
    ready: bool = False
    summary: HealthSummary = HealthSummary()

    @rx.event
    async def load(self):
        target, redirect = await self._area_guard(Area.HEALTH_SUMMARY)
        if redirect is not None:
            self.ready = False
            self.summary = HealthSummary()
            return redirect
        self.summary = await call(partial(forms.health_summary, patient_id=target[1].patient_id))
        self.ready = True
        return None
