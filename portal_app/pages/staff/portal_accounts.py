"""Portal Account Setup (`/staff/portal-accounts`): accounts connected to a chart (UI only).

Reached from the chart (`?patient=ID`) or from the menu (search for the patient first).
"""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.dialogs import confirm_dialog
from portal_app.components.forms import checkbox_field, field_error, form_alert, form_notice, invalid_flag
from portal_app.components.layout import staff_page
from portal_app.components.notices import loading_or_failed, update_access_needed, view_only_notice
from portal_app.components.styles import (
    BOLD_CAPTION,
    CHECK_ROW,
    COMPACT_HEAD,
    DISABLED_BG,
    DISABLED_FIELDSET,
    ERROR_COLOR,
    FIELD,
    HINT,
    INPUT,
    LABEL,
    LINE,
    LINK,
    MUTED,
    OK_COLOR,
    SECTION,
    TEXT_SOFT,
)
from portal_app.components.styles import COMPACT_CELL as CELL
from portal_app.components.table import data_table
from portal_app.services.areas import AREA_LABELS
from portal_app.services.form_requests import FORM_LABELS
from portal_app.services.onboarding import PatientRow
from portal_app.services.portal_accounts import RELATIONSHIPS, ConnectionItem
from portal_app.state.portal_accounts import PortalAccountsState as S

CHECKS = {**CHECK_ROW, "margin_bottom": "0.4em"}
FIELDSET = {"border": f"1px solid {LINE}", "border_radius": "6px", "padding": "0.6em 1em",
            "margin": "0 0 1em 0", "max_width": "28em"}


# ---- picker ---------------------------------------------------------------------------------


def _result(row: PatientRow) -> rx.Component:
    return rx.el.li(
        rx.button(row.name, " \u00b7 Chart ", row.chart_number, " \u00b7 DOB ", row.dob,
                  variant="outline", on_click=S.choose_patient(row.id),
                  style={"justify_content": "flex-start", "width": "100%"}),
        style={"margin_bottom": "0.4em"},
    )


def _picker() -> rx.Component:
    return rx.el.section(
        rx.heading("Choose a patient", as_="h2", size="4", margin_bottom="0.5em"),
        rx.el.div(
            rx.el.label("Find a patient", html_for="patient-search", style=LABEL),
            rx.debounce_input(
                rx.el.input(id="patient-search", type="search", value=S.search,
                            on_change=S.search_patients, autocomplete="off", max_length=100,
                            aria_describedby="patient-search-hint", style=INPUT),
                debounce_timeout=300,
            ),
            rx.el.p("Last name, \u201cLast, First\u201d, chart number, date of birth or email.",
                    id="patient-search-hint", style=HINT),
            style=FIELD,
        ),
        rx.el.p(S.search_message, role="status", style={"color": TEXT_SOFT, "min_height": "1.2em"}),
        rx.el.ul(rx.foreach(S.results, _result), aria_label="Matching patients",
                 style={"list_style": "none", "padding": "0", "max_width": "40em"}),
        style=SECTION, aria_label="Choose a patient",
    )


# ---- the chart's connections ------------------------------------------------------------------


def _connection_row(row: ConnectionItem) -> rx.Component:
    selected = S.selected_id == row.id
    return rx.el.tr(
        rx.el.th(row.user_id, scope="row", style={**CELL, "font_weight": "600",
                                                  "overflow_wrap": "anywhere"}),
        rx.el.td(row.first_name, " ", row.last_name, style=CELL),
        rx.el.td(row.access_label, rx.cond(row.relationship != "", rx.fragment(" (", row.relationship_label, ")")),
                 style=CELL),
        rx.el.td(row.permission_labels, style=CELL),
        rx.el.td(row.status_label, style=CELL),
        rx.el.td(row.last_sign_in, style=CELL),
        rx.el.td(
            rx.button(rx.cond(selected, "Selected", "Select"), size="1",
                      variant=rx.cond(selected, "solid", "outline"),
                      aria_label="Select " + row.user_id, aria_pressed=rx.cond(selected, "true", "false"),
                      on_click=S.select_connection(row.id)),
            style=CELL,
        ),
        style={"background": rx.cond(selected, "#eef4fb", "transparent")},
    )


def _connections() -> rx.Component:
    return rx.el.section(
        rx.heading("Connected accounts", as_="h2", size="4", margin_bottom="0.5em"),
        rx.cond(
            S.connections.length() > 0,
            data_table(("Username", "Name", "Access Type", "Account Permissions", "Status", "Last sign-in", "Edit"),
                       S.connections, _connection_row,
                       caption="Accounts connected to this chart: select one to change it",
                       caption_style=BOLD_CAPTION, head=COMPACT_HEAD, style={"font_size": "0.9em"}),
            rx.text("No portal account is connected to this chart yet."),
        ),
        style=SECTION, aria_label="Connected accounts",
    )


