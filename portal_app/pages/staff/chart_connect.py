"""Chart > Patient Portal: the "Connect Patient" wizard (UI only)."""

from __future__ import annotations

import reflex as rx

from portal_app.components.forms import ERROR_COLOR, field_error, form_alert, form_notice
from portal_app.components.styles import HINT, INPUT, LABEL, LINE, MUTED, NARROW_SECTION
from portal_app.services.accounts import RELATIONSHIPS
from portal_app.state.chart import ChartState
from portal_app.state.connect_wizard import OPEN_BUTTON_ID
from portal_app.state.connect_wizard import ConnectWizardState as W

BOX = {"border": f"1px solid {LINE}", "border_radius": "8px", "padding": "0.8em 1em",
       "margin_bottom": "1em"}
ROW = {"display": "flex", "align_items": "center", "gap": "0.4em", "margin_right": "1.2em"}

# Handlers to run when the chart page loads (after ChartState.load).
ON_LOAD: list = [W.reset_wizard]


def _radios(legend: str, group: str, options: list[tuple[str, str]], current: rx.Var,
            on_change, error: rx.Var) -> rx.Component:
    """The channel choice; `error` says beside it why the chart's own address may not get it."""
    return rx.el.fieldset(
        rx.el.legend(legend, style={"font_weight": "600", "margin_bottom": "0.3em"}),
        rx.el.div(
            *[rx.el.div(
                rx.el.input(type="radio", id=f"{group}-{value}", name=group, value=value,
                            checked=current == value, on_change=on_change(value)),
                rx.el.label(label, html_for=f"{group}-{value}"),
                style=ROW,
            ) for value, label in options],
            style={"display": "flex", "flex_wrap": "wrap"},
        ),
        field_error(group, error),
        aria_describedby=f"{group}-error",
        style={"border": "none", "padding": "0", "margin": "0 0 0.8em 0"},
    )


def _address_field(field_id: str, label: rx.Var | str, value: rx.Var, on_change,
                   error: rx.Var) -> rx.Component:
    return rx.el.div(
        rx.el.label(label, html_for=field_id, style=LABEL),
        rx.el.input(id=field_id, type="text", value=value, on_change=on_change, max_length=254,
                    autocomplete="off", spell_check=False,
                    aria_describedby=f"{field_id}-error",
                    aria_invalid=rx.cond(error != "", "true", "false"), style=INPUT),
        field_error(field_id, error),
        style={"margin_bottom": "0.8em", "max_width": "28em"},
    )


def _step_verify() -> rx.Component:
    chart = ChartState.chart
    return rx.fragment(
        rx.el.dl(
            rx.el.dt("Patient", style={"font_weight": "600"}),
            rx.el.dd(chart.name, style={"margin": "0 0 0.5em 0"}),
            rx.el.dt("Date of birth", style={"font_weight": "600"}),
            rx.el.dd(chart.dob, style={"margin": "0 0 0.8em 0"}),
            aria_label="Patient to connect",
        ),
        rx.text("Verify the name and date of birth with the patient, out loud if you can.",
                size="2", color=MUTED, margin_bottom="0.6em"),
        rx.el.div(
            rx.el.input(type="checkbox", id="connect-verify", checked=W.verified,
                        on_change=W.set_verified, style={"width": "1.1em", "height": "1.1em"}),
            rx.el.label("I verify that I am on the correct patient", html_for="connect-verify"),
            style={"display": "flex", "align_items": "center", "gap": "0.5em",
                   "margin_bottom": "1em"},
        ),
        rx.flex(
            rx.button("Cancel", variant="soft", color_scheme="gray", on_click=W.close_wizard),
            rx.button("OK", on_click=W.confirm_patient, disabled=~W.verified),
            gap="0.8em", justify="end",
        ),
    )


