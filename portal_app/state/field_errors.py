"""Where a form's messages go: beside the field they are about, or over the form.

A state mixing in `FieldErrors` declares a `<name>_error` var for each name in its
`ERROR_FIELDS`; a message about any other field (or none) goes to `form_error`. A form that
sets a password mixes in `PasswordErrors`, which declares the new password and its
confirmation as well.
"""

from __future__ import annotations

from typing import ClassVar

import reflex as rx

from portal_app.services.errors import DomainError


class FieldErrors(rx.State, mixin=True):
    form_error: str = ""

    # The fields with a message of their own (each has a `<name>_error` var).
    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ()

    def _clear_errors(self) -> None:
        for name in (*self.ERROR_FIELDS, "form"):
            setattr(self, f"{name}_error", "")

    def _show_error(self, field: str | None, message: str) -> None:
        """`message` beside `field`, or over the form when the field has no place of its own."""
        name = field if field in self.ERROR_FIELDS else "form"
        setattr(self, f"{name}_error", message)

    # What a guarded handler (state/actions.py) does when the session has ended, and when a
    # service refused the input; a state with more to forget or to show overrides them.

    def _forget(self) -> None:
        self._clear_errors()

    def _failed(self, error: DomainError):
        self._show_error(error.field, error.message)


class PasswordErrors(FieldErrors, mixin=True):
    """A form that sets a password: the new password ("password") and its confirmation ("confirm")."""

    password_error: str = ""
    confirm_error: str = ""

    ERROR_FIELDS: ClassVar[tuple[str, ...]] = ("password", "confirm")
