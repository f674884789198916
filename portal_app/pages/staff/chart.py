"""Staff chart page: demographics and the Patient Portal tab (UI only)."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.dialogs import confirm_dialog
from portal_app.components.forms import (
    ERROR_COLOR,
    checkbox_field,
    editable_fieldset,
    form_alert,
    form_notice,
    text_field,
)
from portal_app.components.layout import staff_page
from portal_app.components.notices import loading_or_failed, update_access_needed, view_only_notice
from portal_app.components.styles import (
    HINT,
    INPUT,
    LABEL,
    LINK,
    MUTED,
    NARROW_SECTION,
    OK_COLOR,
    TEXT_SOFT,
)
from portal_app.pages.staff import chart_connect, chart_connections, chart_documents
from portal_app.state.chart import DISABLE_ACCESS_ID, ENABLE_ACCESS_ID, PASSWORD_FIELD_ID, ChartState


def _fact(label: str, value: rx.Var | str) -> rx.Component:
    return rx.el.div(
        rx.el.dt(label, style={"font_weight": "600", "color": TEXT_SOFT}),
        rx.el.dd(rx.cond(value != "", value, "\u2014"), style={"margin": "0 0 0.6em 0"}),
    )


def _summary() -> rx.Component:
    chart = ChartState.chart
    return rx.el.section(
        rx.heading(chart.name, as_="h2", size="5"),
        rx.text("Chart ", chart.chart_number, " \u00b7 DOB ", chart.dob,
                rx.cond(chart.sex != "", rx.fragment(" \u00b7 ", chart.sex)), color=TEXT_SOFT),
        aria_label="Patient",
        style={"margin_bottom": "1em"},
    )


def _demographics() -> rx.Component:
    chart = ChartState.chart
    return rx.el.dl(
        _fact("Name", chart.name),
        _fact("Date of birth", chart.dob),
        _fact("Sex", chart.sex),
        _fact("Chart number", chart.chart_number),
        _fact("Email", chart.email),
        _fact("Mobile phone", chart.mobile_phone),
        _fact("Home phone", chart.home_phone),
        _fact("Address", chart.address),
        style={"display": "grid", "grid_template_columns": "repeat(auto-fill, minmax(14em, 1fr))",
               "gap": "0 1.5em", "max_width": "46em"},
    )


def _consent_box(label: str, field_id: str, checked: rx.Var, channel: str) -> rx.Component:
    return rx.el.div(
        rx.el.input(type="checkbox", id=field_id, checked=checked, disabled=~ChartState.can_admin_portal,
                    on_change=lambda value: ChartState.set_consent(channel, value),
                    style={"width": "1.1em", "height": "1.1em"}),
        rx.el.label(label, html_for=field_id),
        style={"display": "flex", "gap": "0.5em", "align_items": "center", "margin_bottom": "0.4em"},
    )


def _consent() -> rx.Component:
    """What the patient agreed to receive; every send to the chart's own email or mobile obeys it."""
    chart = ChartState.chart
    return rx.el.fieldset(
        rx.el.legend("Messages the patient agreed to receive", style={"font_weight": "600"}),
        _consent_box("Allow email", "consent-email", chart.allow_email, "email"),
        _consent_box("Allow text messages", "consent-sms", chart.allow_sms, "sms"),
        form_notice(ChartState.consent_notice), form_alert(ChartState.consent_error),
        style={"border": "none", "padding": "0", "margin": "0.8em 0 0"},
    )


