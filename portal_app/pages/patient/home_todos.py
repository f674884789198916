"""Slot: the to-dos (requested forms) on the portal home."""

import reflex as rx


def todos() -> rx.Component:
    return rx.fragment()
