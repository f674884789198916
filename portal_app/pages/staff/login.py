"""/staff/login (sign in) and /staff/password (change password; required at first sign-in)."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import form_alert, form_notice, text_field
from portal_app.components.idle_timer import idle_signed_out_notice
from portal_app.components.layout import staff_layout
from portal_app.components.styles import HEAD_BG, LINK, PANEL_LINE
from portal_app.components.two_step import second_step
from portal_app.state.staff_login import StaffLoginState, StaffPasswordState

PASSWORD_HINT = ("At least 10 characters. A few unrelated words make a strong password that is "
                 "easy to remember; do not use your name or username.")


def _submit(text: str) -> rx.Component:
    return rx.button(text, type="submit", size="3", margin_top="0.5em")


def login_page() -> rx.Component:
    return rx.el.div(
        rx.el.header(
            rx.text("Portal Admin", size="4", weight="bold"),
            style={"padding": "0.8em 1.5em", "border_bottom": f"1px solid {PANEL_LINE}", "background": HEAD_BG},
        ),
        rx.el.main(
            rx.heading("Staff sign in", as_="h1", size="6", margin_bottom="0.8em"),
            idle_signed_out_notice(),
            form_alert(StaffLoginState.error),
            second_step(StaffLoginState, rx.form(
                text_field("Username", "staff-username", name="username", autocomplete="username",
                           required=True, max_length=100, auto_focus=True),
                text_field("Password", "staff-password", name="password", input_type="password",
                           autocomplete="current-password", required=True),
                _submit("Sign in"),
                on_submit=StaffLoginState.sign_in,
            )),
            rx.el.p(rx.el.a("Patients: sign in here", href=routes.LOGIN,
                            style=LINK),
                    style={"margin_top": "2em"}),
            id="main",
            style={"padding": "1.5em", "max_width": "30em", "margin": "0 auto"},
        ),
    )


def password_page() -> rx.Component:
    return staff_layout(
        "Change your password",
        rx.cond(StaffPasswordState.must_change,
                form_notice("Choose a new password before you continue. The one you signed in "
                            "with was issued to you and must be replaced.")),
        form_alert(StaffPasswordState.form_error),
        rx.form(
            text_field("Current password", "current-password", name="current", input_type="password",
                       autocomplete="current-password", required=True,
                       error=StaffPasswordState.current_error),
            text_field("New password", "new-password", name="password", input_type="password",
                       autocomplete="new-password", required=True, hint=PASSWORD_HINT,
                       error=StaffPasswordState.password_error),
            text_field("Confirm password", "confirm-password", name="confirm",
                       input_type="password", autocomplete="new-password", required=True,
                       error=StaffPasswordState.confirm_error),
            _submit("Change password"),
            on_submit=StaffPasswordState.change_password,
        ),
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(login_page, route=routes.STAFF_LOGIN, title="Staff sign in",
                 on_load=StaffLoginState.check_signed_in)
    app.add_page(password_page, route=routes.STAFF_PASSWORD, title="Change your password",
                 on_load=StaffPasswordState.load)
