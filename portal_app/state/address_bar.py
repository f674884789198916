"""Taking a link's secret out of the address bar once the page has read it.

A set-up, reset or verification link carries its token in the URL. Left there, it would sit in
the browser's history and in screenshots of the page (and, before `Referrer-Policy:
no-referrer`, in the Referer of every request the page made). The state keeps the token in a
backend-only var, so the page replaces its address with the same one without `token=`; a reload
of that address finds the token in the tab's state and shows the same form.
"""

from __future__ import annotations

import json

import reflex as rx

from portal_app import routes


def token_from_url(params: dict[str, str], step: str, kept_token: str, kept_step: str) -> str:
    """The link's token: the URL's, or (a reload of the cleaned address) the one this tab kept."""
    token = str(params.get("token", ""))[:200]
    if token:
        return token
    return kept_token if kept_step == step else ""


def forget_token_in_address(params: dict[str, str], step: str):
    """The event that rewrites the address bar without the token (None when it has none)."""
    if not params.get("token"):
        return None
    clean = routes.setup_path(routes.SetupStep(step))
    # history.state is React Router's own entry data: kept, so back/forward still work.
    return rx.call_script(f"window.history.replaceState(window.history.state, '', {json.dumps(clean)})")
