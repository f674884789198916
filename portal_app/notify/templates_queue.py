"""Notices about items in the Patient Portal queue (a staff reply, a decided appointment request).

They carry no health information: only that something is waiting in the portal, and the
sign-in link. What was written stays behind the sign-in. A booked appointment says when and
where (time, provider, location) so the patient can keep it; never the reason for the visit.
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


def appointment_booked_email(*, practice: str, phone: str, login_url: str, when: str, provider: str,
                             location: str) -> Rendered:
    return practice_email(
        practice=practice, phone=phone, subject=f"Your appointment with {practice}", greeting="Hello,",
        body=[f"Your appointment is booked for {when} with {provider} at {location}.",
              "Sign in to the portal to see it and add it to your calendar."],
        call_if="If you cannot come or have questions,", link=login_url, button="Sign in to the portal")


def appointment_booked_sms(*, practice: str, login_url: str, when: str, provider: str, location: str) -> Rendered:
    return sms(f"{practice}: your appointment is booked for {when} with {provider} at {location}. "
               f"Details: {login_url}")
