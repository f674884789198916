"""/staff/onboarding: every patient with a status rectangle, invitations, search, bulk."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.dialogs import confirm_dialog
from portal_app.components.filters import filter_bar, no_match, option_filter, search_box
from portal_app.components.forms import checkbox_field, field_error, text_field
from portal_app.components.layout import staff_page
from portal_app.components.notices import no_permission_or_loading
from portal_app.components.paging import counted_keyset_pager, jump_bar
from portal_app.components.status import GREEN, RED, STATUS_RULES, status_rectangle
from portal_app.components.styles import (
    CELL,
    CONTROL,
    EMPTY,
    FOCUS_RING,
    FOCUSABLE_LINK,
    HEAD,
    LABEL,
    LINK_BUTTON,
    MUTED,
    PANEL,
    PANEL_BG,
    VISUALLY_HIDDEN,
    WARN_COLOR,
)
from portal_app.components.table import data_table
from portal_app.pages.staff.new_patient import new_patient_button
from portal_app.services.onboarding import PatientRow
from portal_app.state.onboarding import OnboardingState as S
from portal_app.state.onboarding_bulk import BULK_MATCHING_ID, BULK_SELECTED_ID
from portal_app.state.onboarding_list import (
    JUMP_LETTER_ID,
    JUMP_PAGE_ID,
    LETTERS,
    STATUS_OPTIONS,
    access_button_id,
)
from portal_app.state.onboarding_selection import SELECT_PAGE_ID

# The status rectangles sit in the middle of their row.
MIDDLE_CELL = {**CELL, "vertical_align": "middle"}
MIDDLE_HEAD = {**HEAD, "vertical_align": "middle"}
# An automatic rule's note under the account state: small, but bold and dark enough to read.
STATUS_NOTE = {"color": WARN_COLOR, "font_size": "0.85em", "font_weight": "600", "margin_top": "0.15em"}
ROW_CHECKBOX = {"width": "1.2em", "height": "1.2em", "cursor": "pointer", "_focus_visible": FOCUS_RING}
# The list rows' look, as rules on the table (one per kind of cell) instead of a style on each of
# the 50 rows' cells: React then draws a page of rows without styling several hundred elements.
ROW_RULES = {
    "& tbody td, & tbody th": MIDDLE_CELL,
    "& tbody th": {"font_weight": "600"},
    "& tbody a": FOCUSABLE_LINK,
    "& .row-email": LINK_BUTTON,
    "& .row-no-email": EMPTY,
    "& .row-note": STATUS_NOTE,
    "& .row-select": ROW_CHECKBOX,
    "& .row-hidden": VISUALLY_HIDDEN,
    **STATUS_RULES,
}


def _filters() -> rx.Component:
    return filter_bar(
        search_box("onboarding-search", S.search, S.set_search,
                   placeholder="Name, chart number, date of birth or email",
                   hint="Last name first (\u201cLopez, Ma\u201d), a chart number, a date as "
                        "MM/DD/YYYY, or the start of an email address."),
        option_filter("Status", "onboarding-status", STATUS_OPTIONS, S.status, S.set_status),
    )


def _bulk_bar() -> rx.Component:
    return rx.el.div(
        rx.el.span(S.selected_count, " selected", aria_live="polite",
                   style={"font_weight": "600", "margin_right": "0.5em"}),
        rx.button("Enable and invite selected", on_click=S.ask_bulk_selected,
                  disabled=S.selected_count == 0, id=BULK_SELECTED_ID),
        rx.button("Clear selection", on_click=S.clear_selection, variant="outline",
                  disabled=S.selected_count == 0),
        rx.button("Enable and invite all matching", on_click=S.ask_bulk_matching, variant="outline",
                  id=BULK_MATCHING_ID),
        rx.cond(S.bulk_error != "",
                rx.el.p(S.bulk_error, role="alert", style={"color": RED, "margin": "0", "width": "100%"})),
        style={"display": "flex", "flex_wrap": "wrap", "align_items": "center", "gap": "0.6em",
               "margin_bottom": "1em"},
    )


def _job_panel() -> rx.Component:
    return rx.cond(
        S.job_id != 0,
        rx.el.section(
            rx.heading("Enable and invite", as_="h2", size="4", id="bulk-job-heading",
                       margin_bottom="0.4em"),
            rx.progress(value=S.job_percent, max=100, aria_label="Enable and invite progress",
                        id="bulk-progress", width="100%", max_width="36em"),
            rx.el.p(S.job_processed, " of ", S.job_total, " patients processed (", S.job_percent, "%)",
                    style={"margin": "0.4em 0", "color": MUTED}),
            # Always present so that screen readers announce the summary when it appears.
            rx.el.p(rx.cond(S.job_status == "running", "",
                            rx.cond(S.job_status == "done", "Done. ", "Stopped. ") + S.job_summary),
                    role="status", style={"font_weight": "600", "margin": "0.2em 0"}),
            rx.cond(S.job_error != "", rx.el.p(S.job_error, role="alert", style={"color": RED})),
            rx.cond(S.job_can_resume,
                    rx.button("Resume: invite the rest", on_click=S.resume_bulk, margin_right="0.5em")),
            rx.cond(S.job_status != "running",
                    rx.button("Dismiss", on_click=S.dismiss_job, variant="outline")),
            aria_labelledby="bulk-job-heading",
            style={**PANEL, "background": PANEL_BG},
        ),
    )


def _checkbox(control_id, label, checked, on_change, key) -> rx.Component:
    # Uncontrolled (default_checked) so the tick shows on click, before the server answers;
    # the key changes when the server changes the selection, which redraws the box.
    return rx.el.span(
        rx.el.input(type="checkbox", id=control_id, default_checked=checked, on_change=on_change,
                    key=key,
                    style={"width": "1.2em", "height": "1.2em", "cursor": "pointer",
                           "_focus_visible": FOCUS_RING}),
        rx.el.label(label, html_for=control_id, style=VISUALLY_HIDDEN),
    )


@rx.memo
def patient_row(row: rx.Var[PatientRow], latest: rx.Var[PatientRow], changed: rx.Var[bool],
                selected: rx.Var[bool], epoch: rx.Var[int]) -> rx.Component:
    """One line of the list, drawn again only when its own props change (React's memo).

    `row` is the row as fetched and `latest` its change since (`changed`), both from
    state/onboarding_list.py; a click that changes one row redraws that row alone. The cells
    are styled by the table's `ROW_RULES`.
    """
    enabled = rx.cond(changed, latest.enabled, row.enabled)
    account_label = rx.cond(changed, latest.account_label, row.account_label)
    status_note = rx.cond(changed, latest.status_note, row.status_note)
    select_id = f"select-{row.id}"
    return rx.el.tr(
        rx.el.td(rx.el.span(
            # Uncontrolled (default_checked), as `_checkbox`; the key redraws it when the server
            # changes the selection.
            rx.el.input(type="checkbox", id=select_id, default_checked=selected,
                        on_change=lambda checked: S.toggle_selected(row.id, checked),
                        key=f"{row.id}-{epoch}", class_name="row-select"),
            rx.el.label(f"Select {row.name}", html_for=select_id, class_name="row-hidden"),
        )),
        rx.el.td(status_rectangle(enabled=enabled, name=row.name,
                                  on_click=S.toggle_access(row.id),
                                  button_id=access_button_id(row.id))),
        rx.el.td(
            account_label,
            # What an automatic access rule did ("Deceased", "Merged into chart 12345"), beside the state.
            rx.cond(status_note != "", rx.el.div(status_note, class_name="row-note")),
        ),
        rx.el.th(rx.el.a(row.name, href=routes.patient_chart(row.id)), scope="row"),
        rx.el.td(row.dob),
        rx.el.td(row.chart_number),
        rx.el.td(
            rx.cond(row.email != "",
                    rx.el.button(row.email, type="button", on_click=S.send_email(row.id), class_name="row-email",
                                 title="Send an invitation or a password-reset email to this address"),
                    rx.el.span("No email on file", class_name="row-no-email")),
        ),
    )


def _patient_row(row: rx.Var[PatientRow], index: rx.Var[int]) -> rx.Component:
    """Keyed by position: Next page gives the 50 lines new props and React updates their
    elements in place instead of removing 50 lines and building 50 (what each line holds of
    its own, the selection box, is keyed by the patient's id)."""
    key = row.id.to_string()
    return rx.fragment(
        patient_row(row=row, latest=S.changed_rows[key], changed=S.changed_rows.contains(key),
                    selected=S.selected_ids.contains(row.id), epoch=S.selection_epoch),
        key=index)


def _table() -> rx.Component:
    select_page = _checkbox(SELECT_PAGE_ID, "Select all on this page", S.page_all_selected, S.toggle_page,
                            key=f"page-{S.selection_epoch}-{S.page_all_selected}")
    return data_table(
        (select_page, "Portal access", "Account", "Name", "Date of birth", "Chart number", "Email"),
        S.rows, _patient_row, head=MIDDLE_HEAD, style={"min_width": "52em", **ROW_RULES},
        caption="Patients, in name order. Red: portal access not enabled. Green: enabled.",
    )


def _jump_form(label: str, control: rx.Component, control_id: str, button: str, on_submit) -> rx.Component:
    return rx.el.form(
        rx.el.div(rx.el.label(label, html_for=control_id, style=LABEL), control),
        rx.button(button, type="submit", variant="outline"),
        on_submit=on_submit, reset_on_submit=False,
        style={"display": "flex", "align_items": "flex-end", "gap": "0.5em"},
    )


def _jumps() -> rx.Component:
    """The count, and jumps to a page number or to a letter of the alphabet (keyset seeks)."""
    described = {"aria_describedby": "onboarding-jump-error"}
    # No min/max: the browser's own range message would stand in for ours, beside the field.
    page_input = rx.el.input(id=JUMP_PAGE_ID, name="page", type="text", input_mode="numeric",
                             auto_complete="off", style={**CONTROL, "width": "7em"}, **described)
    letter_select = rx.el.select(*[rx.el.option(letter, value=letter) for letter in LETTERS],
                                 id=JUMP_LETTER_ID, name="letter", style=CONTROL, **described)
    return rx.el.div(
        jump_bar(
            S,
            _jump_form("Page number", page_input, JUMP_PAGE_ID, "Go to page", S.go_to_page),
            _jump_form("Last names from", letter_select, JUMP_LETTER_ID, "Jump to letter", S.go_to_letter),
            status_id="patient-list-status",
        ),
        field_error("onboarding-jump", S.jump_error),
    )


def _disable_dialog() -> rx.Component:
    return confirm_dialog(
        ("Disable portal access for ", S.confirm_name, "?"),
        ("They will be signed out of the portal, and invitation or reset links already "
         "sent to them will stop working.",),
        rx.button("Disable access", on_click=S.confirm_disable, style={"background": RED, "color": "white"}),
        open=S.confirm_id != 0,
        on_open_change=S.set_confirm_open,
        spacing="3",
    )


def _bulk_dialog() -> rx.Component:
    """The bulk confirmation: "send again" for live invitations, and above 1,000 patients the
    number typed to confirm. Start is a plain button, so a refused number keeps the dialog open."""
    return rx.alert_dialog.root(rx.alert_dialog.content(
        rx.alert_dialog.title(rx.cond(S.bulk_scope == "selected",
                                      f"Enable and invite {S.bulk_count} selected patients?",
                                      f"Enable and invite all {S.bulk_count} matching patients?")),
        rx.alert_dialog.description(
            "Portal access is turned on for each of them. Those with an email on file that allow email "
            "and have no portal account yet get an invitation; those already invited whose link still "
            "works, and the others, are skipped and counted. It keeps running if you leave this page."),
        rx.el.div(checkbox_field("Send again to patients already invited (their current link stops working)",
                                 "bulk-resend", S.bulk_resend, S.set_bulk_resend, margin_bottom="0.4em"),
                  style={"margin_top": "0.8em"}),
        rx.cond(S.bulk_needs_typing, text_field(
            f"Type the number of patients ({S.bulk_count}) to confirm", "bulk-confirm-count",
            value=S.bulk_confirm_text, on_change=S.set_bulk_confirm_text, error=S.bulk_confirm_error,
            input_mode="numeric", auto_complete="off")),
        rx.flex(rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.button("Start", on_click=S.start_bulk, style={"background": GREEN, "color": "white"}),
                justify="end", margin_top="1em", spacing="3"),
    ), open=S.bulk_dialog_open, on_open_change=S.set_bulk_dialog_open)


def onboarding_page() -> rx.Component:
    return staff_page(
        "Patient Portal Onboarding",
        S.allowed,
        rx.el.p("Click a red rectangle to enable a patient's portal access; click a green "
                "one to disable it. Click an email address to send an invitation (no "
                "account yet) or a password-reset email (account exists).",
                style={"max_width": "52em", "margin_bottom": "1em"}),
        new_patient_button(S.staff_levels),
        _filters(),
        _bulk_bar(),
        _job_panel(),
        # Above the table: the count and the jumps come before the 50 rows' controls in Tab order.
        _jumps(),
        _table(),
        no_match(S, "patients"),
        counted_keyset_pager(S),
        _disable_dialog(),
        _bulk_dialog(),
        before=no_permission_or_loading(S.loaded),
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(onboarding_page, route=routes.ONBOARDING, title="Patient Portal Onboarding",
                 on_load=S.load_page)