def _step_requested_by() -> rx.Component:
    return rx.form(
        rx.el.div(
            rx.el.label("Requested By", html_for="connect-requested-by", style=LABEL),
            rx.el.input(id="connect-requested-by", name="requested_by", type="text",
                        default_value=W.requested_by, max_length=200, autocomplete="off",
                        aria_describedby="connect-requested-by-hint connect-requested-by-error",
                        aria_invalid=rx.cond(W.requested_by_error != "", "true", "false"),
                        style=INPUT),
            rx.el.p("Who asked for portal access, for example \u201cMother - Jane Doe\u201d.",
                    id="connect-requested-by-hint",
                    style=HINT),
            field_error("connect-requested-by", W.requested_by_error),
            style={"margin_bottom": "1em", "max_width": "28em"},
        ),
        rx.flex(
            rx.button("Back", type="button", variant="soft", color_scheme="gray", on_click=W.back),
            rx.button("Next", type="submit"),
            gap="0.8em", justify="end",
        ),
        on_submit=W.submit_requested_by,
        reset_on_submit=False,
    )


def _owner_question() -> rx.Component:
    """The address is another person's account: representative, the patient's own, or an error?"""
    return rx.cond(
        W.owner_warning != "",
        rx.el.div(
            rx.callout(W.owner_warning, icon="triangle_alert", color_scheme="orange", role="alert",
                       high_contrast=True, margin_bottom="0.6em"),
            rx.el.div(
                rx.el.label("Relationship to the patient", html_for="owner-relationship", style=LABEL),
                rx.el.select(rx.el.option("Choose\u2026", value=""),
                             *[rx.el.option(text, value=key) for key, text in RELATIONSHIPS.items()],
                             id="owner-relationship", value=W.owner_relationship,
                             on_change=W.set_owner_relationship,
                             aria_describedby="owner-relationship-error",
                             aria_invalid=rx.cond(W.owner_relationship_error != "", "true", "false"),
                             style={**INPUT, "width": "auto", "min_width": "14em"}),
                field_error("owner-relationship", W.owner_relationship_error),
                style={"margin_bottom": "0.6em"},
            ),
            rx.flex(
                rx.button("Connect as authorized representative", type="button",
                          on_click=W.answer_owner("representative")),
                rx.cond(W.owner_self_possible,
                        rx.button("It is this patient's own account", type="button", variant="outline",
                                  on_click=W.answer_owner("self"))),
                rx.button("Wrong address", type="button", variant="soft", color_scheme="gray",
                          on_click=W.answer_owner("wrong")),
                gap="0.6em", wrap="wrap",
            ),
            style={**BOX, "border_color": ERROR_COLOR},
        ),
    )


def _create_section() -> rx.Component:
    return rx.el.section(
        rx.heading("Create and Connect Account", as_="h3", size="3"),
        rx.text("Practice/patient interaction required: the patient reads the token back to you.",
                size="2", color=MUTED, margin_bottom="0.6em"),
        rx.cond(
            W.connected,
            form_notice(W.create_notice),
            rx.fragment(
                _radios("Send the token by", "create-channel",
                        [("email", "Email Address"), ("sms", "Phone Number")],
                        W.create_channel, W.set_create_channel, W.create_channel_error),
                _address_field("create-address",
                               rx.cond(W.create_channel == "email", "Email address (user ID)",
                                       "Mobile phone number (user ID)"),
                               W.create_address, W.set_create_address, W.create_address_error),
                _owner_question(),
                rx.cond(W.owner_answer == "representative",
                        rx.text("This address will be connected as the patient's authorized representative.",
                                size="2", weight="bold", margin_bottom="0.6em")),
                rx.button(rx.cond(W.token_sent, "Send a new token", "Send Token"),
                          on_click=W.send_token, type="button"),
                rx.box(form_notice(W.create_notice), form_alert(W.create_error), margin_top="0.8em"),
                rx.cond(
                    W.token_sent,
                    rx.form(
                        rx.el.div(
                            rx.el.label("Token", html_for="connect-token", style=LABEL),
                            rx.el.input(id="connect-token", name="token", type="text",
                                        input_mode="numeric", autocomplete="one-time-code",
                                        max_length=64, spell_check=False,
                                        aria_describedby="connect-token-hint connect-token-error",
                                        aria_invalid=rx.cond(W.token_error != "", "true", "false"),
                                        style={**INPUT, "max_width": "10em"}),
                            rx.el.p("The digits the patient reads back to you.", id="connect-token-hint",
                                    style=HINT),
                            field_error("connect-token", W.token_error),
                            style={"margin_bottom": "0.8em"},
                        ),
                        rx.button("Connect Patient", type="submit"),
                        on_submit=W.connect_patient,
                        reset_on_submit=False,
                    ),
                ),
            ),
        ),
        style=BOX, aria_label="Create and Connect Account",
    )


