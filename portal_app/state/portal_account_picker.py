"""Portal Account Setup: the patient picker (search, choose, change patient).

Mixed into PortalAccountsState (state/portal_accounts.py), which opens the chart chosen
(`_open`), forgets it (`_clear`) and answers refusals. Only charts the search offered can be
chosen; a handful of rows, found on the server.
"""

from __future__ import annotations

from functools import partial

import reflex as rx

from portal_app.services import portal_accounts
from portal_app.services.onboarding import PatientRow
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_action
from portal_app.state.base import call
from portal_app.state.focus import focus_later

MAX_SEARCH = 100


class PatientPicker(rx.State, mixin=True):
    search: str = ""
    results: list[PatientRow] = []
    search_message: str = ""

    def _clear_search(self) -> None:
        self.results = []
        self.search = self.search_message = ""

    @staff_action(Permission.ACCOUNT_SETUP, Level.READ)
    async def search_patients(self, staff: Staff, value: str):
        """The picker's search box (debounced in the page): a few matching charts."""
        self._forget_credentials()
        self.search = value[:MAX_SEARCH]
        self.results = await call(partial(portal_accounts.find_patients, search=self.search))
        if len(self.search.strip()) < 2:
            self.search_message = ""
        elif not self.results:
            self.search_message = "No patient matches."
        else:
            self.search_message = (f"{len(self.results)} shown; type more to narrow the list."
                                   if len(self.results) >= portal_accounts.SEARCH_ROWS else "")

    @staff_action(Permission.ACCOUNT_SETUP, Level.READ)
    async def choose_patient(self, staff: Staff, patient_id: int):
        self._begin()
        if not any(row.id == patient_id for row in self.results):
            self.error = "That patient is no longer in the list. Search again."
            return None
        self._clear_search()
        await self._open(staff.actor, patient_id)
        # The button pressed is gone: a keyboard user goes on from the patient's name.
        return focus_later("chart-heading")

    @staff_action(Permission.ACCOUNT_SETUP, Level.READ)
    async def change_patient(self, staff: Staff):
        """Back to the picker (forgets the chart and the form)."""
        self._clear()
        self.loaded = True
        return focus_later("patient-search")
