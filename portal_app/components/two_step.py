"""The second step of a sign-in, for the staff and the patient sign-in pages (UI only).

`state` is a state class mixing in `state/two_step.TwoStepMixin` (StaffLoginState, LoginState).
"""

from __future__ import annotations

import reflex as rx

from portal_app.components.forms import text_field
from portal_app.components.styles import HINT, LINK_BUTTON, USER_TEXT
from portal_app.state.two_step import CODE_FIELD_ID

SETUP_HEADING = "Set up two-step verification"
CODE_LABEL = "Authentication code"
RECOVERY_LABEL = "Recovery code"


def _code_field(state, *, label: rx.Var | str, hint: str) -> rx.Component:
    return text_field(label, CODE_FIELD_ID, name="code", autocomplete="one-time-code", required=True,
                      max_length=64, error=state.code_error, hint=hint, auto_focus=True,
                      aria_invalid=rx.cond(state.code_error != "", "true", "false"))


def _buttons(submit: str, state) -> rx.Component:
    return rx.hstack(
        rx.button(submit, type="submit", size="3"),
        rx.button("Cancel", type="button", size="3", variant="soft", color_scheme="gray",
                  on_click=state.cancel),
        spacing="3", margin_top="0.5em",
    )


def code_step(state) -> rx.Component:
    """Sign in, second step: the app's 6-digit code, or (a link away) a recovery code."""
    return rx.el.section(
        rx.heading("Two-step verification", as_="h2", size="5", margin_bottom="0.5em"),
        rx.form(
            _code_field(
                state,
                label=rx.cond(state.use_recovery, RECOVERY_LABEL, CODE_LABEL),
                hint="The 6-digit code your authenticator app shows now; or, with \"Use a recovery code\", "
                     "one of the ten recovery codes you saved (each works once)."),
            _buttons("Verify", state),
            on_submit=state.submit_code,
            reset_on_submit=False,
        ),
        rx.el.button(rx.cond(state.use_recovery, "Use the code from my authenticator app", "Use a recovery code"),
                     type="button", on_click=state.toggle_recovery, style={**LINK_BUTTON, "margin_top": "1em"}),
        aria_label="Two-step verification",
    )


def enrol_step(state) -> rx.Component:
    """Set up an authenticator app (required): the QR code, the same key as text, the first code."""
    return rx.el.section(
        rx.heading(SETUP_HEADING, as_="h2", size="5", margin_bottom="0.5em"),
        rx.el.p("Your account needs a second step at sign-in. Open an authenticator app on your phone "
                "(for example Google Authenticator, Microsoft Authenticator or 1Password), add an account, "
                "and scan this code."),
        rx.el.img(src=state.qr_code, alt="QR code to add this account to your authenticator app",
                  width="220", height="220", style={"margin": "0.8em 0", "background": "white"}),
        rx.el.p("Can't scan? Enter this key: ", rx.el.code(state.setup_key, id="two-step-key", style=USER_TEXT),
                style={"margin_bottom": "1em"}),
        rx.form(
            _code_field(state, label=CODE_LABEL, hint="The 6-digit code the app shows for this account."),
            _buttons("Turn on and sign in", state),
            on_submit=state.submit_enrolment,
            reset_on_submit=False,
        ),
        aria_label=SETUP_HEADING,
    )


def codes_step(state) -> rx.Component:
    """The ten recovery codes, shown this once."""
    return rx.el.section(
        rx.heading("Save your recovery codes", as_="h2", size="5", margin_bottom="0.5em"),
        rx.el.p("Two-step verification is on. If you lose your phone, each of these codes signs you in "
                "once instead of the app's code. Print them or keep them somewhere safe: they are not "
                "shown again."),
        rx.el.ul(rx.foreach(state.recovery_codes, lambda code: rx.el.li(rx.el.code(code))),
                 aria_label="Recovery codes", style={"margin": "0.8em 0", "font_size": "1.1em"}),
        rx.el.p("Lost them? Staff can reset your two-step verification; you then set it up again.", style=HINT),
        rx.button("I have saved my recovery codes", type="button", size="3", margin_top="0.8em",
                  on_click=state.finish),
        aria_label="Recovery codes",
    )


def second_step(state, password_form: rx.Component) -> rx.Component:
    """The password form, or the second step that follows it."""
    return rx.match(
        state.step,
        ("code", code_step(state)),
        ("enrol", enrol_step(state)),
        ("codes", codes_step(state)),
        password_form,
    )
