"""`/portal/messages`: threads with the practice, a new message, a thread with its reply. UI only."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.forms import (
    form_alert,
    form_notice,
    invalid_flag,
    submit_button,
    text_field,
    textarea_field,
)
from portal_app.components.layout import portal_page
from portal_app.components.paging import portal_pager
from portal_app.components.styles import MUTED, PANEL_LINE
from portal_app.services.messages import MAX_BODY_CHARS, MAX_SUBJECT_CHARS
from portal_app.state.patient_messages import PatientMessagesState as S

UNREAD_COLOR = "#0b5cad"  # 6.4:1 on white
# The browser stops typing/pasting here, well above the server's limit, so a text that is too
# long reaches the server and is refused with a message beside the field (a maxlength equal to
# the limit would cut a pasted letter short without a word). Small enough for one socket frame.
PASTE_CEILING = 5 * MAX_BODY_CHARS


def _unread_badge(text: str = "Unread") -> rx.Component:
    # Text, a filled shape and bold type: not colour alone.
    return rx.el.span("● ", text, class_name="unread-marker",
                      style={"color": UNREAD_COLOR, "font_weight": "700", "font_size": "0.9em",
                             "margin_right": "0.5em", "white_space": "nowrap"})


def _thread_row(row) -> rx.Component:
    return rx.el.li(
        rx.el.button(
            rx.cond(row.unread, _unread_badge()),
            rx.el.span(row.subject, style={"font_weight": rx.cond(row.unread, "700", "400")}),
            rx.el.span(" — last activity ", row.last_activity, style={"color": MUTED, "font_size": "0.9em"}),
            on_click=S.open_thread(row.id),
            type="button",
            style={"background": "none", "border": "none", "padding": "0.6em 0.4em", "text_align": "left",
                   "cursor": "pointer", "width": "100%", "font_size": "1em", "color": "#1a1a1a",
                   "text_decoration": "underline"},
        ),
        class_name="thread-row",
        style={"border_bottom": f"1px solid {PANEL_LINE}",
               "border_left": rx.cond(row.unread, f"4px solid {UNREAD_COLOR}", "4px solid transparent")},
    )


def _thread_list() -> rx.Component:
    return rx.el.section(
        rx.heading("Your conversations", as_="h2", size="4", margin_bottom="0.5em"),
        rx.cond(
            S.total > 0,
            rx.el.ul(rx.foreach(S.rows, _thread_row), style={"list_style": "none", "padding": "0", "margin": "0"}),
            rx.el.p("No messages yet.", style={"color": MUTED}),
        ),
        portal_pager(S, "Pages of conversations"),
        aria_label="Your conversations",
    )


def _new_message_form() -> rx.Component:
    return rx.el.section(
        rx.heading("New message", as_="h2", size="4", margin_bottom="0.5em"),
        rx.el.form(
            form_alert(S.form_error),
            text_field("Subject", "subject", error=S.subject_error, max_length=MAX_SUBJECT_CHARS,
                       aria_invalid=invalid_flag(S.subject_error), auto_complete="off"),
            textarea_field("Message", "body", error=S.body_error, max_length=PASTE_CEILING,
                           hint=f"Up to {MAX_BODY_CHARS:,} characters. For an emergency call 911."),
            rx.hstack(
                submit_button("Send message"),
                rx.button("Cancel", type="button", on_click=S.cancel_new, variant="outline", size="3",
                          margin_top="0.5em"),
            ),
            on_submit=S.send_message,
            key=S.form_version,
        ),
        style={"margin_bottom": "1.5em", "padding": "1em", "border": f"1px solid {PANEL_LINE}", "border_radius": "8px"},
    )


def _post(post) -> rx.Component:
    is_staff = post.author_type == "staff"
    return rx.el.article(
        rx.el.p(
            rx.cond(post.unread_by_patient, _unread_badge("New")),
            rx.el.strong(rx.cond(is_staff, "The practice: ", ""), post.author_label, class_name="post-author"),
            rx.el.span(" — ", post.when, style={"color": MUTED, "font_size": "0.9em"}),
            style={"margin": "0 0 0.4em"},
        ),
        rx.el.p(post.body, style={"white_space": "pre-wrap", "margin": "0", "overflow_wrap": "anywhere"}),
        class_name=rx.cond(is_staff, "post post-staff", "post post-patient"),
        style={"padding": "0.8em", "margin_bottom": "0.8em", "border": f"1px solid {PANEL_LINE}",
               "border_radius": "8px", "background": rx.cond(is_staff, "#f3f7f4", "#ffffff")},
    )


def _thread() -> rx.Component:
    return rx.el.section(
        rx.button("Back to messages", on_click=S.close_thread, variant="outline", margin_bottom="1em"),
        rx.heading(S.open_subject, as_="h2", size="5", margin_bottom="0.8em"),
        rx.foreach(S.posts, _post),
        rx.el.form(
            textarea_field("Reply", "reply", error=S.reply_error, max_length=PASTE_CEILING, rows=5,
                           hint=f"Up to {MAX_BODY_CHARS:,} characters."),
            submit_button("Send reply"),
            on_submit=S.send_reply,
            key=S.form_version,
        ),
        aria_label="Conversation",
    )


def messages_page() -> rx.Component:
    return portal_page(
        "Messages",
        S.ready,
        rx.cond(
            S.open_id != 0,
            _thread(),
            rx.fragment(
                form_notice(S.notice),
                rx.cond(S.composing, _new_message_form(),
                        rx.button("New message", on_click=S.new_message, size="3", margin_bottom="1em")),
                _thread_list(),
            ),
        ),
    )


def add_pages(app: rx.App) -> None:
    app.add_page(messages_page, route=routes.PORTAL_MESSAGES, title="Messages | Patient Portal", on_load=S.load)