def _key_section() -> rx.Component:
    return rx.el.section(
        rx.heading("Generate Connection Key", as_="h3", size="3"),
        rx.text("No practice/patient interaction required: the patient creates an account with "
                "the key.", size="2", color=MUTED, margin_bottom="0.6em"),
        _radios("Send the key by", "key-channel",
                [("email", "Email Address"), ("sms", "Phone Number"), ("letter", "Letter")],
                W.key_channel, W.set_key_channel, W.key_channel_error),
        rx.cond(
            W.key_channel == "letter",
            rx.el.div(
                rx.el.p("Postal address on file", style=LABEL),
                rx.el.p(rx.cond(W.key_address != "", W.key_address, "No postal address on file.")),
                field_error("key-address", W.key_address_error),
                style={"margin_bottom": "0.8em"},
            ),
            _address_field("key-address",
                           rx.cond(W.key_channel == "email", "Email address", "Mobile phone number"),
                           W.key_address, W.set_key_address, W.key_address_error),
        ),
        rx.button(rx.cond(W.key_channel == "letter", "Print", "Send"), on_click=W.generate_key,
                  type="button"),
        rx.box(
            form_notice(W.key_notice),
            form_alert(W.key_error),
            rx.cond(W.key_shown != "", rx.el.p(
                "Connection key (shown once): ", rx.el.strong(W.key_shown),
                style={"font_size": "1.1em", "letter_spacing": "0.05em"})),
            margin_top="0.8em",
        ),
        style=BOX, aria_label="Generate Connection Key",
    )


def _step_choose() -> rx.Component:
    return rx.fragment(
        rx.text("Requested By: ", rx.el.strong(W.requested_by), margin_bottom="0.8em"),
        _create_section(),
        rx.cond(~W.connected, _key_section()),
        rx.flex(
            rx.cond(~W.connected, rx.button("Back", variant="soft", color_scheme="gray",
                                            on_click=W.back)),
            rx.button("Close", variant="soft", color_scheme="gray", on_click=W.close_wizard),
            gap="0.8em", justify="end",
        ),
    )


def _dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Connect Patient"),
            rx.dialog.description(
                rx.match(W.step, (1, "Step 1 of 3: confirm the patient."),
                         (2, "Step 2 of 3: who requested access?"),
                         "Step 3 of 3: create and connect an account, or send a connection key."),
                size="2", margin_bottom="1em"),
            rx.match(W.step, (1, _step_verify()), (2, _step_requested_by()), _step_choose()),
            max_width="40em",
        ),
        open=W.is_open,
        on_open_change=W.set_open,
    )


def section() -> rx.Component:
    return rx.el.section(
        rx.heading("Connect Patient", as_="h3", size="4", margin_bottom="0.5em"),
        rx.text("Create and connect the patient's account with a token they read back to you, or "
                "send them a connection key.", size="2", color=MUTED, margin_bottom="0.6em"),
        rx.cond(
            ChartState.can_admin_portal,
            rx.fragment(
                rx.button("Connect Patient", on_click=W.open_wizard, id=OPEN_BUTTON_ID,
                          disabled=~ChartState.chart.portal_enabled),
                rx.cond(~ChartState.chart.portal_enabled,
                        rx.text("Enable portal access first.", size="2", color=MUTED,
                                margin_top="0.4em")),
                rx.cond(W.create_error != "", rx.cond(~W.is_open, rx.text(
                    W.create_error, color=ERROR_COLOR, role="alert", margin_top="0.4em"))),
                _dialog(),
            ),
            rx.text("Connecting patients needs Update access to Patient Portal Administration.",
                    size="2", color=MUTED),
        ),
        style=NARROW_SECTION, aria_label="Connect Patient",
    )
