"""Message texts. Plain and HTML bodies; no password ever appears in one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from portal_app.models import PracticeSettings


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _html(paragraphs: list[str], link: str = "", button: str = "") -> str:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    if link:
        body += (f"<p><a href=\"{escape(link, quote=True)}\" style=\"background:#0b5cad;color:#fff;"
                 f"padding:10px 16px;border-radius:6px;text-decoration:none\">{escape(button)}</a></p>"
                 f"<p style=\"font-size:13px;color:#444\">Or paste this address into your browser: "
                 f"{escape(link)}</p>")
    return f"<div style=\"font-family:sans-serif;font-size:16px;color:#1a1a1a\">{body}</div>"


def email(*, subject: str, lines: list[str], link: str = "", button: str = "",
          link_after: int = 3) -> Rendered:
    """An email of paragraphs; a link stands after `link_after` of them in the text and as a
    button (with the address spelled out) in the HTML."""
    parts = lines[:link_after] + [link] + lines[link_after:] if link else lines
    return Rendered(subject=subject, text="\n\n".join(parts), html=_html(lines, link, button))


def sms(text: str) -> Rendered:
    return Rendered(subject="", text=text, html="")


def for_channel(channel: str, *, email_template: Callable[..., Rendered], sms_template: Callable[..., Rendered],
                config: PracticeSettings, **words: Any) -> Rendered:
    """A notice as its channel carries it: the email (which names the practice and gives its phone)
    or the text message (the practice's name only). `words` are what both templates take."""
    if channel == "email":
        return email_template(practice=config.practice_name, phone=config.practice_phone, **words)
    return sms_template(practice=config.practice_name, **words)


# How the last line of a message, the one that says whom to call, begins.
NOT_EXPECTED = "If you did not expect this message,"
NOT_ASKED = "If you did not ask for this,"
NOT_YOU = "If this was not you, ignore this message, or"


def practice_email(*, practice: str, phone: str, subject: str, greeting: str, body: list[str],
                   call_if: str, link: str = "", button: str = "", link_after: int = 3) -> Rendered:
    """An email from the practice: the greeting, the body's paragraphs, and last the line that
    tells the reader to call the practice `call_if` something is wrong ("If you did not expect
    this message, call ... at ...")."""
    lines = [greeting, *body, f"{call_if} call {practice} at {phone}."]
    return email(subject=subject, lines=lines, link=link, button=button, link_after=link_after)


def invitation(*, practice: str, phone: str, first_name: str, link: str, valid_for: str) -> Rendered:
    return practice_email(
        practice=practice, phone=phone, subject=f"Set up your {practice} patient portal account",
        greeting=f"Hello {first_name},",
        body=[f"{practice} invites you to its patient portal, where you can see your health "
              "information and contact the practice.",
              f"Use the link below to choose your username and password. It works once and "
              f"expires in {valid_for}."],
        call_if=NOT_EXPECTED, link=link, button="Set up my account")


def password_reset(*, practice: str, phone: str, first_name: str, link: str, valid_for: str) -> Rendered:
    return practice_email(
        practice=practice, phone=phone, subject=f"Reset your {practice} patient portal password",
        greeting=f"Hello {first_name},",
        body=[f"We received a request to reset the password of your {practice} patient portal account.",
              f"Use the link below to choose a new password. It works once and expires in {valid_for}."],
        call_if="If you did not ask for this, you can ignore this message, or", link=link,
        button="Choose a new password")


def describe_lifetime(hours: float) -> str:
    if hours < 1:
        minutes = round(hours * 60)
        return f"{minutes} minute" + ("s" if minutes != 1 else "")
    if hours < 48:
        whole = round(hours)
        return f"{whole} hour" + ("s" if whole != 1 else "")
    days = round(hours / 24)
    return f"{days} days"
