"""Page frames for staff and patients."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components.focus import focus_keeper
from portal_app.components.idle_timer import idle_timer
from portal_app.components.notices import when_loaded
from portal_app.components.styles import (
    CONTROL_BORDER,
    HEAD_BG,
    LIGHT_LINE,
    LINK,
    LINK_COLOR,
    PANEL_LINE,
    TEXT_SOFT,
    USER_TEXT,
)
from portal_app.services.permissions import Permission
from portal_app.state.base import PortalSessionState, StaffSessionState
from portal_app.state.practice_header import FALLBACK as FALLBACK_TITLE
from portal_app.state.practice_header import PracticeHeaderState


def _nav_link(text: str, href: str) -> rx.Component:
    # nowrap + inline-block: on a phone a link moves to the next line whole, never split mid-word.
    return rx.el.a(text, href=href, style={"color": LINK_COLOR, "font_weight": "600",
                                           "text_decoration": "underline", "margin_right": "1.2em",
                                           "white_space": "nowrap", "display": "inline-block",
                                           "padding": "0.15em 0"})


def _setup_group() -> rx.Component:
    """The seed's "Setup" entries, grouped: Roles, Staff users, Portal Settings (and Import patients)."""
    return rx.cond(
        StaffSessionState.can_roles | StaffSessionState.can_settings | StaffSessionState.can_import,
        rx.el.span(
            rx.el.span("Setup:", style={"font_weight": "600", "margin_right": "0.5em", "color": TEXT_SOFT}),
            rx.cond(StaffSessionState.can_roles, _nav_link("Roles", routes.ROLES)),
            rx.cond(StaffSessionState.can_roles, _nav_link("Staff users", routes.STAFF_USERS)),
            rx.cond(StaffSessionState.can_settings, _nav_link("Portal Settings", routes.PORTAL_SETTINGS)),
            rx.cond(StaffSessionState.can_import, _nav_link("Import patients", routes.PATIENT_IMPORT)),
            role="group", aria_label="Setup",
            style={"border_left": "1px solid #bbb", "padding_left": "0.8em", "margin_right": "0.4em"},
        ),
    )


# Counts the session time up once a second in the browser, between server answers (each
# answer sets the true value again). It changes only the text node React rendered, so React's
# next update still lands; one interval per tab, whatever page mounts the header.
_SESSION_TICK = """(() => {
  if (window.__staffSessionTick) return;
  const pad = (n) => String(n).padStart(2, "0");
  window.__staffSessionTick = setInterval(() => {
    const node = document.getElementById("staff-session-time")?.firstChild;
    const m = node && /^(\\d+):(\\d\\d):(\\d\\d)$/.exec(node.nodeValue || "");
    if (!m) return;
    const s = Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) + 1;
    node.nodeValue = `${Math.floor(s / 3600)}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
  }, 1000);
})()"""


def _signed_in_as() -> rx.Component:
    """The seed's footer line: current user, last sign-in with failed tries since, session time."""
    return rx.vstack(
        rx.text("Current user: ", rx.el.strong(StaffSessionState.staff_name), size="2"),
        rx.text(
            rx.cond(StaffSessionState.staff_last_sign_in == "first sign-in", "First sign-in",
                    "Last sign-in: " + StaffSessionState.staff_last_sign_in),
            " with ",
            rx.cond(StaffSessionState.staff_failed_since == 0, "no",
                    StaffSessionState.staff_failed_since.to_string()),
            rx.cond(StaffSessionState.staff_failed_since == 1, " failed sign-in attempt",
                    " failed sign-in attempts"),
            rx.cond(StaffSessionState.staff_last_sign_in == "first sign-in", " before it", " since"),
            " · Session: ",
            rx.el.span(StaffSessionState.staff_session_time, id="staff-session-time",
                       on_mount=rx.call_script(_SESSION_TICK)),
            size="1", color=TEXT_SOFT,
        ),
        spacing="0", align="end",
    )


