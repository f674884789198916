"""`/setup?p=invite|reset|createAccount&token=...`: set up an account or a new password. UI only."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import form_alert, form_notice, text_field
from portal_app.components.layout import portal_layout
from portal_app.pages.patient.login import (UNAVAILABLE_TITLE, invalid_flag, loading, page_link,
                                            portal_unavailable, submit_button)
from portal_app.state.patient_setup import FRESH_LINK_SENT, SetupState, SetupStep

PASSWORD_HINT = ("At least 10 characters. A phrase of three or four unrelated words is easy to "
                 "remember and hard to guess. Do not use your name or email.")


def _password_fields() -> rx.Component:
    return rx.fragment(
        text_field("Password", "password", input_type="password", hint=PASSWORD_HINT,
                   error=SetupState.password_error, auto_complete="new-password", max_length=1024,
                   aria_invalid=invalid_flag(SetupState.password_error)),
        text_field("Confirm password", "confirm", input_type="password",
                   error=SetupState.confirm_error, auto_complete="new-password", max_length=1024,
                   aria_invalid=invalid_flag(SetupState.confirm_error)),
    )


def _invite_form() -> rx.Component:
    return rx.fragment(
        rx.el.p(f"Hello {SetupState.first_name}. Choose the username you will sign in with and a "
                "password.", style={"margin_bottom": "1em"}),
        rx.el.form(
            form_alert(SetupState.form_error),
            text_field("Username (email or phone)", "user_id", error=SetupState.user_id_error,
                       hint="Your email on file is filled in. You may use your mobile phone "
                            "number instead.",
                       default_value=SetupState.suggested_user_id, auto_complete="username",
                       max_length=254, aria_invalid=invalid_flag(SetupState.user_id_error)),
            _password_fields(),
            submit_button("Create account"),
            on_submit=SetupState.create_account,
            aria_label="Create account",
        ),
    )


def _reset_form() -> rx.Component:
    return rx.el.form(
        form_alert(SetupState.form_error),
        _password_fields(),
        submit_button("Save password"),
        on_submit=SetupState.save_password,
        aria_label="Choose a new password",
    )


def _call_us() -> rx.Component:
    return rx.el.p("Need help? Call the practice at ", rx.el.strong(SetupState.practice_phone), ".",
                   style={"margin_top": "1em"})


def _dead_link() -> rx.Component:
    return rx.fragment(
        rx.el.p("This link has expired or has already been used.", style={"margin_bottom": "1em"}),
        rx.cond(
            SetupState.fresh_link_sent,
            form_notice(FRESH_LINK_SENT),
            rx.button("Send me a new link", on_click=SetupState.send_new_link, size="3"),
        ),
        _call_us(),
        rx.el.p(page_link("Sign in", routes.LOGIN), " if you already have an account.",
                style={"margin_top": "1em"}),
    )


def _create_account() -> rx.Component:
    return rx.fragment(
        rx.el.p("Creating an account with a connection key is not available yet; please use the "
                "invitation link from your practice or call ", rx.el.strong(SetupState.practice_phone),
                ".", style={"margin_bottom": "1em"}),
        rx.el.p(page_link("Sign in", routes.LOGIN), " if you already have an account."),
    )


def setup_page() -> rx.Component:
    title = rx.cond(
        SetupState.portal_off, UNAVAILABLE_TITLE,
        rx.match(SetupState.step,
                 (SetupStep.INVITE, "Set up your portal account"),
                 (SetupStep.RESET, "Choose a new password"),
                 (SetupStep.INVALID, "This link cannot be used"),
                 (SetupStep.CREATE_ACCOUNT, "Create your portal account"),
                 "Patient portal account"),
    )
    body = rx.match(
        SetupState.step,
        (SetupStep.INVITE, _invite_form()),
        (SetupStep.RESET, _reset_form()),
        (SetupStep.INVALID, _dead_link()),
        (SetupStep.CREATE_ACCOUNT, _create_account()),
        loading(),
    )
    return portal_layout(
        title,
        rx.cond(
            SetupState.ready,
            rx.cond(SetupState.portal_off, portal_unavailable(SetupState.practice_phone), body),
            loading(),
        ),
        signed_in=False,
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(setup_page, route=routes.SETUP, title="Account setup | Patient Portal",
                 on_load=SetupState.load)
