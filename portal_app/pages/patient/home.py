"""Portal home (`/portal`) and change password (`/portal/password`). UI only."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import form_alert, form_notice, invalid_flag, submit_button, text_field
from portal_app.components.layout import portal_page
from portal_app.components.notices import page_link
from portal_app.components.passwords import new_password_fields
from portal_app.components.styles import LINK_COLOR, PAGE_LINK, TEXT_SOFT
from portal_app.components.whose_chart import whose_chart_fields
from portal_app.pages.patient import home_todos
from portal_app.state.patient_home import ConnectChartState, HomeState, PasswordState


def _detail(term: str, value: rx.Var) -> rx.Component:
    return rx.fragment(
        rx.el.dt(term, style={"font_weight": "600", "margin_top": "0.6em"}),
        rx.el.dd(rx.cond(value != "", value, "Not on file"), style={"margin_left": "0"}),
    )


def _news() -> rx.Component:
    """What is new since the last visit: practice replies not yet read, answered requests."""
    messages = rx.cond(HomeState.unread_messages == 1, "1 conversation has a new reply from the practice",
                       HomeState.unread_messages.to_string() + " conversations have a new reply from the practice")
    answers = rx.cond(HomeState.answered_requests == 1, "1 appointment request has an answer",
                      HomeState.answered_requests.to_string() + " appointment requests have an answer")
    return rx.cond(
        (HomeState.unread_messages > 0) | (HomeState.answered_requests > 0),
        rx.el.section(
            rx.heading("New for you", as_="h2", size="4", margin_bottom="0.4em"),
            rx.el.ul(
                rx.cond(HomeState.unread_messages > 0,
                        rx.el.li(rx.link(messages, href=routes.PORTAL_MESSAGES, style=PAGE_LINK))),
                rx.cond(HomeState.answered_requests > 0,
                        rx.el.li(rx.link(answers, href=routes.PORTAL_APPOINTMENTS, style=PAGE_LINK))),
                style={"padding_left": "1.2em", "margin": "0"},
            ),
            aria_label="New for you",
            style={"margin_bottom": "1.5em", "padding": "0.8em 1em", "border": f"1px solid {LINK_COLOR}",
                   "border_radius": "8px", "background": "#eef4fb"},
        ),
    )


def home_page() -> rx.Component:
    return portal_page(
        "Your patient portal",
        HomeState.chart_name != "",
        form_notice(HomeState.notice),
        _news(),
        home_todos.todos(),
        rx.el.section(
            rx.heading("Whose chart this is", as_="h2", size="4"),
            rx.el.p(rx.el.strong(HomeState.chart_name), ", born ", HomeState.chart_dob,
                    rx.cond(HomeState.is_representative,
                            " (you are an authorized representative)", "")),
            aria_label="Whose chart this is",
            style={"margin_bottom": "1.5em"},
        ),
        rx.el.section(
            rx.heading("Contact details on file", as_="h2", size="4"),
            rx.el.dl(
                _detail("Email", HomeState.email),
                _detail("Mobile phone", HomeState.mobile_phone),
                _detail("Home phone", HomeState.home_phone),
                _detail("Address", HomeState.address),
            ),
            rx.el.p("Something wrong? Call the practice at ",
                    rx.el.strong(HomeState.practice_phone), ".",
                    style={"margin_top": "0.8em", "color": TEXT_SOFT}),
            aria_label="Contact details on file",
            style={"margin_bottom": "1.5em"},
        ),
        rx.el.section(
            rx.heading("Your account", as_="h2", size="4"),
            rx.el.p(page_link("Change password", routes.PORTAL_PASSWORD)),
            rx.el.p(page_link("Two-step verification", routes.PORTAL_TWO_STEP),
                    " (a code from an app on your phone after your password)", style={"margin_top": "0.5em"}),
            rx.el.p(page_link("Connect another chart", routes.PORTAL_CONNECT),
                    " (with a connection key from the practice)",
                    style={"margin_top": "0.5em"}),
            aria_label="Your account",
        ),
    )


def password_page() -> rx.Component:
    # A password that must change first: no menu (nothing else opens yet), no "current password"
    # (the temporary one was typed to sign in a moment ago).
    return portal_page(rx.cond(PasswordState.must_change, "Choose your own password", "Change your password"),
                       PasswordState.ready, _password_form(), menu=~PasswordState.must_change)


def _password_form() -> rx.Component:
    return rx.fragment(
        rx.cond(PasswordState.must_change,
                rx.callout("You signed in with a temporary password from the practice. Choose your own "
                           "password now; then your portal opens.", icon="info",
                           color_scheme="blue", role="status", margin_bottom="1em", high_contrast=True)),
        rx.el.form(
            form_alert(PasswordState.form_error),
            rx.cond(~PasswordState.must_change,
                    text_field("Current password", "current", input_type="password",
                               error=PasswordState.current_error, auto_complete="current-password",
                               max_length=1024, aria_invalid=invalid_flag(PasswordState.current_error))),
            new_password_fields(PasswordState.password_error, PasswordState.confirm_error, label="New password",
                                confirm_label="Confirm new password"),
            submit_button("Change password"),
            on_submit=PasswordState.change_password,
            aria_label="Change password",
        ),
        rx.cond(~PasswordState.must_change,
                rx.el.p(page_link("Back to your portal", routes.PORTAL_HOME),
                        style={"margin_top": "1.5em"})),
    )


def connect_page() -> rx.Component:
    return portal_page("Connect another chart", ConnectChartState.ready, _connect_form())


def _connect_form() -> rx.Component:
    return rx.fragment(
        rx.el.p("With a connection key from the practice you can add another chart to this account: "
                "another of your own records, or the chart of someone you care for (such as your "
                "child). Enter the key and the details on that chart.", style={"margin_bottom": "1em"}),
        rx.el.form(
            form_alert(ConnectChartState.details_error),
            form_alert(ConnectChartState.form_error),
            text_field("Connection key", "key", error=ConnectChartState.key_error,
                       hint="12 letters and digits, like ABCD-EFGH-JKMN. Capital or small "
                            "letters both work.", auto_complete="off", spell_check=False,
                       max_length=64, aria_invalid=invalid_flag(ConnectChartState.key_error)),
            text_field("Last name", "last_name", error=ConnectChartState.last_name_error,
                       auto_complete="family-name", max_length=100,
                       aria_invalid=invalid_flag(ConnectChartState.last_name_error)),
            text_field("Date of birth", "dob", input_type="date",
                       error=ConnectChartState.dob_error,
                       aria_invalid=invalid_flag(ConnectChartState.dob_error)),
            whose_chart_fields(ConnectChartState.whose_error, ConnectChartState.relationship_error),
            submit_button("Connect chart"),
            on_submit=ConnectChartState.connect_chart,
            aria_label="Connect another chart",
        ),
        rx.el.p(page_link("Back to your portal", routes.PORTAL_HOME), style={"margin_top": "1.5em"}),
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(home_page, route=routes.PORTAL_HOME, title="Your patient portal",
                 on_load=[HomeState.load, *home_todos.ON_LOAD])
    app.add_page(password_page, route=routes.PORTAL_PASSWORD, title="Change password | Patient Portal",
                 on_load=PasswordState.load)
    app.add_page(connect_page, route=routes.PORTAL_CONNECT,
                 title="Connect another chart | Patient Portal", on_load=ConnectChartState.load)
