"""What every public patient page (sign-in, forgot password, /setup) has in common."""

from __future__ import annotations

from functools import partial

from portal_app.services import settings
from portal_app.state.base import PortalSessionState, call
from portal_app.state.patient_home import HomeState


class PatientPageState(PortalSessionState):
    """What every public patient page needs: is the portal on, and whom to call."""

    # False until on_load has checked the settings, so no form flashes on a switched-off portal.
    ready: bool = False
    portal_off: bool = False
    practice_name: str = ""
    practice_phone: str = ""

    async def _load_practice(self) -> bool:
        """Read the practice settings; returns whether the portal is on."""
        view = await call(partial(settings.view))
        self.portal_off = not view.portal_active
        self.practice_name = view.practice_name
        self.practice_phone = view.practice_phone
        return view.portal_active

    async def _forget_signed_in_view(self) -> None:
        # The portal home's chart data must not linger in this tab's state after sign-out:
        # a reconnecting client is sent the whole state again.
        home = await self.get_state(HomeState)
        home.clear_view()