# ---- credentials shown once ------------------------------------------------------------------


def _credentials() -> rx.Component:
    mono = {"font_family": "monospace", "font_size": "1.1em"}
    return rx.cond(
        S.has_credentials,
        rx.el.section(
            rx.heading("New credentials (shown only now)", as_="h2", size="4", margin_bottom="0.5em"),
            rx.el.dl(
                rx.el.dt("Portal address", style={"font_weight": "600"}),
                rx.el.dd(S.cred_portal_url, style={"margin": "0 0 0.5em 0"}),
                rx.el.dt("Username", style={"font_weight": "600"}),
                rx.el.dd(S.cred_user_id, style={**mono, "margin": "0 0 0.5em 0"}),
                rx.el.dt("Password", style={"font_weight": "600"}),
                rx.el.dd(S.cred_password, id="new-password", style={**mono, "margin": "0 0 0.5em 0"}),
            ),
            rx.cond(S.cred_must_change,
                    rx.text("They must choose a new password at first sign-in",
                            rx.cond(S.cred_expires != "", rx.fragment("; this one works until ",
                                                                       S.cred_expires)), ".",
                            size="2", margin_bottom="0.6em")),
            rx.hstack(
                rx.button(rx.icon("copy", aria_hidden="true"), "Copy", type="button", id="copy-credentials",
                          on_click=[rx.set_clipboard(S.credential_message),
                                    rx.toast.success("Credential message copied.")]),
                rx.button(rx.icon("key_round", aria_hidden="true"), "Copy password", type="button",
                          variant="outline",
                          on_click=[rx.set_clipboard(S.cred_password), rx.toast.success("Password copied.")]),
                rx.button(rx.icon("printer", aria_hidden="true"), "Print credential sheet", type="button",
                          variant="outline", on_click=S.print_sheet),
                rx.button("Done", type="button", variant="soft", color_scheme="gray",
                          on_click=S.done_credentials),
                gap="0.6em", wrap="wrap",
            ),
            rx.cond(S.cred_copied,
                    rx.text("Password copied to the clipboard: paste it with Ctrl+V.", id="password-copied",
                            size="2", weight="bold", color=OK_COLOR, margin_top="0.6em")),
            rx.text("Leaving this page, or any other action here, removes them from the screen.",
                    size="2", color=MUTED, margin_top="0.6em"),
            style={**SECTION, "border": f"2px solid {OK_COLOR}"}, aria_label="New credentials",
            on_unmount=S.forget_credentials,
        ),
    )


# ---- the form -------------------------------------------------------------------------------


def _text_input(label: str, field_id: str, value, on_change, error, *, hint="",
                read_only=False, extra: rx.Component | None = None, wide: bool = False) -> rx.Component:
    described = f"{field_id}-error {field_id}-hint {field_id}-status"
    return rx.el.div(
        rx.el.label(label, html_for=field_id, style=LABEL),
        rx.hstack(
            rx.debounce_input(
                rx.el.input(id=field_id, name=field_id, type="text", value=value, on_change=on_change,
                            autocomplete="off", spell_check=False, max_length=254,
                            read_only=read_only, aria_describedby=described,
                            aria_invalid=invalid_flag(error),
                            style={**INPUT, "flex": "1", "min_width": "12em",
                                   "background": rx.cond(read_only, DISABLED_BG, "white")}),
                debounce_timeout=350,
            ),
            extra or rx.fragment(),
            align="center", gap="0.5em", width="100%", wrap="wrap",
        ),
        rx.el.p(hint, id=f"{field_id}-hint", style=HINT)
        if isinstance(hint, rx.Var) or hint else rx.fragment(),
        field_error(field_id, error),
        style={**FIELD, "max_width": "36em"} if wide else FIELD,
    )


def _username() -> rx.Component:
    wand = rx.button(rx.icon("wand_sparkles", aria_hidden="true"), "Fill from chart", type="button",
                     variant="outline", on_click=S.fill_from_chart, aria_label="Fill from chart",
                     title="Load the patient's name and email from the chart",
                     style={"white_space": "nowrap"})
    return rx.el.div(
        _text_input("Username", "username", S.username, S.check_username, S.username_error,
                    hint=rx.cond(S.selected_id > 0,
                                 "The username of an existing account cannot be changed here.",
                                 rx.cond(S.is_representative,
                                         "The representative's email address: the link to choose "
                                         "a password is sent there.",
                                         "An email address is preferred; a phone number or a plain "
                                         "username also works.")),
                    read_only=S.selected_id > 0, extra=wand, wide=True),
        rx.el.p(S.username_message, id="username-status", aria_live="polite",
                style={"color": rx.cond(S.username_ok, OK_COLOR, ERROR_COLOR), "font_weight": "600",
                       "font_size": "0.9em", "margin": "-0.8em 0 0.6em", "min_height": "1.2em",
                       "max_width": "40em"}),
        rx.cond((S.username_suggestion != "") & (S.selected_id == 0),
                rx.button("Use ", S.username_suggestion, type="button", size="1", variant="outline",
                          on_click=S.use_suggestion, margin_bottom="0.6em")),
        rx.cond(S.username_connectable & (S.selected_id == 0),
                rx.el.div(
                    rx.el.input(type="checkbox", id="connect-existing", name="connect-existing",
                                checked=S.connect_existing,
                                on_change=S.toggle_connect_existing,
                                style={"width": "1.1em", "height": "1.1em"}),
                    rx.el.label("Connect the existing account (as Authorized Representative)",
                                html_for="connect-existing"),
                    style=CHECKS,
                )),
    )


