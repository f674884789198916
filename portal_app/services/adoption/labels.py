"""Stages, channels and stuck reasons of the adoption board, each with the words it shows."""

from __future__ import annotations

import enum

from portal_app.services.choices import Choice


class Stage(enum.IntEnum):
    """The funnel's steps, in order; a chart's `stage` is the furthest it reached."""

    CHART = 1
    ENABLED = 2
    SENT = 3
    OPENED = 4
    ACCOUNT = 5
    SIGNED_IN = 6
    # Not stored: signed in within ACTIVE_DAYS of the day the board is read.
    ACTIVE = 7


STAGE_LABELS: dict[Stage, str] = {
    Stage.CHART: "Charts",
    Stage.ENABLED: "Access enabled",
    Stage.SENT: "Invited or key/token sent",
    Stage.OPENED: "Link opened",
    Stage.ACCOUNT: "Account created",
    Stage.SIGNED_IN: "Signed in at least once",
    Stage.ACTIVE: "Active in the last 90 days",
}

ACTIVE_DAYS = 90
# A printed key letter not redeemed after this many days is stuck (the post is slow, not lost).
LETTER_STALE_DAYS = 21
# Wrong details on a key this many times: the patient gave up or has the wrong chart.
DETAILS_TRIES = 5


class Channel(Choice):
    """How a chart's onboarding was started or its account made."""

    INVITATION_EMAIL = "invitation_email", "Email invitation"
    KEY_EMAIL = "key_email", "Connection key by email"
    KEY_TEXT = "key_text", "Connection key by text"
    KEY_LETTER = "key_letter", "Connection key by letter"
    TOKEN = "token", "Read-back token"
    STAFF_CREDENTIALS = "staff_credentials", "Staff-set credentials"
    SELF_SETUP = "self_setup", "Self set-up"


class Reason(Choice):
    """Why a chart's onboarding stalled, in the order they are decided (the first that holds)."""

    LOCKED_OUT = "locked_out", "Locked out"
    TEMP_PASSWORD_EXPIRED = "temp_password_expired", "Temporary password expired"
    EMAIL_FAILED = "email_failed", "Email failed"
    TEXT_FAILED = "text_failed", "Text failed"
    DETAILS_MISMATCH = "details_mismatch", "Key details did not match"
    LETTER_UNREDEEMED = "letter_unredeemed", "Letter not redeemed"
    LINK_EXPIRED = "link_expired", "Link expired unused"
    OPENED_NO_ACCOUNT = "opened_no_account", "Opened, no account made"
    NEVER_SIGNED_IN = "never_signed_in", "Never signed in"


REASON_EXPLANATIONS: dict[Reason, str] = {
    Reason.LOCKED_OUT: "Too many wrong passwords; the account is locked for now.",
    Reason.TEMP_PASSWORD_EXPIRED: "The temporary password ran out before the first sign-in.",
    Reason.EMAIL_FAILED: "The last email could not be delivered.",
    Reason.TEXT_FAILED: "The last text message could not be delivered.",
    Reason.DETAILS_MISMATCH: f"The key was entered but the name or date of birth did not match "
                             f"{DETAILS_TRIES} times.",
    Reason.LETTER_UNREDEEMED: f"A key letter was printed more than {LETTER_STALE_DAYS} days ago "
                              f"and never used.",
    Reason.LINK_EXPIRED: "The link or key expired without being used.",
    Reason.OPENED_NO_ACCOUNT: "The patient opened the link but did not make an account.",
    Reason.NEVER_SIGNED_IN: "An account exists but nobody has signed in with it.",
}
