"""/staff/portal-users ("User Management"): every portal account, its status and actions. UI only."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.dialogs import confirm_dialog
from portal_app.components.filters import filter_bar, no_match, option_filter, search_box
from portal_app.components.forms import form_alert, form_notice
from portal_app.components.layout import staff_page
from portal_app.components.notices import no_permission_or_loading
from portal_app.components.paging import previous_next_pager
from portal_app.components.status import RED
from portal_app.components.styles import CELL, EMPTY, HINT, LINK, LINK_COLOR, MUTED, WARN_COLOR
from portal_app.components.table import data_table
from portal_app.services.portal_users import AccountRow, ChartLink
from portal_app.state.portal_users import FILTER_OPTIONS, action_button_id, row_header_id
from portal_app.state.portal_users import PortalUsersState as S

TITLE = "User Management"
LIST = {"margin": "0", "padding_left": "0", "list_style": "none"}


def _filters() -> rx.Component:
    return filter_bar(
        search_box("portal-users-search", S.search, S.set_search,
                   placeholder="User ID, name or a connected patient's name",
                   hint="The start of an email or phone number, a name last name first "
                        "(\u201cLopez, Ma\u201d; three letters or more), or a connected chart's number.",
                   hint_style={**HINT, "max_width": "26em"}),
        option_filter("Show", "portal-users-filter", FILTER_OPTIONS, S.status, S.set_status),
    )


def _action(text: str, action: str, row: rx.Var[AccountRow], name: rx.Var | str,
            outline: bool = True) -> rx.Component:
    return rx.button(text, on_click=S.ask(action, row.id), id=action_button_id(action, row.id),
                     aria_label=name, disabled=~S.can_act, size="1",
                     variant="outline" if outline else "solid")


def _actions(row: rx.Var[AccountRow]) -> rx.Component:
    return rx.el.div(
        rx.cond(row.disabled,
                _action("Enable", "enable", row, "Enable " + row.user_id),
                _action("Disable", "disable", row, "Disable " + row.user_id)),
        rx.cond(row.has_password & ~row.must_change & ~row.disabled,
                _action("Force password change", "force_change", row,
                        "Force password change for " + row.user_id)),
        rx.cond(~row.disabled,
                _action("Send reset link", "reset_link", row, "Send reset link to " + row.user_id)),
        rx.cond(row.locked, _action("Unlock", "unlock", row, "Unlock " + row.user_id)),
        style={"display": "flex", "flex_wrap": "wrap", "gap": "0.4em"},
    )


def _status(row: rx.Var[AccountRow]) -> rx.Component:
    return rx.el.ul(
        rx.el.li(row.status_label,
                 style={"font_weight": "600", "color": rx.cond(row.disabled, RED, "inherit")}),
        rx.cond(row.locked, rx.el.li(row.locked_label, style={"color": WARN_COLOR})),
        rx.cond(row.must_change, rx.el.li("Must change password")),
        style=LIST,
    )


def _chart(chart: rx.Var[ChartLink]) -> rx.Component:
    # To Portal Account Setup of that chart: where its permissions are changed or it is removed.
    return rx.el.li(rx.el.a(chart.label, href=chart.href, style=LINK),
                    style={"margin_bottom": "0.2em"})


def _account_row(row: rx.Var[AccountRow]) -> rx.Component:
    return rx.el.tr(
        rx.el.th(row.user_id, scope="row", id=row_header_id(row.id), tab_index=-1,
                 style={**CELL, "font_weight": "600", "word_break": "break-all"}),
        rx.el.td(rx.cond(row.name != "", row.name,
                         rx.el.span("No name", style=EMPTY)),
                 style=CELL),
        rx.el.td(rx.cond(row.charts.length() > 0,
                         rx.el.ul(rx.foreach(row.charts, _chart), style=LIST),
                         rx.el.span("None", style=EMPTY)),
                 style=CELL),
        rx.el.td(_status(row), style=CELL),
        rx.el.td(row.last_sign_in, style={**CELL, "white_space": "nowrap"}),
        rx.el.td(_actions(row), style=CELL),
        key=row.id,
    )


def _table() -> rx.Component:
    return data_table(("User ID", "Name", "Connected charts", "Status", "Last sign-in", "Actions"),
                      S.rows, _account_row, caption="Portal accounts, in user ID order.",
                      style={"min_width": "60em"})


def _confirm_dialog() -> rx.Component:
    return confirm_dialog(
        (S.confirm_title,),
        (S.confirm_text,),
        rx.button(S.confirm_button, on_click=S.confirm,
                  style=rx.cond(S.confirm_danger, {"background": RED, "color": "white"},
                                {"background": LINK_COLOR, "color": "white"})),
        open=S.confirm_action != "",
        on_open_change=S.set_confirm_open,
        spacing="3",
    )


def portal_users_page() -> rx.Component:
    return staff_page(
        TITLE,
        S.allowed,
        rx.el.p("Every patient portal account, enabled or not. Disabling an account signs it "
                "out at once and voids links already sent to it.",
                style={"max_width": "52em", "margin_bottom": "1em"}),
        rx.cond(~S.can_act,
                rx.el.p("You can view these accounts; changing them needs the Update level "
                        "of Portal User Management.", style={"color": MUTED})),
        _filters(),
        form_notice(S.notice),
        form_alert(S.error),
        _table(),
        no_match(S, "portal accounts"),
        previous_next_pager(S, "account", "accounts"),
        _confirm_dialog(),
        before=no_permission_or_loading(S.loaded),
    )


def add_pages(app: rx.App) -> None:
    """Register this module's pages (with their on_load guards) on the app."""
    app.add_page(portal_users_page, route=routes.PORTAL_USERS, title=TITLE, on_load=S.load_page)
