"""Sharing a file: the file picker and its note (portal Documents, the chart's Documents section)."""

from __future__ import annotations

import reflex as rx

from portal_app.components.forms import field_error
from portal_app.components.styles import CONTROL_BORDER, HINT, INPUT, LABEL, LINK_COLOR, TEXT_SOFT

MAX_MB = 10
FILE_HINT = f"PDF, PNG or JPEG, up to {MAX_MB} MB."
TOO_LARGE = "That file was not accepted: choose one file of at most {mb} MB."
WIDE_FIELD = {"margin_bottom": "1em", "max_width": "36em"}


def _for_this_file(upload_id: str, error, error_for) -> rx.Var:
    """`error` while the chosen file is still the one it was about (`error_for`; "" for "no file
    chosen"): choosing another file clears it at once, before anything is sent."""
    chosen = rx.selected_files(upload_id)
    same = rx.cond(chosen.length() > 0, chosen[0] == error_for, error_for == "")
    return rx.cond(same, error, "")


def file_picker(upload_id: str, field_id: str, error, error_for=None, hint: str = FILE_HINT,
                max_mb: int = MAX_MB) -> rx.Component:
    """A labelled file control ("File") built on rx.upload: the label names the real file input,
    and a real button opens the file chooser (keyboard too); dropping a file also works.
    With `error_for` (the file name the error was about), the error goes when another file is chosen.
    A file over `max_mb` is refused in the browser, before anything is sent (the server refuses a
    larger body anyway: portal_app/body_limit.py)."""
    if error_for is not None:
        error = _for_this_file(upload_id, error, error_for)
    zone = rx.upload(
        rx.el.button("Choose a file", type="button",
                     style={"padding": "0.4em 0.9em", "border": f"1px solid {LINK_COLOR}", "border_radius": "6px",
                            "background": "#ffffff", "color": LINK_COLOR, "font_weight": "600",
                            "cursor": "pointer"}),
        rx.el.span(" or drop it here.", style={"color": TEXT_SOFT}),
        rx.el.p(rx.cond(rx.selected_files(upload_id).length() > 0,
                        rx.el.span("Chosen: ", rx.el.strong(rx.selected_files(upload_id)[0])),
                        rx.el.span("No file chosen.")),
                aria_live="polite", style={"margin": "0.5em 0 0"}),
        id=upload_id, multiple=False, max_files=1, no_keyboard=True, max_size=max_mb * 1024 * 1024,
        on_drop_rejected=lambda _rejected: rx.toast.error(TOO_LARGE.format(mb=max_mb), close_button=True),
        # As props: rx.upload's own defaults (5em padding, centred) win over `style`, and on a
        # phone a tall empty box pushes the form down.
        padding="1em", border=f"1px dashed {CONTROL_BORDER}", text_align="left",
        style={"border_radius": "8px"},
    )
    file_input = zone.children[0].children[0]
    file_input.id = field_id
    file_input.custom_attrs = {"aria-describedby": f"{field_id}-hint {field_id}-error"}
    return rx.el.div(
        rx.el.label("File", html_for=field_id, style=LABEL),
        zone,
        rx.el.p(hint, id=f"{field_id}-hint", style=HINT),
        field_error(field_id, error),
        style=WIDE_FIELD,
    )


def note_field(field_id: str, value, on_blur, error, key) -> rx.Component:
    """The note is sent when the field loses focus (before the button's click is handled)."""
    return rx.el.div(
        rx.el.label("Note", html_for=field_id, style=LABEL),
        rx.el.textarea(id=field_id, default_value=value, on_blur=on_blur, rows=3, max_length=1000, key=key,
                       aria_describedby=f"{field_id}-hint {field_id}-error", style=INPUT),
        rx.el.p("Optional, up to 1000 characters.", id=f"{field_id}-hint", style=HINT),
        field_error(field_id, error),
        style=WIDE_FIELD,
    )
