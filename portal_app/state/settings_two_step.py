"""Portal Settings > Two-step verification: the practice's switch requiring it of everyone.

Its own small state beside `SettingsState` (the switch saves at once, audited by the service).
"""

from __future__ import annotations

from functools import partial

from portal_app.services import second_factor
from portal_app.services.permissions import Level, Permission
from portal_app.state.actions import Staff, staff_action
from portal_app.state.base import StaffSessionState, call


class TwoStepSettingsState(StaffSessionState):
    loaded: bool = False
    can_edit: bool = False
    required: bool = False
    notice: str = ""

    def _forget(self) -> None:
        self.loaded = False
        self.notice = ""

    @staff_action(Permission.SETTINGS, Level.READ)
    async def load(self, staff: Staff):
        """on_mount of the section: the switch as stored."""
        self.notice = ""
        self.can_edit = staff.principal.can(Permission.SETTINGS, Level.UPDATE)
        self.required = await call(partial(second_factor.required_for_accounts))
        self.loaded = True

    @staff_action(Permission.SETTINGS, Level.UPDATE)
    async def set_required(self, staff: Staff, required: bool):
        self.required = await call(partial(second_factor.set_required, actor=staff.actor, required=required))
        self.notice = ("Saved: every staff user and patient now needs two-step verification to sign in; "
                       "anyone without it sets it up at their next sign-in." if self.required else
                       "Saved: two-step verification is required only of staff who can change roles or "
                       "staff users; patients may still turn it on for themselves.")