def _access_section() -> rx.Component:
    chart = ChartState.chart
    disable_dialog = confirm_dialog(
        ("Disable portal access for ", chart.name, "?"),
        ("The patient's portal sessions end at once and any invitation or reset link "
         "stops working. You can enable access again later.",),
        rx.button("Disable access", color_scheme="red", on_click=ChartState.disable_access),
        trigger=rx.button("Disable portal access", color_scheme="red", variant="outline",
                          disabled=~ChartState.can_admin_portal, id=DISABLE_ACCESS_ID),
    )
    return rx.el.section(
        rx.heading("Portal access", as_="h3", size="4", margin_bottom="0.5em"),
        rx.cond(~chart.portal_active, rx.callout(
            "The patient portal is switched off for the whole practice (Portal Settings): "
            "patients cannot sign in and no portal email is sent.",
            icon="info", color_scheme="amber", margin_bottom="0.8em", high_contrast=True)),
        rx.hstack(
            rx.el.span(
                rx.cond(chart.portal_enabled, "Access enabled", "Access not enabled"),
                style={"display": "inline-block", "padding": "0.3em 0.8em", "border_radius": "4px",
                       "color": "#fff", "font_weight": "600",
                       "background": rx.cond(chart.portal_enabled, OK_COLOR, ERROR_COLOR)},
            ),
            rx.text("Account: ", chart.account_label),
            # What an automatic access rule did ("Deceased", "Email changed; invitation voided").
            rx.cond(chart.status_note != "", rx.text(chart.status_note, weight="bold", id="chart-status-note")),
            align="center", gap="1em", margin_bottom="0.8em",
        ),
        rx.cond(chart.portal_enabled, disable_dialog,
                rx.button("Enable portal access", on_click=ChartState.enable_access,
                          disabled=~ChartState.can_admin_portal, id=ENABLE_ACCESS_ID)),
        rx.box(form_notice(ChartState.access_notice), form_alert(ChartState.access_error),
               margin_top="0.8em"),
        style=NARROW_SECTION, aria_label="Portal access",
    )


def _send_section() -> rx.Component:
    chart = ChartState.chart
    return rx.el.section(
        rx.heading("Invitation / password reset email", as_="h3", size="4", margin_bottom="0.5em"),
        rx.cond(
            chart.email != "",
            rx.text("Email on file: ", rx.el.strong(chart.email),
                    rx.cond(~chart.allow_email, rx.fragment(" (the patient has not agreed to email)"))),
            rx.text("No email on file. Set a username and password by hand below instead."),
        ),
        rx.text(rx.cond(chart.has_account,
                        "The patient has an account: this sends a link to choose a new password.",
                        "The patient has no account yet: this sends a link to set one up."),
                size="2", color=MUTED, margin_bottom="0.6em"),
        rx.button(
            rx.cond(chart.has_account, "Send password reset email", "Send invitation email"),
            on_click=ChartState.send_email,
            disabled=(~ChartState.can_admin_portal) | (chart.email == "") | (~chart.portal_enabled)
            | (~chart.allow_email),
        ),
        rx.cond(~chart.portal_enabled & (chart.email != ""),
                rx.text("Enable portal access first.", size="2", color=MUTED, margin_top="0.4em")),
        rx.box(form_notice(ChartState.send_notice), form_alert(ChartState.send_error),
               margin_top="0.8em"),
        style=NARROW_SECTION, aria_label="Invitation or password reset email",
    )


def _account_summary() -> rx.Component:
    chart = ChartState.chart
    return rx.cond(
        chart.has_account,
        rx.el.dl(
            _fact("Current user ID", chart.account_user_id),
            _fact("Account status", chart.account_status_label),
            _fact("Last sign-in", chart.account_last_sign_in),
            _fact("Must choose a new password", rx.cond(chart.account_must_change, "Yes", "No")),
            style={"display": "grid", "grid_template_columns": "repeat(auto-fill, minmax(12em, 1fr))",
                   "gap": "0 1.5em"},
            aria_label="Current portal account",
        ),
        rx.text("No portal account yet.", margin_bottom="0.6em"),
    )


