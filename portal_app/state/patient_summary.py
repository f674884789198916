"""Portal Health summary (`/portal/summary`): the open chart's details, read-only."""

from __future__ import annotations

from functools import partial

from portal_app.services import forms
from portal_app.services.areas import Area
from portal_app.services.forms import HealthSummary
from portal_app.state.actions import Patient, portal_page_load
from portal_app.state.base import PortalSessionState, call


class SummaryState(PortalSessionState):
    ready: bool = False
    summary: HealthSummary = HealthSummary()

    def _forget(self) -> None:
        self.ready = False
        self.summary = HealthSummary()

    def _load_refused(self, *, signed_in: bool) -> None:
        self._forget()

    @portal_page_load(Area.HEALTH_SUMMARY)
    async def load(self, me: Patient):
        self.summary = await call(partial(forms.health_summary, patient_id=me.patient_id))
        self.ready = True
        return None
