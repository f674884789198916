"""Portal Settings > Two-step verification (UI only): the practice's switch, saved at once."""

from __future__ import annotations

import reflex as rx

from portal_app.components.forms import form_notice
from portal_app.components.styles import HINT
from portal_app.state.settings_two_step import TwoStepSettingsState

SWITCH_LABEL = "Require two-step verification for everyone"


def two_step_switch() -> rx.Component:
    return rx.el.section(
        rx.heading("Two-step verification", as_="h2", size="4", margin_bottom="0.5em"),
        form_notice(TwoStepSettingsState.notice),
        rx.el.div(
            rx.switch(id="require_second_factor", checked=TwoStepSettingsState.required,
                      disabled=~TwoStepSettingsState.can_edit, aria_describedby="require_second_factor-hint",
                      on_change=TwoStepSettingsState.set_required),
            rx.el.label(SWITCH_LABEL, html_for="require_second_factor", style={"font_weight": "600"}),
            style={"display": "flex", "align_items": "center", "gap": "0.5em"},
        ),
        rx.el.p("Staff who can change roles or staff users always need an authenticator app. With this on, "
                "every staff user and every patient does too: anyone without one sets it up at their next "
                "sign-in (sessions opened without it end). Saved as soon as you switch it, and audited.",
                id="require_second_factor-hint", style=HINT),
        on_mount=TwoStepSettingsState.load,
        aria_label="Two-step verification",
        style={"margin_top": "2em", "max_width": "40em"},
    )
