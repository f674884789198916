"""The staff chart view: demographics and the chart's portal status, as state may hold them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from portal_app.models import AccountStatus, Patient, ident
from portal_app.services import accounts, audit, clock, consent, onboarding, settings, validation
from portal_app.services.errors import InvalidInput

ACCOUNT_STATUS_LABELS = {
    AccountStatus.PENDING: "Pending (no password set yet)",
    AccountStatus.ACTIVE: "Active",
    AccountStatus.DISABLED: "Disabled",
}


@dataclass(frozen=True)
class Contact:
    """A chart's date of birth, sex and contact details, written as people read them: the staff
    chart page and the portal's Health summary show them alike."""

    dob: str = ""
    sex: str = ""
    email: str = ""
    mobile_phone: str = ""
    home_phone: str = ""
    address: str = ""


@dataclass(frozen=True)
class ChartView(Contact):
    """One chart for the staff chart page. No hashes, no secrets, no table rows."""

    patient_id: int = 0
    chart_number: str = ""
    name: str = ""
    first_name: str = ""
    last_name: str = ""
    allow_email: bool = False
    allow_sms: bool = False
    portal_enabled: bool = False
    portal_active: bool = True
    account_label: str = ""
    has_account: bool = False
    account_user_id: str = ""
    account_status: str = ""
    account_status_label: str = ""
    account_last_sign_in: str = ""
    account_must_change: bool = False
    status_note: str = ""  # what an automatic access rule did ("Deceased", "No visit since 03/01/2024")


phone_label = validation.phone_label  # the one phone formatter (kept here for its callers)


def address_label(line1: str, city: str, region: str, postal: str) -> str:
    """An address on one line: street, city, state ZIP (empty parts left out)."""
    place = " ".join(part for part in (region, postal) if part)
    return ", ".join(part for part in (line1, city, place) if part)


def contact(patient: Patient) -> Contact:
    return Contact(
        dob=patient.dob.strftime("%m/%d/%Y"), sex=patient.sex, email=patient.email,
        mobile_phone=phone_label(patient.mobile_phone), home_phone=phone_label(patient.home_phone),
        address=address_label(patient.address_line1, patient.city, patient.region, patient.postal_code))


def chart_view(*, session: Session, patient_id: int, actor: audit.Actor | None = None) -> ChartView:
    """The chart's demographics, portal access and `self` account summary.

    Args:
        session: database session.
        patient_id: the chart.
        actor: when given, the view is recorded in the audit log (a staff user opened the chart).

    Raises:
        NotFound: no such chart.
    """
    patient = accounts.get_patient(session=session, patient_id=patient_id)
    account = accounts.self_account(session=session, patient_id=ident(patient))
    last = clock.aware(account.last_sign_in_at) if account is not None else None
    view = ChartView(
        **vars(contact(patient)),
        patient_id=ident(patient), chart_number=patient.chart_number,
        name=f"{patient.last_name}, {patient.first_name}",
        first_name=patient.first_name, last_name=patient.last_name,
        allow_email=patient.allow_email, allow_sms=patient.allow_sms, portal_enabled=patient.portal_enabled,
        portal_active=settings.get(session=session).portal_active,
        account_label=onboarding.ACCOUNT_STATE_LABELS[patient.account_state],
        has_account=account is not None,
        account_user_id=account.user_id if account is not None else "",
        account_status=account.status.value if account is not None else "",
        account_status_label=ACCOUNT_STATUS_LABELS[account.status] if account is not None else "",
        account_last_sign_in=clock.stamp(last, settings.zone(session=session)) if last else (
            "never" if account is not None else ""),
        account_must_change=bool(account and account.must_change_password),
        status_note=patient.status_note,
    )
    if actor is not None:
        audit.record(session=session, actor=actor, action="chart.view", patient_id=patient.id)
        session.commit()
    return view


CONSENT_LABELS = {consent.EMAIL: "Allow email", consent.SMS: "Allow text messages"}


def set_consent(*, session: Session, patient_id: int, channel: str, allowed: bool, actor: audit.Actor) -> str:
    """Change what the chart has agreed to receive ("Allow email" or "Allow text messages"),
    audited old -> new. Returns a sentence for staff.

    Raises:
        NotFound: no such chart. InvalidInput: an unknown channel.
    """
    if channel not in CONSENT_LABELS:
        raise InvalidInput("Choose Allow email or Allow text messages.")
    patient = accounts.get_patient(session=session, patient_id=patient_id)
    column = "allow_email" if channel == consent.EMAIL else "allow_sms"
    old = bool(getattr(patient, column))
    label = CONSENT_LABELS[channel]
    if old == allowed:
        return f"{label} is already {'on' if allowed else 'off'}."
    setattr(patient, column, allowed)
    patient.updated_at = clock.now()
    session.add(patient)
    audit.record(session=session, actor=actor, action="chart.consent", patient_id=patient.id,
                 detail=f"{label}: {'yes' if old else 'no'} -> {'yes' if allowed else 'no'}")
    session.commit()
    return f"{label} turned {'on' if allowed else 'off'}."