def _skip_link() -> rx.Component:
    """Off screen until focused by keyboard, then shown where it can be seen."""
    return rx.el.a("Skip to content", href="#main", class_name="skip-link",
                   style={"position": "absolute", "left": "-999px", "_focus": {
                       "left": "1em", "top": "0.5em", "z_index": "10", "background": "white",
                       "color": LINK_COLOR, "padding": "0.4em 0.8em", "border": f"2px solid {LINK_COLOR}",
                       "border_radius": "6px"}})


PORTAL_OFF_BANNER = ("The patient portal is switched off (Setup > Portal Settings): patients cannot sign "
                     "in, and nothing you send from here goes out: no invitations, links, keys or notices.")


def _portal_off_banner() -> rx.Component:
    return rx.cond(
        StaffSessionState.portal_off & (StaffSessionState.staff_name != ""),
        rx.el.div(rx.el.strong("Portal switched off. "), PORTAL_OFF_BANNER, role="status", id="portal-off-banner",
                  style={"background": "#fff4e5", "border_bottom": "2px solid #8a4b00", "color": "#4a2800",
                         "padding": "0.6em 1.5em"}),
    )


def staff_layout(title: str, *children: rx.Component) -> rx.Component:
    """Header with navigation (only what the user's roles allow), the signed-in user, their
    last sign-in, failed attempts since, and how long this session has lasted."""
    return rx.el.div(
        _skip_link(),
        focus_keeper(),
        rx.el.header(
            rx.hstack(
                rx.text("Portal Admin", size="4", weight="bold"),
                rx.el.nav(
                    rx.cond(StaffSessionState.can_tasks, _nav_link("My Tasks", routes.TASKS)),
                    rx.cond(StaffSessionState.staff_levels.contains(Permission.PORTAL_ADMIN.value),
                            _nav_link("Patient Portal Onboarding", routes.ONBOARDING)),
                    rx.cond(StaffSessionState.staff_levels.contains(Permission.PORTAL_ADMIN.value),
                            _nav_link("Portal Adoption", routes.ADOPTION)),
                    rx.cond(StaffSessionState.can_account_setup,
                            _nav_link("Portal Account Setup", routes.PORTAL_ACCOUNTS)),
                    rx.cond(StaffSessionState.can_user_management,
                            _nav_link("User Management", routes.PORTAL_USERS)),
                    rx.cond(StaffSessionState.can_outbox, _nav_link("Outbox", routes.OUTBOX)),
                    rx.cond(StaffSessionState.can_audit, _nav_link("Audit Log", routes.AUDIT)),
                    _setup_group(),
                    aria_label="Staff",
                    style={"display": "flex", "flex_wrap": "wrap", "align_items": "center",
                           "row_gap": "0.3em"},
                ),
                rx.spacer(),
                rx.cond(
                    StaffSessionState.staff_name != "",
                    rx.hstack(
                        _signed_in_as(),
                        rx.el.a("Change password", href=routes.STAFF_PASSWORD,
                                style=LINK),
                        rx.button("Sign out", on_click=StaffSessionState.sign_out, variant="outline"),
                        align="center",
                    ),
                ),
                align="center", width="100%", wrap="wrap",
            ),
            style={"padding": "0.8em 1.5em", "border_bottom": f"1px solid {PANEL_LINE}", "background": HEAD_BG},
        ),
        _portal_off_banner(),
        rx.cond(StaffSessionState.staff_name != "", idle_timer(staff=True, login_route=routes.STAFF_LOGIN)),
        rx.el.main(rx.heading(title, size="6", as_="h1", margin_bottom="0.8em"), *children,
                   id="main", style={"padding": "1.2em 1.5em", **USER_TEXT}),
    )


# The portal areas with a page, in menu order (billing has none yet: its permission is kept).
PORTAL_AREA_LINKS: tuple[tuple[str, str, str], ...] = (
    ("messages", "Messages", routes.PORTAL_MESSAGES),
    ("appointments", "Appointments", routes.PORTAL_APPOINTMENTS),
    ("documents", "Documents", routes.PORTAL_DOCUMENTS),
    ("forms", "Forms", routes.PORTAL_FORMS),
    ("health_summary", "Health summary", routes.PORTAL_SUMMARY),
)


