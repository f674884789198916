"""Messages of Portal Account Setup: a representative's set-up link and a "new chart" notice.

Neither ever carries a password; the set-up link leads to a page where the person chooses one.
"""

from __future__ import annotations

from portal_app.notify.templates import Rendered, email


def representative_setup(*, practice: str, phone: str, first_name: str, link: str,
                         valid_for: str) -> Rendered:
    lines = [
        f"Hello {first_name}," if first_name else "Hello,",
        f"{practice} has set up a patient portal account for you as an authorized "
        "representative, so you can act for a family member on the portal.",
        f"Use the link below to choose your password. It works once and expires in {valid_for}.",
        f"If you did not expect this message, call {practice} at {phone}.",
    ]
    return email(subject=f"Set your {practice} patient portal password", lines=lines, link=link,
                 button="Choose my password")


def representative_connected(*, practice: str, phone: str, first_name: str, user_id: str,
                             login_url: str) -> Rendered:
    lines = [
        f"Hello {first_name}," if first_name else "Hello,",
        f"Your patient portal account {user_id} at {practice} can now open one more family "
        "member's chart. After signing in, choose whose chart to view with \"Viewing:\".",
        f"If you did not expect this message, call {practice} at {phone}.",
    ]
    return email(subject=f"Another chart was added to your {practice} portal account", lines=lines,
                 link=login_url, button="Sign in", link_after=2)
