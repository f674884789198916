"""Message texts for connection keys and the create-account verification. No password ever."""

from __future__ import annotations

from portal_app.notify.templates import NOT_ASKED, NOT_YOU, Rendered, practice_email, sms


def connection_key_email(*, practice: str, phone: str, first_name: str, key: str, link: str,
                         expires: str) -> Rendered:
    return practice_email(
        practice=practice, phone=phone, subject=f"Your {practice} patient portal connection key",
        greeting=f"Hello {first_name},",
        body=[f"{practice} has made a connection key for you, so you can connect your chart to its "
              "patient portal.",
              f"Your connection key: {key}",
              "Follow the link below, enter your email address or mobile number, click Create Account, "
              "and follow the verification message we send you. When asked, enter the key above.",
              f"The key works once and expires on {expires}."],
        call_if=NOT_ASKED, link=link, button="Create my account", link_after=4)


def connection_key_sms(*, practice: str, key: str, link: str, expires: str) -> Rendered:
    text = (f"{practice}: your patient portal connection key is {key} (expires {expires}). "
            f"Create your account at {link}")
    return sms(text)


def verification_email(*, practice: str, phone: str, link: str, valid_for: str) -> Rendered:
    return practice_email(
        practice=practice, phone=phone, subject=f"Confirm your email for the {practice} patient portal",
        greeting="Hello,",
        body=[f"Someone (we hope you) started creating a {practice} patient portal account with this "
              "email address.",
              f"Follow the link below to continue. It works once and expires in {valid_for}."],
        call_if=NOT_YOU, link=link, button="Continue creating my account")


def verification_sms(*, practice: str, link: str, valid_for: str) -> Rendered:
    text = (f"{practice} patient portal: to continue creating your account, open {link} "
            f"(expires in {valid_for}). Not you? Ignore this text.")
    return sms(text)


def account_exists_email(*, practice: str, phone: str, sign_in_link: str,
                         forgot_link: str) -> Rendered:
    return practice_email(
        practice=practice, phone=phone, subject=f"You already have a {practice} patient portal account",
        greeting="Hello,",
        body=[f"Someone (we hope you) tried to create a {practice} patient portal account with this "
              "email address, but an account with it already exists.",
              "Sign in with it at the link below. If you do not remember the password, use "
              f"\"Forgot password\": {forgot_link}"],
        call_if=NOT_YOU, link=sign_in_link, button="Sign in")


def account_exists_sms(*, practice: str, sign_in_link: str, forgot_link: str) -> Rendered:
    text = (f"{practice} patient portal: you already have an account with this number. Sign in at "
            f"{sign_in_link} or reset your password at {forgot_link}. Not you? Ignore this text.")
    return sms(text)
