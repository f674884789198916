"""Reflex configuration for portal_app.

Environment:
  REFLEX_DB_URL     database URL (default: sqlite:///portal.db in the repo root).
                    Reflex itself also reads REFLEX_DB_URL and lets it override db_url.
  PORTAL_BASE_URL   the portal's public base URL; it is the only origin allowed to
                    open the backend websocket (default http://localhost:3000).
"""

import os

import reflex as rx

PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "http://localhost:3000").rstrip("/")

config = rx.Config(
    app_name="portal_app",
    db_url=os.environ.get("REFLEX_DB_URL", "sqlite:///portal.db"),
    # Nothing about a practice's app leaves the machine unasked.
    telemetry_enabled=False,
    # One process, state kept in memory: no unencrypted pickles in .states/.
    # (Use "redis" with REFLEX_REDIS_URL when running several workers.)
    state_manager_mode="memory",
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
