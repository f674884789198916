"""Enums whose members carry the words a page shows for them (as Django's TextChoices do)."""

from __future__ import annotations

import enum
from typing import Self


class Choice(str, enum.Enum):
    """A str enum whose members are written `VALUE = "value", "Label"`: the stored value and its
    label stand together, so no parallel table of labels names every member again.

    `Area("forms")` finds a member by its value as with any enum; `label` defaults to "" only so
    that type checkers accept that one-argument lookup.
    """

    label: str

    def __new__(cls, value: str, label: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def labels(cls) -> dict[Self, str]:
        """Every member and its label, in the order they are declared."""
        return {member: member.label for member in cls}
