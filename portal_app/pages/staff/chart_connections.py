"""Placeholder section of the chart's Patient Portal tab (its owner replaces it)."""

import reflex as rx

# Handlers to run when the chart page loads (after ChartState.load).
ON_LOAD: list = []


def section() -> rx.Component:
    return rx.fragment()
