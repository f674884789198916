"""Message texts for Connect Patient's create-and-connect flow.

The read-back token is the one temporary secret that travels (by design, and it expires);
the welcome message sent after connecting never repeats it.
"""

from __future__ import annotations

from portal_app.notify.templates import NOT_EXPECTED, Rendered, practice_email, sms


def connect_token_email(*, practice: str, phone: str, token: str, expires: str) -> Rendered:
    return practice_email(
        practice=practice, phone=phone, subject=f"Your {practice} portal token", greeting="Hello,",
        body=[f"Your {practice} portal token is {token}.",
              "Read it to the staff member helping you. It expires on "
              f"{expires}."],
        call_if="If you did not ask for this, do not share the token, and")


def connect_token_sms(*, practice: str, token: str, expires: str) -> Rendered:
    text = (f"Your {practice} portal token is {token}. Read it to the staff member helping you. "
            f"It expires {expires}.")
    return sms(text)


def welcome_email(*, practice: str, phone: str, user_id: str, login_url: str, days: int, tries: int) -> Rendered:
    return practice_email(
        practice=practice, phone=phone, subject=f"Welcome to the {practice} patient portal", greeting="Hello,",
        body=[f"Your {practice} patient portal account is ready and connected to your chart.",
              f"Sign in at the link below with the user ID {user_id}. Your temporary password is the "
              f"token you read to our staff member; it works for {days} days. After signing in you "
              "will choose a new password.",
              f"The token stops working for good after {tries} wrong tries. If it has expired or stopped "
              "working, use \"Forgot password\" on the sign-in page to set a password, or call us."],
        call_if=NOT_EXPECTED, link=login_url, button="Sign in")


def welcome_sms(*, practice: str, user_id: str, login_url: str, days: int, tries: int) -> Rendered:
    text = (f"{practice} patient portal: your account is ready. Sign in at {login_url} with user ID "
            f"{user_id} and the token you read to us as temporary password (valid {days} days, "
            f"{tries} wrong tries), then choose a new password. Token expired? Use \"Forgot password\" "
            "on the sign-in page.")
    return sms(text)


def connected_email(*, practice: str, phone: str, user_id: str, login_url: str) -> Rendered:
    return practice_email(
        practice=practice, phone=phone, subject=f"Your chart is connected to the {practice} patient portal",
        greeting="Hello,",
        body=[f"Your chart at {practice} is now connected to your patient portal account {user_id}.",
              "Sign in at the link below with your usual password. If you do not remember it, use "
              "\"Forgot password\" on the sign-in page."],
        call_if=NOT_EXPECTED, link=login_url, button="Sign in")


def connected_sms(*, practice: str, user_id: str, login_url: str) -> Rendered:
    text = (f"{practice} patient portal: your chart is now connected to your account {user_id}. "
            f"Sign in at {login_url} with your usual password.")
    return sms(text)