def _select(label: str, field_id: str, value, on_change, options: list[tuple[str, str]], error,
            placeholder: str = "") -> rx.Component:
    choices = ([rx.el.option(placeholder, value="")] if placeholder else []) + [
        rx.el.option(text, value=key) for key, text in options]
    return rx.el.div(
        rx.el.label(label, html_for=field_id, style=LABEL),
        rx.el.select(*choices, id=field_id, name=field_id, value=value, on_change=on_change,
                     aria_describedby=f"{field_id}-error", aria_invalid=invalid_flag(error),
                     style={**INPUT, "width": "auto", "min_width": "16em"}),
        field_error(field_id, error),
        style=FIELD,
    )


def _checkbox(field_id: str, label: str, checked, on_change) -> rx.Component:
    return checkbox_field(label, field_id, checked, on_change, margin_bottom="0.4em")


def _forms() -> rx.Component:
    return rx.el.fieldset(
        rx.el.legend("Request Forms", style={"font_weight": "600", "padding": "0 0.3em"}),
        rx.el.p("The patient sees these as to-dos on the portal home until they send them.",
                style={"color": MUTED, "font_size": "0.85em", "margin": "0 0 0.4em"}),
        *[_checkbox(f"form-{form.value}", label, S.forms.contains(form.value), S.flip_form(form.value))
          for form, label in FORM_LABELS.items()],
        rx.cond(S.open_forms.length() > 0,
                rx.el.p("Already requested: ",
                        rx.foreach(S.open_forms, lambda r: rx.el.span(r.label, " (", r.requested_on, ") ")),
                        style={"font_size": "0.85em", "color": TEXT_SOFT, "margin": "0.3em 0 0"})),
        field_error("forms", S.forms_error),
        style=FIELDSET,
    )


def _permissions() -> rx.Component:
    return rx.el.fieldset(
        rx.el.legend("Account Permissions", style={"font_weight": "600", "padding": "0 0.3em"}),
        rx.el.p(rx.cond(S.is_representative,
                        "Choose each area this representative may use.",
                        "The portal areas this connection may use."),
                id="permissions-hint",
                style={"color": MUTED, "font_size": "0.85em", "margin": "0 0 0.4em"}),
        *[_checkbox(f"area-{area.value}", label, S.permissions.contains(area.value),
                    S.flip_permission(area.value)) for area, label in AREA_LABELS.items()],
        field_error("permissions", S.permissions_error),
        aria_describedby="permissions-hint permissions-error",
        style={**FIELDSET, "border_color": rx.cond(S.permissions_error != "", ERROR_COLOR, LINE)},
    )


def _young_self() -> rx.Component:
    """Asked when Save found a Self account on the chart of a young child."""
    return rx.cond(
        (S.confirm_young_error != "") | S.confirm_young,
        rx.el.div(
            field_error("confirm_young", S.confirm_young_error),
            _checkbox("confirm-young", "Yes, this child signs in with their own Self account", S.confirm_young,
                      S.toggle_confirm_young),
            style={**FIELD, "max_width": "40em"},
        ),
    )


def _buttons() -> rx.Component:
    return rx.hstack(
        rx.button("Save", type="submit", disabled=~S.can_change),
        rx.cond(S.selected_id > 0, rx.fragment(
            rx.button("Delete", type="button", color_scheme="red", variant="outline", id="delete-button",
                      on_click=S.ask_delete, disabled=~S.can_change),
            rx.button("Reset Pwd", type="button", variant="outline", on_click=S.ask_reset, id="reset-button",
                      disabled=~S.can_change),
            rx.button("Send reset link", type="button", variant="outline", on_click=S.send_reset_link,
                      disabled=~S.can_change),
        )),
        rx.button("New", type="button", variant="soft", on_click=S.new_form),
        gap="0.6em", wrap="wrap", margin_top="0.4em",
    )