def _viewing() -> rx.Component:
    """Whose chart is open; a switcher when the account may open more than one."""
    return rx.cond(
        PortalSessionState.chart_choices.length() > 1,
        rx.el.div(
            rx.el.label("Viewing:", html_for="viewing", style={"font_weight": "600", "margin_right": "0.5em"}),
            rx.el.select(
                rx.foreach(PortalSessionState.chart_choices,
                           lambda c: rx.el.option(c["label"], value=c["value"])),
                id="viewing", value=PortalSessionState.viewing_id,
                on_change=PortalSessionState.switch_chart,
                style={"padding": "0.3em", "border": f"1px solid {CONTROL_BORDER}", "border_radius": "6px"},
            ),
            style={"display": "flex", "align_items": "center"},
        ),
        rx.text("Viewing: ", rx.el.strong(PortalSessionState.viewing_name), size="2"),
    )


def _portal_nav() -> rx.Component:
    return rx.el.nav(
        _nav_link("Home", routes.PORTAL_HOME),
        *[rx.cond(PortalSessionState.viewing_areas.contains(area), _nav_link(label, href))
          for area, label, href in PORTAL_AREA_LINKS],
        aria_label="Portal",
        style={"padding": "0.5em 1.5em", "border_bottom": f"1px solid {LIGHT_LINE}"},
    )


def portal_layout(title: str | rx.Var, *children: rx.Component, signed_in: bool = True,
                  menu: rx.Var | bool = True) -> rx.Component:
    """`menu=False` (or a var that is false) leaves out the areas menu and the chart picker: on the
    forced password change nothing else works yet."""
    return rx.el.div(
        _skip_link(),
        focus_keeper(),
        rx.el.header(
            rx.hstack(
                rx.text(rx.cond(PracticeHeaderState.practice_name != "", PracticeHeaderState.practice_name,
                                FALLBACK_TITLE), size="4", weight="bold", on_mount=PracticeHeaderState.load),
                rx.spacer(),
                rx.cond(
                    PortalSessionState.account_user_id != "",
                    rx.hstack(
                        _viewing() if menu is True else rx.cond(menu, _viewing()),
                        rx.text("Signed in as ", rx.el.strong(PortalSessionState.account_user_id), size="2"),
                        rx.button("Sign out", on_click=PortalSessionState.portal_sign_out, variant="outline"),
                        align="center", wrap="wrap",
                    ),
                ) if signed_in else rx.fragment(),
                align="center", width="100%", wrap="wrap",
            ),
            style={"padding": "0.8em 1.5em", "border_bottom": f"1px solid {PANEL_LINE}", "background": "#f3f7f4"},
        ),
        rx.cond(PortalSessionState.account_user_id != "", idle_timer(staff=False, login_route=routes.LOGIN))
        if signed_in else rx.fragment(),
        rx.cond((PortalSessionState.viewing_name != "") if menu is True
                else (PortalSessionState.viewing_name != "") & menu, _portal_nav())
        if signed_in else rx.fragment(),
        rx.el.main(rx.heading(title, size="6", as_="h1", margin_bottom="0.8em"), *children,
                   id="main",
                   style={"padding": "1.2em 1.5em", "max_width": "52em", "margin": "0 auto", **USER_TEXT}),
    )


def staff_page(title: str, loaded: rx.Var | bool, *content: rx.Component, before: rx.Component) -> rx.Component:
    """A staff page whose content shows once its state has loaded; `before` (loading, why it
    could not load, no permission) until then."""
    return staff_layout(title, when_loaded(loaded, *content, before=before))


def portal_page(title: str | rx.Var, ready: rx.Var | bool, *content: rx.Component,
                signed_in: bool = True, menu: rx.Var | bool = True) -> rx.Component:
    """A patient page whose content shows once its on_load has answered; "Loading…" until then."""
    return portal_layout(title, when_loaded(ready, *content), signed_in=signed_in, menu=menu)
