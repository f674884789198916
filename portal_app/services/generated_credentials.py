"""Generated credentials (Portal Account Setup): a password made for an account and shown to
staff once, the message "Copy" puts on the clipboard, and the printable sheet.

Rules:
- A generated password avoids the patient's and the account's own words and the practice name.
- A password staff have seen is temporary when it must be changed: it stops working after the
  practice's connect-token days if never replaced.
- Nothing here stores or logs a password: the caller shows it once; the sheet's audit names the
  account only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import Session

from portal_app import routes
from portal_app.models import Patient, PortalAccount, ident
from portal_app.notify import letters
from portal_app.services import accounts, audit, clock, passwords, settings
from portal_app.services.errors import NotFound


@dataclass(frozen=True)
class Credentials:
    """A newly generated password, for the one screen (and sheet) that shows it."""

    user_id: str
    password: str = field(repr=False)
    must_change: bool
    expires: str
    portal_url: str
    person_name: str
    patient_name: str


def set_generated_password(*, session: Session, account: PortalAccount, patient: Patient,
                           force_change: bool) -> str:
    """Give the account a new generated password (temporary when `force_change`); returns it."""
    config = settings.get(session=session)
    password = passwords.generate((patient.first_name, patient.last_name, patient.email_lower,
                                   account.user_id, account.first_name, account.last_name,
                                   config.practice_name))
    # A password staff have seen is temporary: it stops working if never replaced.
    expires = clock.now() + timedelta(days=config.connect_token_days) if force_change else None
    accounts.set_password(session=session, account=account, password=password, must_change=force_change,
                          temp_password_expires_at=expires)
    return password


def credentials_of(*, session: Session, account: PortalAccount, password: str, patient: Patient) -> Credentials:
    """What the screen (and the sheet) show for the password just given to the account."""
    config = settings.get(session=session)
    person = f"{account.first_name} {account.last_name}".strip()
    zone = settings.zone(session=session)
    return Credentials(user_id=account.user_id, password=password,
                       must_change=account.must_change_password,
                       expires=(clock.spelled(account.temp_password_expires_at, zone)
                                if account.must_change_password else ""),
                       portal_url=routes.portal_url(config.portal_base_url, routes.LOGIN),
                       person_name=person, patient_name=f"{patient.first_name} {patient.last_name}")


def credential_text(credentials: Credentials) -> str:
    """The whole credential message, as "Copy" puts it on the clipboard."""
    lines = [f"Patient portal: {credentials.portal_url}", f"Username: {credentials.user_id}",
             f"Password: {credentials.password}"]
    if credentials.must_change:
        lines.append("You will choose a new password when you first sign in"
                     + (f" (this one works until {credentials.expires})." if credentials.expires else "."))
    return "\n".join(lines)


def credential_sheet(*, session: Session, patient_id: int, user_id: str, password: str,
                     actor: audit.Actor) -> tuple[str, bytes]:
    """The printable sheet for credentials just shown: (file name, PDF bytes). Audited
    (without the password). Only for an account connected to this chart.

    Raises:
        NotFound: no such chart, or the username is not connected to this chart.
    """
    patient = accounts.get_patient(session=session, patient_id=patient_id)
    account = accounts.account_by_user_id(session=session, user_id=user_id) if user_id else None
    connected = accounts.connected_account_ids(session=session, patient_id=ident(patient))
    if account is None or ident(account) not in connected or not password:
        raise NotFound("Those credentials are no longer shown. Use Reset Pwd to make new ones.")
    config = settings.get(session=session)
    credentials = credentials_of(session=session, account=account, password=password, patient=patient)
    data = letters.credential_sheet(
        practice=config.practice_name, phone=config.practice_phone,
        sheet_date=clock.spelled(clock.now(), settings.zone(session=session), with_time=False),
        person_name=credentials.person_name, patient_name=credentials.patient_name,
        portal_url=credentials.portal_url, user_id=account.user_id, password=password,
        must_change=credentials.must_change, expires=credentials.expires)
    audit.record(session=session, actor=actor, action="account_setup.sheet_printed",
                 patient_id=patient.id, account_id=account.id, detail=f"credential sheet for {account.user_id}")
    session.commit()
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", patient.chart_number)
    return f"portal-credentials-{safe}.pdf", data