def _form() -> rx.Component:
    return rx.el.section(
        rx.heading(rx.cond(S.selected_id > 0, "Edit connection", "New connection"), as_="h2", size="4",
                   margin_bottom="0.6em"),
        form_notice(S.notice),
        form_alert(S.error),
        rx.form(
            rx.el.fieldset(
                rx.el.legend("Account", style={"position": "absolute", "left": "-9999px"}),
                _username(),
                _text_input("First Name", "first_name", S.first_name, S.set_first_name, S.first_name_error,
                            hint="The name of the person who signs in."),
                _text_input("Last Name", "last_name", S.last_name, S.set_last_name, S.last_name_error),
                _select("Access Type", "access_type", S.access_type, S.set_access_type,
                        [("self", "Self"), ("representative", "Authorized Representative")],
                        S.access_type_error),
                rx.cond(S.is_representative,
                        _select("Relationship", "relationship", S.relationship, S.set_relationship,
                                list(RELATIONSHIPS.items()), S.relationship_error,
                                placeholder="Choose\u2026")),
                rx.cond(S.force_change_applies,
                        _checkbox("force-change", "Force Password Change on Next Login", S.force_change,
                                  S.toggle_force_change),
                        rx.el.p(rx.cond(S.selected_id > 0,
                                        "This account has no password yet: its owner chooses one from "
                                        "the emailed link (Send reset link sends a fresh one).",
                                        "A new representative has no password to change: they choose "
                                        "their own from the emailed link."),
                                id="force-change-note",
                                style={"color": MUTED, "font_size": "0.9em", "margin": "0 0 0.4em"})),
                _young_self(),
                rx.box(height="0.6em"),
                _forms(),
                _permissions(),
                _buttons(),
                disabled=~S.can_change,
                style={**DISABLED_FIELDSET, "position": "relative",
                       "& select:disabled": {"background": DISABLED_BG, "color": TEXT_SOFT}},
            ),
            on_submit=S.save,
            reset_on_submit=False,
        ),
        style=SECTION, aria_label="Account form",
    )


def _dialogs() -> rx.Component:
    def confirm(open_, on_open_change, title, description, action, on_confirm) -> rx.Component:
        return confirm_dialog(title, description,
                              rx.button(action, color_scheme="red", high_contrast=True, on_click=on_confirm),
                              open=open_, on_open_change=on_open_change)

    return rx.fragment(
        confirm(S.delete_open, S.set_dialog_open, ("Delete ", S.delete_label, "?"),
                ("This account loses access to this chart at once. ", S.delete_detail),
                "Delete connection", S.delete),
        confirm(S.reset_open, S.set_dialog_open, ("Reset the password of ", S.username, "?"),
                ("The current password stops working and every portal session of this account "
                 "ends. A new password is shown once; ",
                 rx.cond(S.force_change, "they must replace it at their next sign-in.",
                         "they may keep it (Force Password Change on Next Login is off)."),
                 " To let them choose their own instead, cancel and use Send reset link."),
                "Reset password", S.reset_password),
    )


def _chart_header() -> rx.Component:
    chart = S.chart
    return rx.el.section(
        rx.hstack(
            rx.vstack(
                rx.heading(chart.list_name, as_="h2", size="5", id="chart-heading", tab_index=-1),
                rx.text("Chart ", chart.chart_number, " \u00b7 DOB ", chart.dob,
                        rx.cond(chart.email != "", rx.fragment(" \u00b7 ", chart.email)), color=TEXT_SOFT),
                spacing="1",
            ),
            rx.spacer(),
            rx.el.a("Open the chart", href=S.chart_href, style=LINK),
            rx.cond(S.can_user_management,
                    rx.el.a("All portal users (User Management)", href=routes.PORTAL_USERS, style=LINK)),
            rx.button("Change patient", variant="outline", on_click=S.change_patient),
            align="center", gap="1em", wrap="wrap",
        ),
        rx.cond(~chart.portal_enabled,
                rx.callout("Portal access is not enabled for this patient: enable it on the chart "
                           "before connecting accounts.", icon="info", color_scheme="amber",
                           high_contrast=True, margin_top="0.6em")),
        aria_label="Patient", style={"margin_bottom": "1em", "max_width": "60em"},
    )


def portal_accounts_page() -> rx.Component:
    return staff_page(
        "Portal Account Setup",
        S.loaded,
        view_only_notice(S.can_change, update_access_needed("portal accounts", "Portal Account Setup")),
        form_alert(S.load_error),
        rx.cond(
            S.has_chart,
            rx.fragment(_chart_header(), _credentials(), _connections(), _form(), _dialogs()),
            rx.fragment(rx.cond(S.error != "", form_alert(S.error)), _picker()),
        ),
        before=loading_or_failed(S.load_error),
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(portal_accounts_page, route=routes.PORTAL_ACCOUNTS, title="Portal Account Setup",
                 on_load=S.load)
