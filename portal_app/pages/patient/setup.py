"""`/setup?p=invite|reset|createAccount&token=...`: set up an account or a new password. UI only."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import form_alert, form_notice, invalid_flag, submit_button, text_field
from portal_app.components.layout import portal_page
from portal_app.components.notices import UNAVAILABLE_TITLE, loading, page_link, portal_unavailable
from portal_app.components.passwords import new_password_fields
from portal_app.components.whose_chart import whose_chart_fields
from portal_app.state.setup import FRESH_LINK_SENT, SetupState, SetupView
from portal_app.state.setup_create_account import FRESH_VERIFICATION_SENT, CreateAccountState, CreateAccountStep


def _password_fields() -> rx.Component:
    return new_password_fields(SetupState.password_error, SetupState.confirm_error)


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
    return rx.fragment(
        rx.el.p(rx.cond(SetupState.first_password,
                        "Welcome. Choose the password you will sign in with, as ",
                        "Choose a new password for your account "),
                rx.el.strong(SetupState.suggested_user_id), ".", style={"margin_bottom": "1em"}),
        rx.el.form(
            form_alert(SetupState.form_error),
            _password_fields(),
            submit_button("Save password"),
            on_submit=SetupState.save_password,
            aria_label=rx.cond(SetupState.first_password, "Choose your password", "Choose a new password"),
        ),
    )


def _call_us() -> rx.Component:
    return rx.el.p("Need help? Call the practice at ", rx.el.strong(SetupState.practice_phone), ".",
                   style={"margin_top": "1em"})


def _sign_in_instead(margin_top: str) -> rx.Component:
    return rx.el.p(page_link("Sign in", routes.LOGIN), " if you already have an account.",
                   style={"margin_top": margin_top})


def _dead_link() -> rx.Component:
    return rx.fragment(
        rx.el.p("This link has expired or has already been used.", style={"margin_bottom": "1em"}),
        rx.cond(
            SetupState.fresh_link_sent,
            form_notice(FRESH_LINK_SENT),
            rx.button("Send me a new link", on_click=SetupState.send_new_link, size="3"),
        ),
        _call_us(),
        _sign_in_instead("1em"),
    )


def _enter_user_id() -> rx.Component:
    return rx.fragment(
        rx.el.p("Enter the email address or mobile phone number you want to sign in with. We will "
                "send a message to it to check that it is yours.", style={"margin_bottom": "1em"}),
        rx.el.form(
            form_alert(CreateAccountState.form_error),
            text_field("Email or mobile phone number", "user_id",
                       error=CreateAccountState.user_id_error,
                       hint="This becomes your user ID.", auto_complete="username",
                       max_length=254, aria_invalid=invalid_flag(CreateAccountState.user_id_error)),
            submit_button("Create Account"),
            on_submit=CreateAccountState.create_account,
            aria_label="Create account",
        ),
        _sign_in_instead("1.5em"),
    )


def _sent() -> rx.Component:
    return rx.fragment(
        rx.callout(f"We sent a message to {CreateAccountState.sent_to}. Follow its link within "
                   f"{CreateAccountState.valid_minutes} minutes.",
                   icon="info", color_scheme="green", role="status", margin_bottom="1em", high_contrast=True),
        rx.el.p("Nothing arrived after a few minutes? Check the address and try again.",
                style={"margin_bottom": "1em"}),
        rx.button("Use a different email or phone", on_click=CreateAccountState.start_over,
                  variant="outline", size="3"),
        _call_us(),
    )


def _has_key() -> rx.Component:
    return rx.fragment(
        rx.el.p("Thank you: ", rx.el.strong(CreateAccountState.sent_to), " is confirmed.",
                style={"margin_bottom": "1em"}),
        rx.heading("Do you have a connection key from the practice?", as_="h2", size="4",
                   margin_bottom="0.8em"),
        rx.hstack(
            rx.button("Yes", on_click=CreateAccountState.answer_has_key("yes"), size="3"),
            rx.button("No", on_click=CreateAccountState.answer_has_key("no"), size="3",
                      variant="outline"),
        ),
    )


def _enter_key() -> rx.Component:
    return rx.el.form(
        form_alert(CreateAccountState.form_error),
        text_field("Connection key", "key", error=CreateAccountState.key_error,
                   hint="12 letters and digits, like ABCD-EFGH-JKMN, from the practice's email, "
                        "text or letter. Capital or small letters both work.",
                   auto_complete="off", spell_check=False, max_length=64,
                   aria_invalid=invalid_flag(CreateAccountState.key_error)),
        submit_button("Next"),
        on_submit=CreateAccountState.submit_key,
        aria_label="Enter your connection key",
    )


def _no_key() -> rx.Component:
    return rx.fragment(
        rx.el.p("You need a connection key to connect your account to your chart. Call the "
                "practice at ", rx.el.strong(SetupState.practice_phone),
                " and ask for a patient portal connection key. They can email it, text it, or "
                "mail you a letter.", style={"margin_bottom": "1em"}),
        rx.el.p("When you have it, come back here (or start again from the link in the "
                "practice's message).", style={"margin_bottom": "1em"}),
        rx.button("I have a key now", on_click=CreateAccountState.answer_has_key("yes"), size="3"),
    )


def _details() -> rx.Component:
    return rx.fragment(
        rx.heading("Verify your details", as_="h2", size="4", margin_bottom="0.5em"),
        rx.el.p("The patient's details must match what the practice has on file.", style={"margin_bottom": "1em"}),
        rx.el.form(
            form_alert(CreateAccountState.details_error),
            form_alert(CreateAccountState.form_error),
            text_field("Last name", "last_name", error=CreateAccountState.last_name_error,
                       auto_complete="family-name", max_length=100,
                       aria_invalid=invalid_flag(CreateAccountState.last_name_error)),
            text_field("Date of birth", "dob", input_type="date",
                       error=CreateAccountState.dob_error, auto_complete="bday",
                       aria_invalid=invalid_flag(CreateAccountState.dob_error)),
            whose_chart_fields(CreateAccountState.whose_error, CreateAccountState.relationship_error),
            submit_button("Connect"),
            on_submit=CreateAccountState.submit_details,
            aria_label="Verify your details",
        ),
    )


def _create_password() -> rx.Component:
    return rx.fragment(
        rx.heading("Create a password", as_="h2", size="4", margin_bottom="0.5em"),
        rx.el.p("You will sign in with ", rx.el.strong(CreateAccountState.sent_to),
                " and this password.", style={"margin_bottom": "1em"}),
        rx.el.form(
            form_alert(CreateAccountState.form_error),
            new_password_fields(CreateAccountState.password_error, CreateAccountState.confirm_error),
            submit_button("Finish"),
            on_submit=CreateAccountState.finish,
            aria_label="Create a password",
        ),
    )


def _verification_dead() -> rx.Component:
    return rx.fragment(
        rx.el.p("This link has expired or has already been used.", style={"margin_bottom": "1em"}),
        rx.cond(
            CreateAccountState.fresh_sent,
            form_notice(FRESH_VERIFICATION_SENT),
            rx.button("Send me a new link", on_click=CreateAccountState.send_fresh_verification,
                      size="3"),
        ),
        _call_us(),
        rx.el.p(page_link("Start again", routes.setup_path(routes.SetupStep.CREATE_ACCOUNT)),
                " or ", page_link("sign in", routes.LOGIN), " if you already have an account.",
                style={"margin_top": "1em"}),
    )


def _create_account() -> rx.Component:
    return rx.match(
        CreateAccountState.stage,
        (CreateAccountStep.ENTER_ID, _enter_user_id()),
        (CreateAccountStep.SENT, _sent()),
        (CreateAccountStep.HAS_KEY, _has_key()),
        (CreateAccountStep.KEY, _enter_key()),
        (CreateAccountStep.NO_KEY, _no_key()),
        (CreateAccountStep.DETAILS, _details()),
        (CreateAccountStep.PASSWORD, _create_password()),
        (CreateAccountStep.DEAD, _verification_dead()),
        loading(),
    )


def setup_page() -> rx.Component:
    title = rx.cond(
        SetupState.portal_off, UNAVAILABLE_TITLE,
        rx.match(SetupState.step,
                 (SetupView.INVITE, "Set up your portal account"),
                 (SetupView.RESET, rx.cond(SetupState.first_password, "Set up your portal account",
                                           "Choose a new password")),
                 (SetupView.INVALID, "This link cannot be used"),
                 (SetupView.CREATE_ACCOUNT, "Create your portal account"),
                 "Patient portal account"),
    )
    body = rx.match(
        SetupState.step,
        (SetupView.INVITE, _invite_form()),
        (SetupView.RESET, _reset_form()),
        (SetupView.INVALID, _dead_link()),
        (SetupView.CREATE_ACCOUNT, _create_account()),
        loading(),
    )
    return portal_page(
        title,
        SetupState.ready,
        rx.cond(SetupState.portal_off, portal_unavailable(SetupState.practice_phone), body),
        signed_in=False,
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(setup_page, route=routes.SETUP, title="Account setup | Patient Portal",
                 on_load=[SetupState.load, CreateAccountState.load])
