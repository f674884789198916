"""Slot: documents shared with the patient, on the chart's Patient Portal tab."""

import reflex as rx

ON_LOAD: list = []


def section() -> rx.Component:
    return rx.fragment()
