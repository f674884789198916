"""Messages of Portal Account Setup: a representative's set-up link and a "new chart" notice.

Neither ever carries a password; the set-up link leads to a page where the person chooses one.
"""

from __future__ import annotations

from portal_app.notify.templates import NOT_EXPECTED, Rendered, practice_email


def _hello(first_name: str) -> str:
    return f"Hello {first_name}," if first_name else "Hello,"


def representative_setup(*, practice: str, phone: str, first_name: str, link: str,
                         valid_for: str) -> Rendered:
    return practice_email(
        practice=practice, phone=phone, subject=f"Set your {practice} patient portal password",
        greeting=_hello(first_name),
        body=[f"{practice} has set up a patient portal account for you as an authorized "
              "representative, so you can act for a family member on the portal.",
              f"Use the link below to choose your password. It works once and expires in {valid_for}."],
        call_if=NOT_EXPECTED, link=link, button="Choose my password")


def representative_connected(*, practice: str, phone: str, first_name: str, user_id: str,
                             login_url: str) -> Rendered:
    return practice_email(
        practice=practice, phone=phone, subject=f"Another chart was added to your {practice} portal account",
        greeting=_hello(first_name),
        body=[f"Your patient portal account {user_id} at {practice} can now open one more family "
              "member's chart. After signing in, choose whose chart to view with \"Viewing:\"."],
        call_if=NOT_EXPECTED, link=login_url, button="Sign in", link_after=2)
