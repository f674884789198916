"""Reflex configuration for portal_app.

Environment:
  REFLEX_DB_URL     database URL (default: sqlite:///portal.db in the repo root).
                    Reflex itself also reads REFLEX_DB_URL and lets it override db_url.
  PORTAL_BASE_URL   the portal's public base URL; it is the only origin allowed to
                    open the backend websocket (default http://localhost:3000).
  REFLEX_REDIS_URL  unset: one backend worker, tab state in its memory. Set (redis://...):
                    tab state lives in that Redis (Reflex reads the URL itself), so several
                    backend workers can serve one portal; the throttles are shared there too.
"""

import os

import reflex as rx

PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "http://localhost:3000").rstrip("/")

config = rx.Config(
    app_name="portal_app",
    db_url=os.environ.get("REFLEX_DB_URL", "sqlite:///portal.db"),
    # Nothing about a practice's app leaves the machine unasked.
    telemetry_enabled=False,
    # One process: state kept in memory (never "disk": no unencrypted pickles in .states/).
    # Several workers: REFLEX_REDIS_URL set, state in Redis (Reflex's own rule would pick redis
    # only when the mode is not named here; naming it keeps "disk" from ever being a default).
    # Redis keeps a tab's state for redis_token_expiration (Reflex's 1 h) after its last event.
    state_manager_mode="redis" if os.environ.get("REFLEX_REDIS_URL", "").strip() else "memory",
    cors_allowed_origins=[PORTAL_BASE_URL],
    # Plugins listed explicitly (Reflex 0.10 warns about implicit ones).
    # Radix Themes: rx.button/rx.text/... are Radix Themes components; the app theme
    # is configured here (App(theme=...) is deprecated in 0.10).
    plugins=[
        rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo")),
    ],
    # No sitemap.xml: the portal's pages are not for search engines.
    disable_plugins=[rx.plugins.SitemapPlugin],
    show_built_with_reflex=False,
)
