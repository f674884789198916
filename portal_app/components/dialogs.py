"""The confirmation dialog of every page that asks before it acts (disable, delete, void...)."""

from __future__ import annotations

import reflex as rx


def confirm_dialog(title: tuple, description: tuple, action: rx.Component, *, open: rx.Var | None = None,
                   on_open_change=None, trigger: rx.Component | None = None,
                   spacing: str | None = None) -> rx.Component:
    """The question, what follows from it, then Cancel and the action button.

    Args:
        title: the title's children ("Disable portal access for ", name, "?").
        description: the description's children.
        action: the button that acts (it closes the dialog too).
        open: whether the dialog is open, when the state opens it (else `trigger` does).
        on_open_change: told when the dialog closes (Escape, Cancel, the action).
        trigger: the button that opens the dialog, when no state var does.
        spacing: the Radix spacing between Cancel and the action (default a 0.8em gap).
    """
    # Cancel has no on_click: Radix focuses Cancel on open only when it is a plain button, and
    # closing is reported through on_open_change anyway.
    buttons = rx.flex(
        rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
        rx.alert_dialog.action(action),
        justify="end", margin_top="1em", **({"spacing": spacing} if spacing else {"gap": "0.8em"}),
    )
    content = rx.alert_dialog.content(rx.alert_dialog.title(*title),
                                      rx.alert_dialog.description(*description), buttons)
    if trigger is not None:
        return rx.alert_dialog.root(rx.alert_dialog.trigger(trigger), content)
    return rx.alert_dialog.root(content, open=open, on_open_change=on_open_change)
