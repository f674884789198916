"""Notices about items in the Patient Portal queue (a staff reply, a decided appointment request).

They carry no health information at all: only that something is waiting in the portal, and the
sign-in link. What was written stays behind the sign-in.
"""

from __future__ import annotations

from portal_app.notify.templates import Rendered, practice_email, sms


def new_message_email(*, practice: str, phone: str, login_url: str) -> Rendered:
    return practice_email(
        practice=practice, phone=phone, subject=f"New message from {practice}", greeting="Hello,",
        body=[f"You have a new message from {practice} in your portal.",
              "Sign in to read it."],
        call_if="If you have questions about this notice,", link=login_url, button="Sign in to the portal")


def new_message_sms(*, practice: str, login_url: str) -> Rendered:
    return sms(f"You have a new message from {practice} in your portal. Sign in to read it: {login_url}")
