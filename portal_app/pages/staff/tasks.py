"""My Tasks (/staff/tasks), one queue item (/staff/tasks/[task_id]) and Communication
(/staff/communication)."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.dialogs import confirm_dialog
from portal_app.components.forms import field_error, form_alert, form_notice
from portal_app.components.layout import staff_layout
from portal_app.components.paging import counted_pager
from portal_app.components.styles import (
    CELL,
    CONTROL,
    ERROR_COLOR,
    FOCUSABLE_LINK,
    GROUP_BG,
    HINT,
    LABEL,
    LINK_BUTTON,
    LINK_COLOR,
    MUTED,
    PANEL,
    PANEL_BG,
    PANEL_LINE,
)
from portal_app.components.table import data_table
from portal_app.services.tasks import CommunicationRow, ReviewRow
from portal_app.state.task_item import TaskItemState as I
from portal_app.state.tasks import ARRANGE_OPTIONS, CommunicationState, TasksState

GROUP = {**CELL, "background": GROUP_BG, "font_weight": "700", "padding_top": "0.7em"}
LINK_STYLE = FOCUSABLE_LINK


def _link_button(*children, **props) -> rx.Component:
    return rx.el.button(*children, type="button", style={**LINK_BUTTON, "font_weight": "600"}, **props)


def _security(message) -> rx.Component:
    return rx.cond(message != "", rx.callout(message, icon="shield_alert", color_scheme="red", role="alert",
                                             margin_bottom="1em", high_contrast=True))


def _table(headers: tuple[str, ...], rows, row, *caption) -> rx.Component:
    """A full-width table that scrolls sideways on a narrow screen, one `row(item)` per item."""
    return data_table(headers, rows, row, caption=caption or None)


def _my_tasks_page(title: str, state, content: rx.Component, *, on_tasks_page: bool) -> rx.Component:
    """My Tasks and Communication: the queues with their counts beside the open queue."""
    return staff_layout(
        title,
        form_alert(state.refused),
        rx.el.div(
            _queues(state, on_tasks_page=on_tasks_page),
            content,
            style={"display": "flex", "gap": "1.5em", "flex_wrap": "wrap"},
        ),
    )


# ---- My Tasks list of queues ----------------------------------------------------------------

def _queues(state, *, on_tasks_page: bool) -> rx.Component:
    communication = rx.el.a("Communication (", state.communication_count, ")", href=routes.COMMUNICATION,
                            style=LINK_STYLE, **({} if on_tasks_page else {"aria_current": "page"}))
    if on_tasks_page:
        portal = _link_button("Patient Portal (", state.portal_count, ")", on_click=TasksState.open_portal,
                              id="queue-patient-portal")
    else:
        portal = rx.el.a("Patient Portal (", state.portal_count, ")", href=routes.TASKS, style=LINK_STYLE)
    return rx.cond(
        state.access != "",
        rx.el.nav(
            rx.el.h2("Queues", style={"font_size": "1.05em", "font_weight": "700", "margin": "0 0 0.4em"}),
            rx.el.ul(rx.el.li(communication, style={"margin_bottom": "0.3em"}), rx.el.li(portal),
                     style={"list_style": "none", "padding": "0", "margin": "0"}),
            aria_label="My Tasks queues",
            style={**PANEL, "min_width": "13em", "align_self": "flex-start"},
        ),
    )


# ---- Patient Portal Review ------------------------------------------------------------------

def _status_switch() -> rx.Component:
    def option(value: str, text: str) -> rx.Component:
        return rx.button(text, on_click=TasksState.set_status(value), aria_pressed=TasksState.status == value,
                         variant=rx.cond(TasksState.status == value, "solid", "outline"))
    return rx.el.div(option("pending", "Pending"), option("reviewed", "Reviewed"),
                     role="group", aria_label="Show items", style={"display": "flex", "gap": "0.4em"})


def _review_row(row: rx.Var[ReviewRow]) -> rx.Component:
    item = rx.cond(TasksState.can_open,
                   rx.el.a(row.kind_label, href=row.href, style=LINK_STYLE,
                           aria_label=row.kind_label + " from " + row.patient + ", " + row.when),
                   rx.el.span(row.kind_label))
    return rx.fragment(
        rx.cond(row.first_in_group,
                rx.el.tr(rx.el.th(row.group, col_span=6, scope="colgroup", style=GROUP))),
        rx.el.tr(
            rx.el.th(rx.el.span(row.patient),
                     rx.cond(row.sender_note != "",
                             rx.el.span(rx.el.br(), row.sender_note,
                                        style={"font_weight": "400", "color": MUTED, "font_size": "0.9em"})),
                     scope="row", style={**CELL, "font_weight": "600"}),
            rx.el.td(row.sex, style=CELL),
            rx.el.td("Age: ", row.age, style={**CELL, "white_space": "nowrap"}),
            rx.el.td("DOB: ", row.dob, style={**CELL, "white_space": "nowrap"}),
            rx.el.td(item,
                     rx.cond(row.new_reply, rx.badge("New reply", color_scheme="blue", high_contrast=True,
                                                     variant="solid", margin_left="0.5em")),
                     rx.cond(row.subject != "", rx.el.div(rx.el.strong(row.subject), class_name="row-subject")),
                     rx.cond(row.preview != "", rx.el.div(row.preview, class_name="row-preview",
                                                          style={"color": MUTED, "font_size": "0.9em"})),
                     style={**CELL, "max_width": "28em"}),
            rx.el.td(row.when, rx.cond(row.new_reply, rx.el.div("Reply: ", row.latest, style={"color": MUTED})),
                     style={**CELL, "white_space": "nowrap"}),
            class_name="review-row",
        ),
    )


def _review() -> rx.Component:
    return rx.el.section(
        rx.el.h2("Patient Portal Review", id="review-heading",
                 style={"font_size": "1.25em", "font_weight": "700", "margin": "0 0 0.6em"}),
        rx.el.dl(
            rx.el.div(rx.el.dt("Pending Review"), rx.el.dd(TasksState.pending, id="pending-count"),
                      style={"display": "flex", "gap": "0.5em"}),
            rx.el.div(rx.el.dt("Reviewed (month)", title=TasksState.month_label),
                      rx.el.dd(TasksState.reviewed_month, id="reviewed-count"),
                      style={"display": "flex", "gap": "0.5em"}),
            style={"display": "flex", "gap": "2em", "font_weight": "600", "margin": "0 0 0.8em"},
        ),
        rx.el.div(
            _status_switch(),
            rx.el.div(
                rx.el.label("Arranged By:", html_for="arrange", style={**LABEL, "display": "inline",
                                                                        "margin_right": "0.4em"}),
                rx.el.select(*[rx.el.option(label, value=value) for value, label in ARRANGE_OPTIONS],
                             id="arrange", value=TasksState.arrange, on_change=TasksState.set_arrange,
                             style=CONTROL),
            ),
            style={"display": "flex", "gap": "1.5em", "align_items": "center", "flex_wrap": "wrap",
                   "margin_bottom": "0.8em"},
        ),
        rx.cond(~TasksState.can_open,
                rx.el.p("You can see this list, but items open only for users with \u201cTask - Patient "
                        "Portal\u201d.", style={"color": MUTED})),
        rx.cond(
            TasksState.rows.length() > 0,
            _table(("Patient", "Sex", "Age", "Date of birth", "Item", "Received"), TasksState.rows, _review_row,
                   rx.cond(TasksState.status == "reviewed", "Reviewed in " + TasksState.month_label,
                           "Items pending review")),
            rx.el.p(rx.cond(TasksState.status == "reviewed", "Nothing has been reviewed this month.",
                            "Nothing is waiting for review."),
                    style={"color": MUTED}),
        ),
        counted_pager(TasksState),
        aria_labelledby="review-heading",
        style={"flex": "1", "min_width": "0"},
    )


def tasks_page() -> rx.Component:
    return _my_tasks_page("My Tasks", TasksState, rx.el.div(
        _security(TasksState.queue_message),
        rx.cond(TasksState.portal_open, _review()),
        rx.cond(~TasksState.portal_open & (TasksState.queue_message == "") & (TasksState.access != ""),
                rx.el.p("Choose a queue. Communication holds the items colleagues forwarded to you.",
                        style={"color": MUTED, "margin": "0.6em 0 0"})),
        style={"flex": "1", "min_width": "0"},
    ), on_tasks_page=True)


# ---- Communication --------------------------------------------------------------------------

def _communication_row(row: rx.Var[CommunicationRow]) -> rx.Component:
    return rx.el.tr(
        rx.el.th(row.patient, scope="row", style={**CELL, "font_weight": "600"}),
        rx.el.td(rx.el.a(row.kind_label, href=row.href, style=LINK_STYLE,
                         aria_label="Open " + row.kind_label + " for " + row.patient),
                 rx.cond(~row.opened, rx.el.span(" (new)", style={"color": MUTED})), style=CELL),
        rx.el.td(row.from_name, style=CELL),
        rx.el.td(row.when, style={**CELL, "white_space": "nowrap"}),
        rx.el.td(row.note, style={**CELL, "white_space": "pre-wrap"}),
    )


def communication_page() -> rx.Component:
    S = CommunicationState
    return _my_tasks_page("Communication", S, rx.el.section(
        rx.el.h2("Forwarded to you", id="communication-heading",
                 style={"font_size": "1.25em", "font_weight": "700", "margin": "0 0 0.6em"}),
        rx.cond(
            S.rows.length() > 0,
            _table(("Patient", "Item", "Forwarded by", "Forwarded", "Note"), S.rows, _communication_row),
            rx.cond(S.access != "", rx.el.p("Nothing has been forwarded to you.", style={"color": MUTED})),
        ),
        rx.cond(S.access != "", counted_pager(S)),
        aria_labelledby="communication-heading",
        style={"flex": "1", "min_width": "0"},
    ), on_tasks_page=False)


# ---- one item -------------------------------------------------------------------------------

def _fact(label: str, value) -> rx.Component:
    return rx.el.div(rx.el.dt(label, style={"font_weight": "700"}), rx.el.dd(value, style={"margin": "0"}),
                     style={"display": "flex", "gap": "0.5em"})


def _header() -> rx.Component:
    item = I.item
    return rx.el.section(
        rx.el.h2(item.kind_label, ": ", item.patient, id="item-heading",
                 style={"font_size": "1.25em", "font_weight": "700", "margin": "0 0 0.5em"}),
        rx.el.dl(
            _fact("Patient:", item.patient),
            _fact("Sex:", item.sex),
            _fact("Age:", item.age),
            _fact("DOB:", item.dob),
            _fact("Item:", item.kind_label),
            _fact("Received:", item.when),
            _fact("Status:", item.status_label),
            _fact("Sent by:", item.sender),
            rx.cond(item.subject != "", _fact("Subject:", item.subject)),
            rx.cond(item.reviewed_note != "", _fact("Review:", item.reviewed_note)),
            rx.cond(item.forwarded_to_me,
                    _fact("Forwarded to you by:", item.forward_from + rx.cond(item.forward_note != "",
                                                                             " \u2014 " + item.forward_note, ""))),
            style={"display": "grid", "grid_template_columns": "repeat(auto-fit, minmax(16em, 1fr))",
                   "gap": "0.3em 1.5em", "margin": "0"},
        ),
        aria_labelledby="item-heading", style=PANEL,
    )


def _textarea(label: str, field_id: str, value, on_change, error, hint: str | rx.Var = "") -> rx.Component:
    return rx.el.div(
        rx.el.label(label, html_for=field_id, style=LABEL),
        rx.el.textarea(id=field_id, value=value, on_change=on_change, rows=5,
                       aria_describedby=f"{field_id}-error",
                       style={**CONTROL, "width": "100%", "max_width": "40em", "font_family": "inherit"}),
        rx.el.p(hint, style=HINT) if isinstance(hint, rx.Var) or hint else rx.fragment(),
        field_error(field_id, error),
        style={"margin_bottom": "0.8em"},
    )


def _input(label: str, field_id: str, value, on_change, error, input_type: str = "text") -> rx.Component:
    return rx.el.div(
        rx.el.label(label, html_for=field_id, style=LABEL),
        rx.el.input(id=field_id, type=input_type, value=value, on_change=on_change,
                    aria_describedby=f"{field_id}-error", aria_invalid=rx.cond(error != "", "true", "false"),
                    style=CONTROL),
        field_error(field_id, error),
        style={"margin_bottom": "0.8em"},
    )


def _post(post) -> rx.Component:
    return rx.el.li(
        rx.el.article(
            rx.el.p(rx.el.strong(post["author"]), " \u00b7 ", post["when"],
                    rx.cond(post["author_type"] == "staff", " (practice)", " (patient side)"),
                    style={"margin": "0 0 0.3em", "color": MUTED}),
            rx.el.p(post["body"], style={"white_space": "pre-wrap", "margin": "0"}),
        ),
        style={"border_left": rx.cond(post["author_type"] == "staff", f"4px solid {LINK_COLOR}", "4px solid #6b6b6b"),
               "padding": "0.4em 0.8em", "margin_bottom": "0.6em", "background": PANEL_BG},
    )


def _message() -> rx.Component:
    return rx.el.section(
        rx.el.h2("Thread", id="thread-heading", style={"font_size": "1.1em", "font_weight": "700"}),
        rx.el.ol(rx.foreach(I.posts, _post), style={"list_style": "none", "padding": "0"}),
        rx.cond(~I.closed, rx.el.div(
            _textarea("Reply", "reply", I.reply_text, I.set_reply_text, I.reply_error,
                      rx.cond(I.portal_off,
                              "The portal is switched off: the reply is kept, but no notice goes out now.",
                              "The patient gets a notice to read it in the portal (when the chart allows "
                              "that channel); the text is not emailed.")),
            rx.button("Send reply", on_click=I.send_reply),
        )),
        aria_labelledby="thread-heading", style=PANEL,
    )


def _change_row(change) -> rx.Component:
    action = rx.cond(
        change["merged"] == "1", rx.el.span("Merged", style={"color": "#1b5e20", "font_weight": "600"}),
        rx.cond(
            change["mergeable"] != "1", rx.el.span("For reading only", style={"color": MUTED}),
            rx.cond(I.item.can_manage,
                    rx.button("Merge", on_click=I.merge(change["id"]), size="1",
                              aria_label="Merge " + change["label"]),
                    rx.el.span("Not merged", style={"color": MUTED})),
        ),
    )
    return rx.el.tr(
        rx.el.th(change["label"], scope="row", style={**CELL, "font_weight": "600"}),
        rx.el.td(change["current"],
                 rx.cond(change["conflict"] == "1",
                         rx.el.span(rx.el.br(), "Changed in the chart since the patient sent this form ",
                                    rx.cond(change["chart_value"] == "", "(it was empty).",
                                            "(it was \u201c" + change["chart_value"] + "\u201d)."),
                                    style={"color": ERROR_COLOR, "font_size": "0.9em"})),
                 style={**CELL, "white_space": "pre-wrap"}),
        rx.el.td(change["new"], style={**CELL, "white_space": "pre-wrap"}),
        rx.el.td(action, style=CELL),
    )


def _intake() -> rx.Component:
    return rx.el.section(
        rx.el.h2("Submitted form", id="form-heading", style={"font_size": "1.1em", "font_weight": "700"}),
        rx.cond(I.unmerged_count > 0,
                rx.callout("EMR changes exist: the patient's answers differ from the chart.", icon="info",
                           color_scheme="amber", high_contrast=True, margin_bottom="0.8em"),
                rx.cond(I.up_to_date,
                        rx.callout("All information is up to date", icon="circle_check", color_scheme="green",
                                   high_contrast=True, margin_bottom="0.8em"))),
        rx.cond(I.conflict_id != 0, rx.el.div(
            rx.el.p(I.conflict_text, role="alert", style={"color": ERROR_COLOR, "font_weight": "600"}),
            rx.el.div(
                rx.button("Use the patient's value anyway", on_click=I.overwrite(I.conflict_id), color_scheme="red",
                          high_contrast=True),
                rx.button("Keep the chart's value", on_click=I.keep_chart_value, variant="outline"),
                style={"display": "flex", "gap": "0.6em", "flex_wrap": "wrap"},
            ),
            style={**PANEL, "border_color": ERROR_COLOR},
        )),
        rx.cond(I.changes.length() > 0,
                _table(("Field Name", "Current Value", "New Value", "Action"), I.changes, _change_row),
                rx.el.p("The patient sent the form without changing anything: the chart stands as it is.",
                        style={"color": MUTED})),
        rx.cond(I.item.can_manage & (I.unmerged_count > 0),
                rx.button("Merge all", on_click=I.merge_everything, margin_top="0.8em")),
        aria_labelledby="form-heading", style=PANEL,
    )


def _document(doc) -> rx.Component:
    return rx.el.li(
        rx.el.strong(doc["filename"]), " (", doc["size"], ", ", doc["when"], ")",
        rx.cond(doc["note"] != "", rx.el.p("Note: ", doc["note"], style={"margin": "0.2em 0",
                                                                        "white_space": "pre-wrap"})),
        rx.el.div(
            rx.button("Preview", on_click=I.preview(doc["id"]), size="1", variant="outline",
                      aria_label="Preview " + doc["filename"]),
            rx.button("Download", on_click=I.download(doc["id"]), size="1",
                      aria_label="Download " + doc["filename"]),
            style={"display": "flex", "gap": "0.5em", "margin_top": "0.3em"},
        ),
        style={"margin_bottom": "0.8em"},
    )


def _preview() -> rx.Component:
    return rx.cond(I.preview_url != "", rx.el.div(
        rx.el.div(rx.el.strong("Preview: ", I.preview_name),
                  rx.button("Close preview", on_click=I.close_preview, variant="outline", size="1"),
                  style={"display": "flex", "gap": "1em", "align_items": "center", "margin_bottom": "0.5em"}),
        rx.cond(I.preview_type == "application/pdf",
                rx.el.object(
                    rx.el.p("Your browser cannot show this PDF here; use Download."),
                    data=I.preview_url, type="application/pdf", title="PDF preview of " + I.preview_name,
                    aria_label="PDF preview of " + I.preview_name,
                    style={"width": "100%", "height": "32em", "border": f"1px solid {PANEL_LINE}"}),
                rx.el.img(src=I.preview_url, alt="Preview of " + I.preview_name,
                          style={"max_width": "100%", "max_height": "40em", "border": f"1px solid {PANEL_LINE}"})),
        id="document-preview",
    ))


def _documents() -> rx.Component:
    return rx.el.section(
        rx.el.h2("Shared documents", id="docs-heading", style={"font_size": "1.1em", "font_weight": "700"}),
        rx.el.ul(rx.foreach(I.documents, _document), style={"padding_left": "1.2em"}),
        _preview(),
        aria_labelledby="docs-heading", style=PANEL,
    )


def _appointment() -> rx.Component:
    return rx.el.section(
        rx.el.h2("Appointment request", id="appt-heading", style={"font_size": "1.1em", "font_weight": "700"}),
        rx.el.dl(
            _fact("Requested times:", rx.el.ul(rx.foreach(I.appt_preferred, lambda p: rx.el.li(p)),
                                               style={"margin": "0", "padding_left": "1.2em"})),
            _fact("Reason:", rx.el.span(I.appt_reason, style={"white_space": "pre-wrap"})),
            _fact("Status:", I.appt_status_label),
            rx.cond(I.appt_booked != "", _fact("Booked:", I.appt_booked + " with " + I.appt_provider + " at "
                                               + I.appt_location)),
            rx.cond(I.appt_decided != "", _fact("Decided:", I.appt_decided)),
            rx.cond(I.appt_note != "", _fact("Message sent:", I.appt_note)),
            style={"display": "grid", "gap": "0.4em", "margin": "0 0 0.8em"},
        ),
        rx.cond(~I.closed, rx.el.div(
            rx.el.fieldset(
                rx.el.legend("Booking (for Mark scheduled)", style={"font_weight": "700", "padding": "0 0.3em"}),
                rx.el.p("The patient sees these in the portal and in the notice, with a calendar file. Date and "
                        "time are in the practice's time zone.", style=HINT),
                rx.el.div(
                    _input("Appointment date", "booked-date", I.booked_date, I.set_booked_date,
                           I.booked_date_error, "date"),
                    _input("Appointment time", "booked-time", I.booked_time, I.set_booked_time,
                           I.booked_time_error, "time"),
                    _input("Provider", "booked-provider", I.booked_provider, I.set_booked_provider,
                           I.provider_error),
                    _input("Location", "booked-location", I.booked_location, I.set_booked_location,
                           I.location_error),
                    style={"display": "flex", "gap": "0 1.2em", "flex_wrap": "wrap"},
                ),
                style={**PANEL, "padding": "0.5em 1em 0"},
            ),
            _textarea("Message to the patient", "decision-note", I.decision_note, I.set_decision_note,
                      I.decision_error, "Required when declining; shown to the patient in the portal."),
            rx.el.div(rx.button("Mark scheduled", on_click=I.mark_scheduled),
                      rx.button("Decline", on_click=I.decline, color_scheme="red", variant="outline"),
                      style={"display": "flex", "gap": "0.6em"}),
        )),
        aria_labelledby="appt-heading", style=PANEL,
    )


def _forward_panel() -> rx.Component:
    return rx.cond(I.forward_open, rx.el.section(
        rx.el.h2("Forward", id="forward-heading", style={"font_size": "1.1em", "font_weight": "700"}),
        rx.cond(I.forward_options.length() > 0,
                rx.el.div(
                    rx.el.label("Forward to", html_for="forward-to", style=LABEL),
                    rx.el.select(rx.foreach(I.forward_options, lambda o: rx.el.option(o.label, value=o.id.to(str))),
                                 id="forward-to", value=I.forward_to, on_change=I.set_forward_to,
                                 aria_describedby="forward-to-error", style=CONTROL),
                    field_error("forward-to", I.forward_error),
                    style={"margin_bottom": "0.8em"},
                ),
                rx.el.p("No other active user has \u201cTask - Patient Portal\u201d.", role="alert")),
        _textarea("Note (optional)", "forward-note", I.forward_note, I.set_forward_note, ""),
        rx.el.div(rx.button("Send forward", on_click=I.send_forward, disabled=I.forward_options.length() == 0),
                  rx.button("Cancel", on_click=I.cancel_forward, variant="outline"),
                  style={"display": "flex", "gap": "0.6em"}),
        aria_labelledby="forward-heading", style=PANEL,
    ))


def _unmerged_dialog() -> rx.Component:
    """Mark Reviewed on an intake form with unmerged changes: the question, then the answer."""
    return confirm_dialog(
        ("Mark reviewed with unmerged changes?",), (I.unmerged_question,),
        rx.button("Mark reviewed anyway", on_click=I.mark_reviewed_anyway),
        open=I.unmerged_question != "", on_open_change=I.unmerged_answered,
    )


def _actions() -> rx.Component:
    return rx.cond(~I.closed, rx.el.div(
        _unmerged_dialog(),
        rx.cond(I.item.can_manage & ~I.item.reviewed, rx.button("Mark Reviewed", on_click=I.mark_reviewed)),
        rx.cond(I.item.can_manage, rx.button("Forward", on_click=I.ask_forward, variant="outline")),
        rx.cond(I.item.forwarded_to_me, rx.button("Done", on_click=I.mark_done, variant="outline")),
        style={"display": "flex", "gap": "0.6em", "margin_bottom": "1em", "flex_wrap": "wrap"},
    ))


def item_page() -> rx.Component:
    kind = I.item.kind
    return staff_layout(
        "Patient Portal item",
        rx.el.p(rx.el.a("My Tasks", href=routes.TASKS, style=LINK_STYLE), " \u00b7 ",
                rx.el.a("Communication", href=routes.COMMUNICATION, style=LINK_STYLE),
                style={"margin": "0 0 1em"}),
        form_notice(I.notice),
        form_alert(I.error),
        rx.cond(I.load_error != "", _security(I.load_error)),
        rx.cond(I.loaded, rx.fragment(
            _header(),
            _actions(),
            _forward_panel(),
            rx.match(kind,
                     ("message", _message()),
                     ("intake_form", _intake()),
                     ("document_share", _documents()),
                     ("appointment_request", _appointment()),
                     rx.fragment()),
        )),
    )


def add_pages(app: rx.App) -> None:
    """My Tasks, the item page and Communication, each with its on_load guard."""
    app.add_page(tasks_page, route=routes.TASKS, title="My Tasks", on_load=TasksState.load)
    app.add_page(item_page, route=routes.TASK_ITEM, title="Patient Portal item", on_load=I.load)
    app.add_page(communication_page, route=routes.COMMUNICATION, title="Communication",
                 on_load=CommunicationState.load)
