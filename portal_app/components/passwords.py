"""Choosing a new portal password: the password and its confirmation, with the advice beside it."""

from __future__ import annotations

import reflex as rx

from portal_app.components.forms import invalid_flag, text_field

PASSWORD_HINT = ("At least 10 characters. A phrase of three or four unrelated words is easy to "
                 "remember and hard to guess. Do not use your name or email.")


def new_password_fields(password_error: rx.Var, confirm_error: rx.Var, *, label: str = "Password",
                        confirm_label: str = "Confirm password") -> rx.Component:
    """The fields `password` and `confirm` of a form that sets a patient's password."""
    return rx.fragment(
        text_field(label, "password", input_type="password", hint=PASSWORD_HINT, error=password_error,
                   auto_complete="new-password", max_length=1024, aria_invalid=invalid_flag(password_error)),
        text_field(confirm_label, "confirm", input_type="password", error=confirm_error,
                   auto_complete="new-password", max_length=1024, aria_invalid=invalid_flag(confirm_error)),
    )
