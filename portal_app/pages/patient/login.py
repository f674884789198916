"""Patient sign-in (`/login`) and "Forgot password" (`/forgot`). UI only."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import form_alert, form_notice, invalid_flag, submit_button, text_field
from portal_app.components.idle_timer import idle_signed_out_notice
from portal_app.components.layout import portal_page
from portal_app.components.notices import UNAVAILABLE_TITLE, page_link, portal_unavailable
from portal_app.components.two_step import second_step
from portal_app.state.patient_login import FORGOT_CONFIRMATION, ForgotState, LoginState


def _ended_notice() -> rx.Component:
    """Why a tab that was signed in a moment ago is here (account turned off, idle, ...)."""
    return rx.cond(LoginState.notice != "",
                   rx.callout(LoginState.notice, icon="info", color_scheme="blue", role="status",
                              margin_bottom="1em", high_contrast=True))


def _login_form() -> rx.Component:
    return rx.fragment(
        _ended_notice(),
        idle_signed_out_notice(),
        rx.el.form(
            form_alert(LoginState.form_error),
            text_field("Email or phone number", "user_id", error=LoginState.user_id_error,
                       auto_complete="username", max_length=254,
                       aria_invalid=invalid_flag(LoginState.user_id_error)),
            text_field("Password", "password", input_type="password",
                       error=LoginState.password_error, auto_complete="current-password",
                       max_length=1024, aria_invalid=invalid_flag(LoginState.password_error)),
            submit_button("Sign in"),
            on_submit=LoginState.sign_in,
            aria_label="Sign in",
        ),
        rx.el.p(page_link("Forgot password or set up my account", routes.FORGOT),
                " (with your email or mobile number and your date of birth)", style={"margin_top": "1.5em"}),
        rx.el.p(page_link("Create an account with a connection key",
                          routes.setup_path(routes.SetupStep.CREATE_ACCOUNT)),
                " (from the practice's email, text message or letter)", style={"margin_top": "0.5em"}),
    )


def login_page() -> rx.Component:
    return portal_page(
        rx.cond(LoginState.portal_off, UNAVAILABLE_TITLE, "Sign in"),
        LoginState.ready,
        rx.cond(LoginState.portal_off, portal_unavailable(LoginState.practice_phone),
                second_step(LoginState, _login_form())),
        signed_in=False,
    )


def _forgot_form() -> rx.Component:
    return rx.fragment(
        rx.el.p("Enter the email address or mobile phone number you sign in with (or the email on "
                "file at the practice) and your date of birth. If they match, we will send a link "
                "to set up your account or choose a new password: by email, or by text message to "
                "a mobile number.", style={"margin_bottom": "1em", "max_width": "36em"}),
        rx.el.form(
            text_field("Email or mobile phone number", "user_id", error=ForgotState.user_id_error,
                       auto_complete="username", max_length=254,
                       aria_invalid=invalid_flag(ForgotState.user_id_error)),
            text_field("Date of birth", "dob", input_type="date", error=ForgotState.dob_error,
                       auto_complete="bday", aria_invalid=invalid_flag(ForgotState.dob_error)),
            submit_button("Send me a link"),
            on_submit=ForgotState.request_link,
            no_validate=True,
            aria_label="Send me a link",
        ),
    )


def _forgot_sent() -> rx.Component:
    return rx.fragment(
        form_notice(f"{FORGOT_CONFIRMATION} If nothing arrives, call the practice at "
                    f"{ForgotState.practice_phone}."),
        rx.el.p(page_link("Back to sign in", routes.LOGIN)),
    )


def forgot_page() -> rx.Component:
    return portal_page(
        rx.cond(ForgotState.portal_off, UNAVAILABLE_TITLE, "Set up or reset your account"),
        ForgotState.ready,
        rx.cond(
            ForgotState.portal_off,
            portal_unavailable(ForgotState.practice_phone),
            rx.cond(ForgotState.sent, _forgot_sent(),
                    rx.fragment(_forgot_form(),
                                rx.el.p(page_link("Back to sign in", routes.LOGIN),
                                        style={"margin_top": "1.5em"}))),
        ),
        signed_in=False,
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(login_page, route=routes.LOGIN, title="Sign in | Patient Portal",
                 on_load=LoginState.load)
    app.add_page(forgot_page, route=routes.FORGOT, title="Set up or reset | Patient Portal",
                 on_load=ForgotState.load)
