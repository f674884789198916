"""Reflex config of the floor app: the smallest Reflex 0.10 app, for bench/ui.py to compare against."""

import os

import reflex as rx

BASE_URL = os.environ.get("FLOOR_BASE_URL", "http://localhost:3000").rstrip("/")

config = rx.Config(
    app_name="floor_app",
    telemetry_enabled=False,
    state_manager_mode="memory",
    cors_allowed_origins=[BASE_URL],
    # The same explicit plugins as the portal's rxconfig.py, so both builds carry the same framework.
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
    show_built_with_reflex=False,
)
