"""Setup > Roles and Setup > Staff users (UI only)."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import field_error, form_alert, form_notice, text_field
from portal_app.components.layout import staff_page
from portal_app.components.notices import loading_or_failed, view_only_notice
from portal_app.components.paging import STACK_GAP, pager
from portal_app.components.styles import (
    BOLD_CAPTION,
    CONTROL_BORDER,
    INK,
    LABEL,
    LINK,
    LINK_COLOR,
    MUTED,
    TEXT_SOFT,
    VISUALLY_HIDDEN,
    WARN_COLOR,
)
from portal_app.components.styles import SETUP_CELL as CELL
from portal_app.components.table import data_table
from portal_app.services.roles import NAME_RULE as ROLE_NAME_HINT
from portal_app.services.roles import MemberRow, PermissionInfo, PermissionRow, RoleRow
from portal_app.services.staff_auth import USERNAME_RULE
from portal_app.services.staff_users import StaffRow
from portal_app.state.roles import RolesState
from portal_app.state.staff_users import StaffUsersState

SELECT = {"padding": "0.35em", "border": f"1px solid {CONTROL_BORDER}", "border_radius": "6px",
          "background": "white"}


def _plain_list(rows, item, empty: str) -> rx.Component:
    """An unbulleted list of `item(row)`, or `empty` when there are no rows."""
    return rx.cond(rows.length() > 0,
                   rx.el.ul(rx.foreach(rows, item), style={"list_style": "none", "padding": "0",
                                                           "margin": "0 0 1em"}),
                   rx.text(empty, color=MUTED, margin_bottom="1em"))


def _read_only(state) -> rx.Component:
    return view_only_notice(state.can_edit, "You can view this page; changing it needs Update or Write on "
                                            "Roles Setup.")


# --- Roles ----------------------------------------------------------------------------------


def _search() -> rx.Component:
    return rx.form(
        rx.el.label("Search roles and permissions", html_for="role-search",
                    style=LABEL),
        rx.hstack(
            rx.el.input(id="role-search", name="search", type="search", max_length=100,
                        default_value=RolesState.search,
                        style={"padding": "0.5em", "border": f"1px solid {CONTROL_BORDER}",
                               "border_radius": "6px", "width": "22em", "max_width": "100%"}),
            rx.button(rx.icon("search", size=16, aria_hidden="true"), "Search", type="submit"),
            rx.cond(RolesState.search != "",
                    rx.button("Clear", type="button", variant="outline", on_click=RolesState.clear_search)),
            align="center", wrap="wrap",
        ),
        on_submit=RolesState.run_search, reset_on_submit=False, role="search",
        style={"margin_bottom": "1em"},
    )


def _matching_permission(info: PermissionInfo) -> rx.Component:
    return rx.el.li(rx.el.strong(info.name), " \u2014 ", info.explanation)


def _matching_permissions() -> rx.Component:
    return rx.cond(
        RolesState.search != "",
        rx.el.section(
            rx.heading("Matching permissions", as_="h2", size="4", margin_bottom="0.3em"),
            rx.cond(RolesState.matching_permissions.length() > 0,
                    rx.el.ul(rx.foreach(RolesState.matching_permissions, _matching_permission)),
                    rx.text("No permission matches.", color=MUTED)),
            rx.text("Choose a role to set its level for these permissions.", size="2", color=MUTED),
            aria_label="Matching permissions",
            style={"margin_bottom": "1.2em"},
        ),
    )


def _role_item(role: RoleRow) -> rx.Component:
    selected = RolesState.selected_id == role.id
    return rx.el.li(
        rx.el.button(
            role.name,
            rx.cond(role.built_in, rx.el.span(" (built-in)", style={"color": MUTED})),
            rx.el.span(" \u00b7 ", role.holders.to_string(), rx.cond(role.holders == 1, " user", " users"),
                       style={"color": MUTED}),
            type="button", on_click=RolesState.select_role(role.id),
            aria_pressed=rx.cond(selected, "true", "false"),
            style={"background": rx.cond(selected, "#dbe9f7", "transparent"), "border": "none",
                   "text_align": "left", "padding": "0.35em 0.5em", "width": "100%",
                   "cursor": "pointer", "font_weight": rx.cond(selected, "700", "400"),
                   "color": INK, "border_radius": "4px"},
        ),
    )


def _roles_list() -> rx.Component:
    return rx.el.section(
        rx.heading("Roles", as_="h2", size="4", margin_bottom="0.3em"),
        _plain_list(RolesState.role_rows, _role_item, "No role name matches."),
        rx.form(
            text_field("New role name", "new-role-name", name="name", hint=ROLE_NAME_HINT,
                       error=RolesState.new_name_error, default_value=RolesState.new_name),
            rx.button("Create role", type="submit", disabled=~RolesState.can_edit),
            on_submit=RolesState.create_role, reset_on_submit=False,
        ),
        aria_label="Roles",
        style={"flex": "0 0 18em", "min_width": "16em"},
    )


def _level_select(row: PermissionRow) -> rx.Component:
    return rx.fragment(
        rx.el.label(row.name + " level", html_for="level-" + row.key, style=VISUALLY_HIDDEN),
        rx.el.select(
            rx.el.option("Off", value="0"),
            rx.el.option("Read", value="1"),
            rx.el.option("Update", value="2"),
            rx.el.option("Write", value="3"),
            id="level-" + row.key, value=RolesState.levels[row.name],
            on_change=lambda value: RolesState.set_level(row.name, value),
            disabled=~RolesState.can_edit | RolesState.locked_levels,
            aria_describedby="help-" + row.key,
            style=SELECT,
        ),
    )


def _permission_row(row: PermissionRow) -> rx.Component:
    return rx.el.tr(
        rx.el.th(row.name, scope="row", style={**CELL, "font_weight": "600"}),
        rx.el.td(_level_select(row), style=CELL),
        rx.el.td(row.explanation, id="help-" + row.key, style={**CELL, "color": TEXT_SOFT}),
    )


def _permissions_table() -> rx.Component:
    caption = ("Permissions of ", RolesState.selected_name,
               rx.cond(RolesState.search != "", " (matching the search)", ""))
    return data_table(("Permission", "Level", "What it allows"), RolesState.permission_rows, _permission_row,
                      caption=caption, caption_style=BOLD_CAPTION, head=CELL, style={"margin_bottom": "1.2em"},
                      scroll=None)


def _member(row: MemberRow) -> rx.Component:
    return rx.el.li(
        rx.el.span(row.full_name, " (", row.username, ")",
                   rx.cond(~row.active, rx.el.span(" \u00b7 inactive", style={"color": MUTED}))),
        rx.button("Remove", type="button", size="1", variant="outline",
                  aria_label="Remove " + row.username,
                  on_click=RolesState.remove_member(row.id), disabled=~RolesState.can_edit),
        style={"display": "flex", "gap": "0.8em", "align_items": "center", "padding": "0.25em 0"},
    )


def _members() -> rx.Component:
    return rx.el.section(
        rx.heading("Staff users with this role", as_="h3", size="3", margin_bottom="0.3em"),
        _plain_list(RolesState.members, _member, "No staff user holds this role."),
        rx.form(
            text_field("Add staff user (username)", "add-member", name="username", max_length=100,
                       error=RolesState.add_error, default_value=RolesState.add_username,
                       disabled=~RolesState.can_edit),
            rx.button("Add", type="submit", variant="outline", disabled=~RolesState.can_edit),
            on_submit=RolesState.add_member, reset_on_submit=False,
        ),
        aria_label="Staff users with this role",
        style={"margin_bottom": "1.2em"},
    )


def _rename_and_delete() -> rx.Component:
    return rx.cond(
        RolesState.locked_levels,
        rx.text("The Administrator role keeps Write on every permission; it cannot be renamed or "
                "deleted.", size="2", color=MUTED, margin_bottom="1em"),
        rx.fragment(
            rx.form(
                rx.hstack(
                    text_field("Role name", "rename-role", name="name", hint=ROLE_NAME_HINT,
                               error=RolesState.rename_error, default_value=RolesState.rename_value,
                               disabled=~RolesState.can_edit),
                    rx.button("Rename", type="submit", variant="outline", disabled=~RolesState.can_edit,
                              margin_top="1.8em"),
                    align="start", wrap="wrap",
                ),
                on_submit=RolesState.rename_role, reset_on_submit=False,
                key=RolesState.form_version,
            ),
            rx.cond(
                RolesState.delete_confirm != "",
                rx.el.div(
                    rx.el.p(RolesState.delete_confirm, " Delete it anyway?", id="delete-question"),
                    rx.hstack(
                        rx.button("Delete anyway", color_scheme="red", on_click=RolesState.confirm_delete),
                        rx.button("Keep the role", variant="outline", on_click=RolesState.cancel_delete),
                        margin_top="0.5em",
                    ),
                    role="alertdialog", aria_labelledby="delete-question",
                    style={"border": f"2px solid {WARN_COLOR}", "background": "#fff8e6", "color": INK,
                           "padding": "0.8em 1em", "border_radius": "6px", "margin_bottom": "1em"},
                ),
                rx.button("Delete role", type="button", color_scheme="red", variant="outline",
                          on_click=RolesState.delete_role, disabled=~RolesState.can_edit,
                          margin_bottom="1em"),
            ),
        ),
    )


def _detail() -> rx.Component:
    return rx.el.section(
        rx.cond(
            RolesState.selected_id != 0,
            rx.fragment(
                rx.heading(RolesState.selected_name, as_="h2", size="5", margin_bottom="0.5em"),
                _rename_and_delete(),
                _permissions_table(),
                _members(),
                form_alert(RolesState.detail_error),
                rx.hstack(
                    rx.button("Save", type="button", size="3", on_click=RolesState.save,
                              disabled=~RolesState.can_edit),
                    rx.button("Discard changes", type="button", variant="outline", size="3",
                              on_click=RolesState.discard, disabled=~RolesState.dirty),
                    rx.cond(RolesState.dirty, rx.text("Unsaved changes", color=WARN_COLOR,
                                                      weight="bold", role="status")),
                    align="center",
                ),
            ),
            rx.text("Choose a role to see and set its permissions and staff users.", color=MUTED),
        ),
        aria_label="Selected role",
        style={"flex": "1 1 34em", "min_width": "0"},
    )


def roles_page() -> rx.Component:
    return staff_page(
        "Roles",
        RolesState.loaded,
        _read_only(RolesState),
        form_alert(RolesState.error),
        form_notice(RolesState.notice),
        _search(),
        _matching_permissions(),
        rx.el.div(_roles_list(), _detail(),
                  style={"display": "flex", "gap": "2em", "flex_wrap": "wrap",
                         "align_items": "flex-start"}),
        before=loading_or_failed(RolesState.error),
    )


# --- Staff users ----------------------------------------------------------------------------


def _temp_password() -> rx.Component:
    return rx.cond(
        StaffUsersState.temp_password != "",
        rx.el.div(
            rx.el.p("Temporary password for ", rx.el.strong(StaffUsersState.temp_for), ": ",
                    rx.el.code(StaffUsersState.temp_password, id="temp-password",
                               style={"font_size": "1.15em", "padding": "0.1em 0.4em",
                                      "background": "white", "color": INK})),
            rx.el.p("It is shown only now. They must choose their own password when they sign in."),
            rx.hstack(
                rx.button("Copy", type="button", on_click=rx.set_clipboard(StaffUsersState.temp_password)),
                rx.button("Done", type="button", variant="outline", on_click=StaffUsersState.forget_password),
                margin_top="0.5em",
            ),
            role="status",
            # Leaving the page forgets it on the server too (it would come back with the page).
            on_unmount=StaffUsersState.forget_password,
            style={"border": f"2px solid {LINK_COLOR}", "background": "#eef5fc", "color": INK,
                   "padding": "0.8em 1em", "border_radius": "6px", "margin_bottom": "1em"},
        ),
    )


def _role_checkbox(role: RoleRow) -> rx.Component:
    key = "role-" + role.id.to_string()
    return rx.el.div(
        rx.el.input(type="checkbox", id="new-" + key, name=key,
                    default_checked=StaffUsersState.new_role_ids.contains(role.id.to_string()),
                    style={"width": "1.1em", "height": "1.1em"}),
        rx.el.label(role.name, html_for="new-" + key),
        style={"display": "flex", "gap": "0.5em", "align_items": "center"},
    )


def _create_form() -> rx.Component:
    return rx.el.section(
        rx.heading("New staff user", as_="h2", size="4", margin_bottom="0.5em"),
        rx.form(
            text_field("Username", "new-username", name="username", hint=USERNAME_RULE,
                       autocomplete="off", error=StaffUsersState.errors.get("username", ""),
                       default_value=StaffUsersState.new_username),
            text_field("Full name", "new-full-name", name="full_name",
                       autocomplete="off", error=StaffUsersState.errors.get("full_name", ""),
                       default_value=StaffUsersState.new_full_name),
            rx.el.fieldset(
                rx.el.legend("Roles", style={"font_weight": "600", "padding": "0 0.3em"}),
                rx.foreach(StaffUsersState.role_options, _role_checkbox),
                field_error("new-roles", StaffUsersState.errors.get("roles", "")),
                aria_describedby="new-roles-error",
                style={"border": "1px solid #bbb", "border_radius": "6px", "padding": "0.5em 0.8em",
                       "margin_bottom": "1em", "max_width": "28em"},
            ),
            rx.button("Create staff user", type="submit", disabled=~StaffUsersState.can_edit),
            on_submit=StaffUsersState.create, reset_on_submit=False,
            key=StaffUsersState.form_version,
        ),
        aria_label="New staff user",
        style={"margin_bottom": "1.5em"},
    )


def _actions(row: StaffRow) -> rx.Component:
    disabled = ~StaffUsersState.can_edit
    return rx.hstack(
        rx.cond(
            row.active,
            rx.button("Deactivate", size="1", variant="outline", color_scheme="red",
                      aria_label="Deactivate " + row.username, disabled=disabled,
                      on_click=StaffUsersState.deactivate(row.id)),
            rx.button("Reactivate", size="1", variant="outline",
                      aria_label="Reactivate " + row.username, disabled=disabled,
                      on_click=StaffUsersState.reactivate(row.id)),
        ),
        rx.button("Reset password", size="1", variant="outline",
                  aria_label="Reset password of " + row.username, disabled=disabled,
                  on_click=StaffUsersState.reset_password(row.id)),
        rx.cond(row.locked,
                rx.button("Unlock", size="1", variant="outline", aria_label="Unlock " + row.username,
                          disabled=disabled, on_click=StaffUsersState.unlock(row.id))),
        rx.cond(row.two_step,
                rx.button("Reset two-step verification", size="1", variant="outline",
                          aria_label="Reset two-step verification of " + row.username, disabled=disabled,
                          on_click=StaffUsersState.reset_two_step(row.id))),
        wrap="wrap",
    )


def _staff_row(row: StaffRow) -> rx.Component:
    return rx.el.tr(
        rx.el.th(row.username, scope="row", style={**CELL, "font_weight": "600"}),
        rx.el.td(row.full_name, style=CELL),
        rx.el.td(row.roles, style=CELL),
        rx.el.td(rx.cond(row.active, "Active", "Inactive"),
                 rx.cond(row.must_change_password, rx.el.span(" \u00b7 must change password",
                                                              style={"color": MUTED})),
                 style=CELL),
        rx.el.td(row.last_sign_in, style=CELL),
        rx.el.td(rx.cond(row.locked, "Locked", "No"), style=CELL),
        rx.el.td(rx.cond(row.two_step, "On", "Off"), style=CELL),
        rx.el.td(_actions(row), style=CELL),
    )


def _staff_table() -> rx.Component:
    return rx.el.section(
        rx.heading("Staff users", as_="h2", size="4", margin_bottom="0.5em"),
        rx.form(
            rx.el.label("Search staff users", html_for="staff-search",
                        style=LABEL),
            rx.hstack(
                rx.el.input(id="staff-search", name="search", type="search", max_length=100,
                            style={"padding": "0.5em", "border": f"1px solid {CONTROL_BORDER}",
                                   "border_radius": "6px", "width": "18em"}),
                rx.button("Search", type="submit", variant="outline"),
            ),
            on_submit=StaffUsersState.run_search, reset_on_submit=False, role="search",
            style={"margin_bottom": "0.8em"},
        ),
        data_table(("Username", "Name", "Roles", "Status", "Last sign-in", "Locked", "Two-step", "Actions"),
                   StaffUsersState.rows, _staff_row, head=CELL, scroll=None),
        pager(("Previous", StaffUsersState.go_page(StaffUsersState.page - 1), StaffUsersState.page <= 1),
              ("Next", StaffUsersState.go_page(StaffUsersState.page + 1),
               StaffUsersState.page >= StaffUsersState.pages),
              rx.text(StaffUsersState.total.to_string(), " staff users \u00b7 page ",
                      StaffUsersState.page.to_string(), " of ", StaffUsersState.pages.to_string(),
                      role="status"),
              style={"gap": STACK_GAP, "margin_top": "0.8em"}),
        aria_label="Staff users",
    )


def staff_users_page() -> rx.Component:
    return staff_page(
        "Staff users",
        StaffUsersState.loaded,
        _read_only(StaffUsersState),
        form_alert(StaffUsersState.error),
        form_notice(StaffUsersState.notice),
        _temp_password(),
        rx.el.p("Roles and their permissions are set under ",
                rx.el.a("Roles", href=routes.ROLES,
                        style=LINK), ".",
                style={"margin_bottom": "1em"}),
        _create_form(),
        _staff_table(),
        before=loading_or_failed(StaffUsersState.error),
    )


def add_pages(app: rx.App) -> None:
    """Register Setup > Roles and Setup > Staff users with their on_load guards."""
    app.add_page(roles_page, route=routes.ROLES, title="Roles", on_load=RolesState.load)
    app.add_page(staff_users_page, route=routes.STAFF_USERS, title="Staff users",
                 on_load=StaffUsersState.load)
