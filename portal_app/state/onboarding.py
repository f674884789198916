"""/staff/onboarding: status rectangles, invitations, search, paging and bulk jobs.

`OnboardingState` is one Reflex state made of three mixins, one per concern: the list
(state/onboarding_list.py), the selection (state/onboarding_selection.py) and the bulk job
(state/onboarding_bulk.py). Every handler checks the session and the permission itself
(`staff_action`): any client can call any handler, whatever the page's on_load did.
"""

from __future__ import annotations

from functools import partial

import reflex as rx

from portal_app.services import bulk
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_page_load
from portal_app.state.base import StaffSessionState, call
from portal_app.state.onboarding_bulk import OnboardingBulk
from portal_app.state.onboarding_list import NO_ACCESS, OnboardingList
from portal_app.state.onboarding_selection import OnboardingSelection

__all__ = ["NO_ACCESS", "OnboardingState"]


class OnboardingState(OnboardingBulk, OnboardingSelection, OnboardingList, StaffSessionState):
    """State of /staff/onboarding."""

    # ---- refusals (state/actions.py calls these) ------------------------------

    def _refusal_message(self, level: Level = Level.READ) -> str:
        return NO_ACCESS

    def _refused(self, message: str, *, signed_in: bool, level: Level = Level.READ):
        # A refused "Disable access" or "Start" closes its dialog, as an allowed one does.
        self._close_confirm()
        self.bulk_dialog_open = False
        return rx.toast.error(message)

    def _forget(self) -> None:
        self.rows, self.changed_rows = [], {}
        self._set_selection([])
        self._close_confirm()

    # ---- the page -------------------------------------------------------------

    def _load_refused(self, *, signed_in: bool) -> None:
        self.allowed, self.loaded = False, True
        self._forget()

    @staff_page_load(Permission.PORTAL_ADMIN, Level.READ)
    async def load_page(self, staff: Staff):
        """on_load: show the first page and any job still running."""
        self.allowed = True
        await self._start_over()
        job = await call(partial(bulk.latest_job, staff_user_id=staff.id))
        if job is None or job.id == self._dismissed_job:
            return None
        self._show_job(job)
        if job.status == bulk.RUNNING and self._following != job.id:
            return OnboardingState.follow_job
        return None
