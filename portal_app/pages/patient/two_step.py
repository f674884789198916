"""`/portal/two-step` (UI only): turn two-step verification on or off for this account."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import form_alert, form_notice, submit_button, text_field
from portal_app.components.layout import portal_page
from portal_app.components.notices import page_link
from portal_app.components.two_step import CODE_LABEL, SETUP_HEADING
from portal_app.state.patient_two_step import PortalTwoStepState as S
from portal_app.state.two_step import CODE_FIELD_ID


def _code_field(hint: str) -> rx.Component:
    return text_field(CODE_LABEL, CODE_FIELD_ID, name="code", autocomplete="one-time-code", max_length=64,
                      error=S.code_error, hint=hint, aria_invalid=rx.cond(S.code_error != "", "true", "false"))


def _setting_up() -> rx.Component:
    return rx.el.section(
        rx.heading(SETUP_HEADING, as_="h2", size="4", margin_bottom="0.5em"),
        rx.el.p("Open an authenticator app on your phone (for example Google Authenticator or Microsoft "
                "Authenticator), add an account, and scan this code."),
        rx.el.img(src=S.qr_code, alt="QR code to add this account to your authenticator app", width="220",
                  height="220", style={"margin": "0.8em 0", "background": "white"}),
        rx.el.p("Can't scan? Enter this key: ", rx.el.code(S.setup_key), style={"margin_bottom": "1em"}),
        rx.el.form(
            _code_field("The 6-digit code the app shows for this account."),
            rx.hstack(submit_button("Turn on"),
                      rx.button("Cancel", type="button", size="3", variant="soft", color_scheme="gray",
                                margin_top="0.5em", on_click=S.cancel)),
            on_submit=S.confirm, aria_label=SETUP_HEADING,
        ),
        aria_label=SETUP_HEADING,
    )


def _codes() -> rx.Component:
    return rx.el.section(
        rx.heading("Save your recovery codes", as_="h2", size="4", margin_bottom="0.5em"),
        rx.el.p("If you lose your phone, each of these codes signs you in once instead of the app's code. "
                "Print them or keep them somewhere safe: they are not shown again."),
        rx.el.ul(rx.foreach(S.recovery_codes, lambda code: rx.el.li(rx.el.code(code))),
                 aria_label="Recovery codes", style={"margin": "0.8em 0", "font_size": "1.1em"}),
        rx.button("I have saved my recovery codes", type="button", size="3", on_click=S.codes_saved),
        aria_label="Recovery codes",
    )


def _status() -> rx.Component:
    return rx.cond(
        S.enabled,
        rx.fragment(
            rx.el.p("Two-step verification is on: after your password you enter the 6-digit code from your "
                    "authenticator app (or a recovery code)."),
            rx.cond(
                S.required,
                rx.el.p("The practice requires it for every account, so it stays on."),
                rx.el.form(
                    _code_field("To turn it off, enter the code your app shows now, or a recovery code."),
                    submit_button("Turn off two-step verification"),
                    on_submit=S.turn_off, aria_label="Turn off two-step verification",
                ),
            ),
        ),
        rx.fragment(
            rx.el.p("Two-step verification is off. With it on, someone who learns your password still cannot "
                    "sign in without your phone."),
            rx.button(SETUP_HEADING, type="button", size="3", margin_top="0.8em", on_click=S.start),
        ),
    )


def two_step_page() -> rx.Component:
    return portal_page(
        "Two-step verification",
        S.ready,
        rx.fragment(
            form_notice(S.notice),
            form_alert(S.form_error),
            rx.cond(S.recovery_codes.length() > 0, _codes(), rx.cond(S.setting_up, _setting_up(), _status())),
            rx.el.p(page_link("Back to your portal", routes.PORTAL_HOME), style={"margin_top": "1.5em"}),
        ),
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(two_step_page, route=routes.PORTAL_TWO_STEP, title="Two-step verification | Patient Portal",
                 on_load=S.load)
