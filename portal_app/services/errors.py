"""The small set of domain errors services raise; messages are fit to show a user."""

from __future__ import annotations


class DomainError(Exception):
    """A rule was not met. `field` names the form field the message belongs beside."""

    # True once the refusal is in the audit log (a service wrote it): the guard does not write it again.
    audited: bool = False

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    pass


class NotFound(DomainError):
    pass


class Forbidden(DomainError):
    pass


class PortalUnavailable(DomainError):
    def __init__(self) -> None:
        super().__init__("The patient portal is not available right now.")


class SignInFailed(DomainError):
    """A refused sign-in. Each sign-in gives one message whatever was wrong (no such user, a wrong
    password, a locked or disabled account), so the answer tells nothing about which."""


class FormInvalid(InvalidInput):
    """Several fields can be wrong at once; `errors` maps field -> message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(next(iter(errors.values()), "Some fields need attention."))
        self.errors = errors


class AlreadyTaken(FormInvalid):
    """Two requests claimed the same unique thing at once (a user ID, a chart's connection).

    The database's unique index decided; the later request gets this message beside `field`,
    readable both as one field's message (`field`, `message`) and as a form's (`errors`).
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__({field: message})
        self.field = field
