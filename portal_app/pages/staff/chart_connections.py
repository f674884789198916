"""Chart > Patient Portal tab: "Connected portal accounts" (UI only).

Lists the accounts connected to the chart and the outstanding tokens, keys and links (by
channel, destination and expiry; never their value), with Disconnect, Void and Resend.
"""

from __future__ import annotations

import reflex as rx

from portal_app.components.dialogs import confirm_dialog
from portal_app.components.forms import form_alert, form_notice
from portal_app.components.styles import BOLD_CAPTION, COMPACT_HEAD, MUTED, SECTION
from portal_app.components.styles import COMPACT_CELL as CELL
from portal_app.components.table import data_table
from portal_app.services.connections import ConnectionRow, PendingRow
from portal_app.state.connections import ConnectionsState

# Handlers to run when the chart page loads (after ChartState.load).
ON_LOAD: list = [ConnectionsState.load]

def _table(caption: str, headers: tuple[str, ...], rows, row) -> rx.Component:
    return data_table(headers, rows, row, caption=caption, caption_style=BOLD_CAPTION, head=COMPACT_HEAD,
                      style={"font_size": "0.88em"}, scroll={"overflow_x": "auto", "margin_bottom": "1em"})


def _connection_row(row: ConnectionRow) -> rx.Component:
    return rx.el.tr(
        rx.el.th(row.user_id, scope="row", style={**CELL, "font_weight": "600",
                                                  "overflow_wrap": "anywhere"}),
        rx.el.td(row.access_type, style=CELL),
        rx.el.td(rx.cond(row.relationship != "", row.relationship, "\u2014"), style=CELL),
        rx.el.td(row.connected_on, style=CELL),
        rx.el.td(rx.cond(row.requested_by != "", row.requested_by, "\u2014"), style=CELL),
        rx.el.td(rx.cond(row.connected_by != "", row.connected_by, "\u2014"), style=CELL),
        rx.el.td(row.last_sign_in, style=CELL),
        rx.el.td(row.status, style=CELL),
        rx.el.td(
            rx.button("Disconnect", size="1", color_scheme="red", variant="outline",
                      aria_label="Disconnect " + row.user_id,
                      on_click=ConnectionsState.ask_disconnect(row.id),
                      disabled=~ConnectionsState.can_admin_portal),
            style=CELL,
        ),
    )


def _pending_row(row: PendingRow) -> rx.Component:
    what = row.purpose_label + " by " + row.channel
    return rx.el.tr(
        rx.el.th(row.purpose_label, scope="row", style={**CELL, "font_weight": "600"}),
        rx.el.td(row.channel, style=CELL),
        rx.el.td(rx.cond(row.destination != "", row.destination, "\u2014"),
                 style={**CELL, "overflow_wrap": "anywhere"}),
        rx.el.td(row.created, style=CELL),
        rx.el.td(row.expires, style=CELL),
        rx.el.td(row.attempts, style=CELL),
        rx.el.td(
            rx.hstack(
                rx.cond(row.can_resend,
                        rx.button("Resend", size="1", variant="outline", aria_label="Resend " + what,
                                  on_click=ConnectionsState.resend(row.id),
                                  disabled=~ConnectionsState.can_admin_portal)),
                rx.button("Void", size="1", color_scheme="red", variant="outline",
                          aria_label="Void " + what, on_click=ConnectionsState.ask_void(row.id),
                          disabled=~ConnectionsState.can_admin_portal),
                gap="0.4em",
            ),
            style=CELL,
        ),
    )


def _confirm(*, open_: rx.Var, on_open_change, title, description: str, action: str,
             on_confirm) -> rx.Component:
    # Closing goes through on_open_change, which forgets the choice.
    return confirm_dialog(title, (description,), rx.button(action, color_scheme="red", on_click=on_confirm),
                          open=open_, on_open_change=on_open_change)


def _dialogs() -> rx.Component:
    return rx.fragment(
        _confirm(open_=ConnectionsState.disconnect_open,
                 on_open_change=ConnectionsState.set_disconnect_open,
                 title=("Disconnect ", ConnectionsState.disconnect_label, "?"),
                 description="This account loses access to this chart at once. Its portal "
                             "sessions end when it has no other chart. The account itself is "
                             "kept; you can connect it again with Connect Patient.",
                 action="Disconnect account", on_confirm=ConnectionsState.disconnect),
        _confirm(open_=ConnectionsState.void_open, on_open_change=ConnectionsState.set_void_open,
                 title=("Void ", ConnectionsState.void_label, "?"),
                 description="It stops working at once. The patient will need a new one.",
                 action="Void it", on_confirm=ConnectionsState.void),
    )


def section() -> rx.Component:
    connections_table = _table(
        "Accounts connected to this chart",
        ("User ID", "Access type", "Relationship", "Connected on", "Requested by", "Connected by",
         "Last sign-in", "Status", "Actions"),
        ConnectionsState.connections, _connection_row,
    )
    pending_table = _table(
        "Pending tokens, keys and links",
        ("What", "Channel", "Sent to", "Created", "Expires", "Wrong tries", "Actions"),
        ConnectionsState.pending, _pending_row,
    )
    return rx.el.section(
        rx.hstack(
            rx.heading("Connected portal accounts", as_="h3", size="4"),
            rx.button("Refresh list", size="1", variant="outline", on_click=ConnectionsState.refresh),
            justify="between", align="center", margin_bottom="0.6em",
        ),
        form_notice(ConnectionsState.notice),
        form_alert(ConnectionsState.error),
        rx.cond(
            ConnectionsState.loaded,
            rx.fragment(
                rx.cond(ConnectionsState.connections.length() > 0, connections_table,
                        rx.text("No portal account is connected to this chart.",
                                margin_bottom="0.8em")),
                rx.cond(ConnectionsState.pending.length() > 0, pending_table,
                        rx.text("No pending tokens, keys or links.", size="2", color=MUTED)),
                rx.text("Values of tokens and keys are never shown: make a new one to replace "
                        "one that was lost.", size="2", color=MUTED),
            ),
        ),
        _dialogs(),
        style=SECTION, aria_label="Connected portal accounts",
    )
