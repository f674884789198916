"""The idle timer of a signed-in page: a warning, then automatic logoff (state/idle.py).

Activity (a key, a click, a touch, the wheel) restarts the timer; after a quiet minute it also
tells the server (`keep_alive`), so the server's idle limit and this timer agree. At the limit
the page is covered at once (nothing stays readable while the server answers) and the tab
signs out; if the server cannot be reached, the browser opens the sign-in page itself.

Tests may set `window.portalIdleTimes = {warnMs, endMs}` before the page loads (Playwright's
`add_init_script`) to use seconds: it changes only this browser's timer (the server's limit
stays), so it gives nobody more time than the server allows.
"""

from __future__ import annotations

import json

import reflex as rx

from portal_app.components.styles import LINK_COLOR
from portal_app.services import sessions
from portal_app.state.idle import (
    IDLE_SIGNED_OUT,
    IDLE_WARNING,
    WARN_BEFORE,
    PortalIdleState,
    SignedOutNoticeState,
    StaffIdleState,
    ended_url,
)

# Tell the server about activity at most this often (it records it at most once a minute).
PING_EVERY_MS = 60_000

_TIMER_JS = """(() => {
  const cfg = Object.assign({warnMs: %(warn)d, endMs: %(end)d}, window.portalIdleTimes || {});
  if (window.__portalIdle) window.__portalIdle.stop();
  const el = (id) => document.getElementById(id);
  let warnTimer = null, endTimer = null, lastPing = Date.now(), ended = false;
  const warning = () => el("idle-warning");
  const arm = () => {
    clearTimeout(warnTimer); clearTimeout(endTimer);
    warnTimer = setTimeout(() => {
      const box = warning();
      if (box) { box.hidden = false; const stay = el("idle-stay"); if (stay) stay.focus(); }
    }, cfg.warnMs);
    endTimer = setTimeout(end, cfg.endMs);
  };
  const end = () => {
    if (ended) return;
    ended = true;
    stop();
    const cover = el("idle-cover");
    if (cover) cover.hidden = false;
    const box = warning();
    if (box) box.hidden = true;
    const button = el("idle-end");
    if (button) button.click();
    setTimeout(() => { if (el("idle-cover")) window.location.assign(%(login)s); }, 4000);
  };
  const activity = (event) => {
    if (ended) return;
    const box = warning();
    // Pressing "Stay signed in" is activity too, but the box stays until its click: hidden at
    // pointerdown, the click would land on whatever lies under it.
    if (box && !box.hidden && event && box.contains(event.target)) { arm(); return; }
    const warned = box && !box.hidden;
    if (box) box.hidden = true;
    if (warned || Date.now() - lastPing >= %(ping)d) {
      lastPing = Date.now();
      const ping = el("idle-ping");
      if (ping) ping.click();
    }
    arm();
  };
  // "Stay signed in" itself tells the server (its on_click); here the box goes and the timer restarts.
  const stay = (event) => {
    if (ended || !(event.target.closest && event.target.closest("#idle-stay"))) return;
    const box = warning();
    if (box) box.hidden = true;
    lastPing = Date.now();
    arm();
  };
  const EVENTS = ["keydown", "pointerdown", "wheel", "touchstart"];
  const stop = () => {
    clearTimeout(warnTimer); clearTimeout(endTimer);
    EVENTS.forEach((name) => window.removeEventListener(name, activity, true));
    window.removeEventListener("click", stay, true);
    if (window.__portalIdle && window.__portalIdle.stop === stop) window.__portalIdle = null;
  };
  EVENTS.forEach((name) => window.addEventListener(name, activity, true));
  window.addEventListener("click", stay, true);
  window.__portalIdle = {stop};
  arm();
})()"""

_STOP_JS = "window.__portalIdle && window.__portalIdle.stop()"


def _timer_script(login_route: str) -> str:
    return _TIMER_JS % {
        "warn": (sessions.IDLE - WARN_BEFORE).total_seconds() * 1000,
        "end": sessions.IDLE.total_seconds() * 1000,
        "ping": PING_EVERY_MS,
        "login": json.dumps(ended_url(login_route)),
    }


def idle_timer(*, staff: bool, login_route: str) -> rx.Component:
    """The warning, the cover shown at logoff, and the two hidden triggers the script clicks."""
    state = StaffIdleState if staff else PortalIdleState
    return rx.el.div(
        rx.el.div(
            rx.el.p(IDLE_WARNING, style={"margin": "0 0 0.6em 0"}),
            rx.button("Stay signed in", id="idle-stay", on_click=state.keep_alive),
            id="idle-warning", role="alertdialog", aria_label="Inactivity warning", hidden=True,
            style={"position": "fixed", "bottom": "1.5em", "right": "1.5em", "max_width": "26em",
                   "z_index": "1000", "background": "white", "color": "#1a1a1a", "padding": "1em 1.2em",
                   "border": f"2px solid {LINK_COLOR}", "border_radius": "8px",
                   "box_shadow": "0 4px 16px rgba(0,0,0,0.2)"},
        ),
        rx.el.div(
            rx.el.p("Signing you out…", style={"margin": "3em auto", "text_align": "center"}),
            id="idle-cover", role="status", hidden=True,
            style={"position": "fixed", "inset": "0", "z_index": "2000", "background": "white",
                   "color": "#1a1a1a"},
        ),
        rx.el.button("Keep the session", id="idle-ping", on_click=state.keep_alive, hidden=True,
                     tab_index=-1, aria_hidden="true"),
        rx.el.button("End the session", id="idle-end", on_click=state.sign_out_idle, hidden=True,
                     tab_index=-1, aria_hidden="true"),
        on_mount=rx.call_script(_timer_script(login_route)),
        on_unmount=rx.call_script(_STOP_JS),
    )


def idle_signed_out_notice() -> rx.Component:
    """On a sign-in page opened by the idle timer: why this tab was signed out."""
    return rx.cond(
        SignedOutNoticeState.ended_idle,
        rx.callout(IDLE_SIGNED_OUT, icon="info", color_scheme="blue", role="status", id="idle-signed-out",
                   margin_bottom="1em", high_contrast=True),
    )
