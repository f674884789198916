"""Short page-level texts: loading, the portal switched off, view-only access, a link on its own line."""

from __future__ import annotations

import reflex as rx

from portal_app.components.forms import form_alert
from portal_app.components.styles import MUTED, PAGE_LINK

UNAVAILABLE_TITLE = "Patient portal unavailable"


def loading() -> rx.Component:
    """Shown until the page's on_load handler has answered."""
    return rx.el.p("Loading…", role="status", style={"color": MUTED})


def when_loaded(loaded: rx.Var | bool, *content: rx.Component,
                before: rx.Component | None = None) -> rx.Component:
    """A page's content once its state has loaded; before that `before`, by default "Loading…".

    Several children stand in one fragment. Staff pages pass `before=loading_or_failed(error)` (or
    `no_permission_or_loading(loaded)` with `loaded` the permission flag)."""
    body = content[0] if len(content) == 1 else rx.fragment(*content)
    return rx.cond(loaded, body, loading() if before is None else before)


def loading_or_failed(error: rx.Var) -> rx.Component:
    """A staff page until it has loaded: "Loading…", or why it could not load."""
    return rx.cond(error != "", form_alert(error), rx.text("Loading\u2026", role="status"))


def no_permission_or_loading(loaded: rx.Var) -> rx.Component:
    """A staff list page that the user may not use (or is still asking the server about)."""
    return rx.el.p(rx.cond(loaded, "You do not have permission to use this page.", "Loading…"),
                   style={"color": MUTED})


def portal_unavailable(phone: rx.Var | str) -> rx.Component:
    """Shown instead of any form while the practice has the portal switched off."""
    return rx.callout.root(
        rx.callout.icon(rx.icon("info")),
        rx.callout.text("The patient portal is not available right now. For help, call the "
                        "practice at ", rx.el.strong(phone), "."),
        color_scheme="amber", role="status",
    )


def page_link(text: str, href: str) -> rx.Component:
    """A link to another page, on its own ("Back to sign in", "Forgot password?")."""
    return rx.link(text, href=href, style=PAGE_LINK)


def update_access_needed(what: str, area: str) -> str:
    """The usual `view_only_notice` text: `what` the user may view, and the area whose Update access
    changing it needs."""
    return f"You can view {what}; changing them needs Update access to {area}."


def view_only_notice(can_change: rx.Var, text: str) -> rx.Component:
    """Tells a staff user who may read a page but not change it (`can_change` false) what access
    changing needs."""
    return rx.cond(~can_change,
                   rx.callout(text, icon="info", color_scheme="gray", margin_bottom="1em", high_contrast=True))