def _username_field() -> rx.Component:
    return rx.el.div(
        rx.el.label("Patient's Username", html_for="portal-username",
                    style=LABEL),
        rx.debounce_input(
            rx.el.input(id="portal-username", name="username", type="text",
                        value=ChartState.username, on_change=ChartState.check_username,
                        autocomplete="off", spell_check=False, max_length=254,
                        aria_describedby="portal-username-hint portal-username-status",
                        aria_invalid=rx.cond((ChartState.username_message != "") & ~ChartState.username_ok,
                                             "true", "false"),
                        style=INPUT),
            debounce_timeout=350,
        ),
        rx.el.p("An email address (preferred) or a mobile phone number.", id="portal-username-hint",
                style=HINT),
        rx.el.p(ChartState.username_message, id="portal-username-status", aria_live="polite",
                style={"color": rx.cond(ChartState.username_ok, OK_COLOR, ERROR_COLOR),
                       "font_weight": "600", "font_size": "0.9em", "margin": "0.2em 0 0",
                       "min_height": "1.2em"}),
        style={"margin_bottom": "1em", "max_width": "28em"},
    )


def _account_section() -> rx.Component:
    return rx.el.section(
        rx.heading("Portal username and password", as_="h3", size="4", margin_bottom="0.5em"),
        _account_summary(),
        rx.cond(ChartState.can_account_setup,
                rx.el.p(rx.el.a("Configure accounts and representatives in Portal Account Setup",
                                href=ChartState.account_setup_href,
                                style=LINK),
                        style={"margin_bottom": "0.6em"})),
        rx.cond(~ChartState.chart.portal_enabled,
                rx.text("Enable portal access before setting a username or password.",
                        size="2", color=MUTED, margin_bottom="0.6em")),
        rx.form(
            editable_fieldset(
                ChartState.can_admin_portal,
                rx.el.legend("Set the username and password by hand", style={"font_weight": "600",
                                                                             "margin_bottom": "0.6em"}),
                _username_field(),
                checkbox_field("Manually set patient's portal password", "manual-set-password",
                               ChartState.set_password, ChartState.toggle_set_password),
                rx.cond(
                    ChartState.set_password,
                    text_field("Password", PASSWORD_FIELD_ID, name="password", input_type="password",
                               error=ChartState.password_error, autocomplete="new-password",
                               max_length=128,
                               hint="At least 10 characters; a phrase of unrelated words works well."),
                ),
                checkbox_field("Require a new password at first sign-in", "force-change",
                               ChartState.force_change, ChartState.toggle_force_change),
                error=ChartState.account_error,
                notice=ChartState.account_notice,
                submit="Save portal account",
            ),
            on_submit=ChartState.save_account,
            reset_on_submit=False,
        ),
        style=NARROW_SECTION, aria_label="Portal username and password",
    )


def _account_setup_link() -> rx.Component:
    """ClinicTracker's "Patient Portal Account" link below the demographics: the same setup form."""
    return rx.cond(ChartState.can_account_setup,
                   rx.el.p(rx.el.a("Patient Portal Account", href=ChartState.account_setup_href, style=LINK),
                           style={"margin_top": "0.6em"}))


def _portal_tab() -> rx.Component:
    return rx.box(_access_section(), chart_connect.section(), _send_section(), _account_section(),
                  chart_connections.section(), chart_documents.section(), padding_top="1em")


def _chart() -> rx.Component:
    return rx.fragment(
        rx.el.p(rx.el.a("\u2190 Patient Portal Onboarding", href=routes.ONBOARDING,
                        style=LINK),
                style={"margin_bottom": "0.8em"}),
        _summary(),
        view_only_notice(ChartState.can_admin_portal,
                         update_access_needed("this chart's portal settings", "Patient Portal Administration")),
        rx.tabs.root(
            rx.tabs.list(
                rx.tabs.trigger("Patient Portal", value="portal"),
                rx.tabs.trigger("Demographics", value="demographics"),
            ),
            rx.tabs.content(_portal_tab(), value="portal"),
            rx.tabs.content(rx.box(_demographics(), _consent(), _account_setup_link(), padding_top="1em"),
                            value="demographics"),
            default_value="portal",
        ),
    )


def chart_page() -> rx.Component:
    return staff_page(
        "Patient chart",
        ChartState.loaded,
        _chart(),
        before=loading_or_failed(ChartState.load_error),
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(chart_page, route=routes.PATIENT_CHART, title="Patient chart",
                 on_load=[ChartState.load, *chart_connect.ON_LOAD, *chart_connections.ON_LOAD,
                          *chart_documents.ON_LOAD])
