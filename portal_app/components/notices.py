"""Short page-level texts: loading, the portal switched off, view-only access, a link on its own line."""

from __future__ import annotations

import reflex as rx

from portal_app.components.forms import form_alert
from portal_app.components.styles import MUTED, PAGE_LINK, PANEL_LINE
from portal_app.state.base import StaffSessionState

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


def no_rights_notice() -> rx.Component:
    """A staff user with no permission at all: nothing to open, so say whom to ask, and keep
    Sign out at hand (the header's menu is empty for them)."""
    return rx.el.section(
        rx.heading("Your account has no access yet", as_="h2", size="4", margin_bottom="0.4em"),
        rx.el.p("Your role does not give you any page of the portal admin yet. Ask ",
                rx.el.strong(StaffSessionState.staff_access_contacts),
                " (who can change roles in Setup > Roles) to give your role the permissions you need, "
                "then sign in again.", style={"margin": "0 0 0.8em"}),
        rx.button("Sign out", on_click=StaffSessionState.sign_out),
        role="status", aria_label="No access yet",
        style={"border": f"1px solid {PANEL_LINE}", "border_radius": "8px", "padding": "0.8em 1em",
               "max_width": "46em"},
    )


def no_permission_or_loading(loaded: rx.Var) -> rx.Component:
    """A staff list page that the user may not use (or is still asking the server about); a
    user with no permission at all reads whom to ask (`no_rights_notice`)."""
    return rx.cond(StaffSessionState.staff_access_contacts != "", no_rights_notice(),
                   rx.el.p(rx.cond(loaded, "You do not have permission to use this page.", "Loading…"),
                           style={"color": MUTED}))


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
