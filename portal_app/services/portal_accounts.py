"""Portal Account Setup (staff): the accounts connected to one chart, as Self or as an
Authorized Representative, with their permissions; new credentials; delete; reset.

Rules:
- A chart has at most one live Self connection. A new Self account gets a generated password,
  shown to staff once (the caller shows it; nothing here stores or logs it). Generating it, the
  text "Copy" copies and the printable sheet live in services/generated_credentials.py.
- A new representative account has no password: an email with a link to choose one goes to
  its username, which must therefore be an email address.
- An existing account (a username already taken) is connected only when staff ask for it
  explicitly, and only as a representative; an account already connected to the chart is
  refused (select its row instead).
- A representative needs a relationship and at least one permitted area; Self defaults to all.
- Delete removes this connection; the account itself only when it has no other connection
  (it is closed: sessions end, links die, the username becomes free again).
- Every change is audited with old -> new values; never a password or link.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from sqlmodel import Session, col, select

from portal_app import routes
from portal_app.models import (
    AccessType,
    AccountStatus,
    AuthSession,
    Patient,
    PortalAccount,
    PortalConnection,
    ident,
)
from portal_app.notify import templates_accounts
from portal_app.services import (
    accounts,
    areas,
    audit,
    clock,
    consent,
    form_requests,
    onboarding,
    outbox,
    portal_users,
    sessions,
    settings,
    tokens,
)
from portal_app.services.errors import FormInvalid, InvalidInput, NotFound, PortalUnavailable
from portal_app.services.generated_credentials import (
    Credentials,
    credentials_of,
    set_generated_password,
)
from portal_app.services.onboarding import PatientRow
from portal_app.services.validation import clean_text, normalize_email, normalize_user_id

RELATIONSHIPS = accounts.RELATIONSHIPS
ACCESS_LABELS = {AccessType.SELF: "Self", AccessType.REPRESENTATIVE: "Authorized Representative"}
STATUS_LABELS = {AccountStatus.PENDING: "Waiting for a password", AccountStatus.ACTIVE: "Active",
                 AccountStatus.DISABLED: "Disabled"}
MAX_NAME = 100
SEARCH_ROWS = 8
REQUESTED_BY = "staff (Portal Account Setup)"
# A plain username (the numbered variant of an email's local part, e.g. "maria.lopez2").
_PLAIN = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
_E164 = re.compile(r"\+\d{8,15}")
DELETED_PREFIX = "deleted-"
REPRESENTATIVE_NEEDS_EMAIL = ("A new representative's username must be their email address: the link to "
                              "choose a password is sent there.")
# Below this age a Self account (the sign-in belongs to the patient) is confirmed explicitly:
# a parent's access is a representative one.
YOUNG_SELF_AGE = 13
FORMS_NEED_AREA = ("This connection cannot open forms: tick Forms under Account Permissions, or request the "
                   "forms on a connection that has it.")


# ---- views ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartSummary:
    patient_id: int = 0
    name: str = ""
    list_name: str = ""
    chart_number: str = ""
    dob: str = ""
    email: str = ""
    portal_enabled: bool = False


@dataclass(frozen=True)
class ConnectionItem:
    """One account connected to the chart (no password, hash or link)."""

    id: int
    user_id: str
    first_name: str
    last_name: str
    access_type: str  # self, representative
    access_label: str
    relationship: str
    relationship_label: str
    permissions: str  # stored form: comma-separated area names
    permission_labels: str
    must_change: bool
    has_password: bool
    status_label: str
    last_sign_in: str
    connected_on: str


@dataclass(frozen=True)
class UsernameCheck:
    ok: bool
    message: str
    normalized: str = ""
    # Taken by an account that may be connected as a representative if staff choose so.
    connectable: bool = False
    suggestion: str = ""
    # That account's own name, to fill the form when staff connect it (names only, no row).
    first_name: str = ""
    last_name: str = ""


@dataclass(frozen=True)
class ChartFill:
    username: str
    first_name: str
    last_name: str
    message: str


@dataclass(frozen=True)
class AccountForm:
    """What staff submitted."""

    username: str = ""
    first_name: str = ""
    last_name: str = ""
    access_type: str = AccessType.SELF.value
    relationship: str = ""
    force_change: bool = True
    permissions: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()
    connect_existing: bool = False
    # Staff confirmed a Self account on the chart of a child under YOUNG_SELF_AGE.
    confirm_young_self: bool = False


@dataclass(frozen=True)
class SaveResult:
    connection_id: int
    message: str
    credentials: Credentials | None = None
    email_failed: bool = False


@dataclass(frozen=True)
class DeletePreview:
    connection_id: int
    label: str
    deletes_account: bool
    signed_in: bool


# ---- small helpers ----------------------------------------------------------------------


def normalize_username(value: str | None, *, field: str = "username") -> str:
    """An email address (preferred), a phone number (E.164), or a plain username."""
    raw = (value or "").strip()
    if not raw:
        raise InvalidInput("Enter a username (an email address is preferred).", field=field)
    lowered = raw.lower()
    if "@" in raw or not re.search("[a-z]", lowered):
        return normalize_user_id(raw, field=field)  # an email address or a phone number
    if _PLAIN.fullmatch(lowered):
        return lowered  # an OpenEMR-style plain username, such as maria.lopez2
    raise InvalidInput("Use an email address, a phone number, or 3 to 64 letters, digits, dots, "
                       "dashes or underscores.", field=field)


def _account_by_user_id(session: Session, user_id: str) -> PortalAccount | None:
    # One seam for this screen's checks (a test stands in for a check that misses a race).
    return accounts.account_by_user_id(session=session, user_id=user_id)


def suggest_username(*, session: Session, email: str) -> str:
    """The email when free, else the first free numbered variant of its local part
    (maria.lopez2, maria.lopez3, ...). '' when there is no usable email."""
    try:
        email = normalize_email(email, field="username")
    except InvalidInput:
        return ""
    if _account_by_user_id(session, email) is None:
        return email
    local = re.sub(r"[^a-z0-9._-]", "", email.split("@", 1)[0].lower()).strip("._-")[:60] or "patient"
    for start in range(2, 10_000, 50):
        candidates = [f"{local}{n}" for n in range(start, start + 50)]
        taken = set(session.exec(select(PortalAccount.user_id).where(
            col(PortalAccount.user_id).in_(candidates))).all())
        for candidate in candidates:
            if candidate not in taken:
                return candidate
    return ""


def _patient(session: Session, patient_id: int) -> Patient:
    return accounts.get_patient(session=session, patient_id=patient_id)


def _summary(patient: Patient) -> ChartSummary:
    return ChartSummary(patient_id=ident(patient), name=f"{patient.first_name} {patient.last_name}",
                        list_name=f"{patient.last_name}, {patient.first_name}",
                        chart_number=patient.chart_number, dob=patient.dob.strftime("%m/%d/%Y"),
                        email=patient.email, portal_enabled=patient.portal_enabled)


def _live_connection(session: Session, patient_id: int,
                     connection_id: int) -> tuple[PortalConnection, PortalAccount]:
    """The chart's live connection with this id, and its account.

    Raises:
        NotFound: no such connection on this chart (removed meanwhile), or its account is gone.
    """
    connection = session.get(PortalConnection, connection_id) if connection_id else None
    account = session.get(PortalAccount, connection.account_id) if connection is not None else None
    if (connection is None or account is None or connection.patient_id != patient_id
            or connection.revoked_at is not None):
        raise NotFound("That connection no longer exists. Choose it again from the list.")
    return connection, account


def _chart_connection_of(session: Session, patient_id: int, account_id: int) -> PortalConnection | None:
    return session.exec(select(PortalConnection).where(
        PortalConnection.patient_id == patient_id, PortalConnection.account_id == account_id,
        col(PortalConnection.revoked_at).is_(None))).first()


def _labels(permissions: str) -> str:
    return ", ".join(areas.AREA_LABELS[areas.Area(name)] for name in areas.parse(permissions)) or "None"


# ---- reading ----------------------------------------------------------------------------


def find_patients(*, session: Session, search: str, limit: int = SEARCH_ROWS) -> list[PatientRow]:
    """A few charts matching a name ("Lopez, Maria" or "Maria Lopez"), chart number, DOB or
    email, in name order (the onboarding list's indexed search)."""
    text = " ".join((search or "").split())[:100]
    if len(text) < 2:
        return []
    return onboarding.list_page(session=session, search=text, limit=max(1, min(limit, 20))).rows


def open_chart(*, session: Session, patient_id: int, actor: audit.Actor) -> ChartSummary:
    """The chart the form works on; the opening is audited (staff saw who is connected).

    Raises:
        NotFound: no such chart.
    """
    patient = _patient(session, patient_id)
    audit.record(session=session, actor=actor, action="account_setup.open", patient_id=patient.id)
    session.commit()
    return _summary(patient)


def chart_summary(*, session: Session, patient_id: int) -> ChartSummary:
    return _summary(_patient(session, patient_id))


def list_connections(*, session: Session, patient_id: int) -> list[ConnectionItem]:
    """The chart's live connections, oldest first."""
    _patient(session, patient_id)
    zone = settings.zone(session=session)
    rows = session.exec(
        select(PortalConnection, PortalAccount)
        .join(PortalAccount, col(PortalConnection.account_id) == PortalAccount.id)
        .where(PortalConnection.patient_id == patient_id, col(PortalConnection.revoked_at).is_(None))
        .order_by(col(PortalConnection.id)))
    return [ConnectionItem(
        id=ident(connection), user_id=account.user_id, first_name=account.first_name,
        last_name=account.last_name, access_type=connection.access_type.value,
        access_label=ACCESS_LABELS[connection.access_type], relationship=connection.relationship,
        relationship_label=RELATIONSHIPS.get(connection.relationship, connection.relationship),
        permissions=",".join(areas.parse(connection.permissions)),
        permission_labels=_labels(connection.permissions), must_change=account.must_change_password,
        has_password=account.password_hash is not None,
        status_label=STATUS_LABELS.get(account.status, account.status.value),
        last_sign_in=clock.stamp(account.last_sign_in_at, zone, empty="never"),
        connected_on=clock.stamp(connection.connected_at, zone),
    ) for connection, account in rows]


def fill_from_chart(*, session: Session, patient_id: int,
                    access_type: str = AccessType.SELF.value) -> ChartFill:
    """The chart's names, and its email as username (or a numbered variant when taken).

    For a representative the chart's names are the patient's, not theirs: only the chart's
    email is offered (often a parent's on a child's chart), as it is, to connect or to use.
    """
    patient = _patient(session, patient_id)
    if access_type == AccessType.REPRESENTATIVE.value:
        if not patient.email:
            return ChartFill(username="", first_name="", last_name="",
                             message="The chart has no email: type the representative's email "
                                     "address and name.")
        return ChartFill(username=patient.email_lower, first_name="", last_name="",
                         message="The chart's email was filled in; type the representative's own "
                                 "name (the chart's name is the patient's).")
    username = suggest_username(session=session, email=patient.email) if patient.email else ""
    if not patient.email:
        message = "The chart has no email: type a username."
    elif username == patient.email_lower:
        message = f"{username} is valid and available."
    elif username:
        message = (f"{patient.email_lower} is already used by another account, so the username "
                   f"{username} is suggested.")
    else:
        message = "The chart's email cannot be used as a username: type one."
    return ChartFill(username=username, first_name=patient.first_name, last_name=patient.last_name,
                     message=message)


def check_username(*, session: Session, patient_id: int, username: str, connection_id: int = 0,
                   access_type: str = AccessType.SELF.value) -> UsernameCheck:
    """The live answer for the Username field of a new connection (or the selected one).

    A numbered variant is suggested only for Self: a new representative's username must be
    their email address (the link to choose a password goes there).
    """
    try:
        normalized = normalize_username(username)
    except InvalidInput as exc:
        return UsernameCheck(False, exc.message)
    owner = _account_by_user_id(session, normalized)
    if connection_id:
        connection = session.get(PortalConnection, connection_id)
        if connection is not None and owner is not None and owner.id == connection.account_id:
            return UsernameCheck(True, f"{normalized} is this connection's username.", normalized)
    if owner is None:
        if access_type == AccessType.REPRESENTATIVE.value and "@" not in normalized:
            return UsernameCheck(False, REPRESENTATIVE_NEEDS_EMAIL, normalized)
        return UsernameCheck(True, f"{normalized} is valid and available.", normalized)
    if _chart_connection_of(session, patient_id, ident(owner)) is not None:
        return UsernameCheck(False, f"{normalized} is already connected to this chart: select it in "
                                    "the list to change it.", normalized)
    representative = access_type == AccessType.REPRESENTATIVE.value
    suggestion = (suggest_username(session=session, email=normalized)
                  if "@" in normalized and not representative else "")
    if owner.status == AccountStatus.DISABLED:
        return UsernameCheck(False, f"{normalized} belongs to a disabled account."
                             + (f" Suggested username: {suggestion}." if suggestion else ""),
                             normalized, suggestion=suggestion)
    if representative:
        how = "tick \u201cConnect the existing account\u201d"
        otherwise = " Otherwise type the representative's own email address."
    else:
        how = "choose Authorized Representative and tick \u201cConnect the existing account\u201d"
        otherwise = f" Otherwise use a new username, such as {suggestion}." if suggestion else ""
    return UsernameCheck(
        False, f"{normalized} is already used by another account. To give that account access to "
               f"this chart, {how}." + otherwise,
        normalized, connectable=True, suggestion=suggestion, first_name=owner.first_name,
        last_name=owner.last_name)


# ---- saving -----------------------------------------------------------------------------


def _validated(form: AccountForm, errors: dict[str, str]) -> tuple[AccessType, str, str, str, str]:
    """(access type, first, last, relationship, permissions) with problems put in `errors`."""
    try:
        access = AccessType(form.access_type)
    except ValueError:
        errors["access_type"] = "Choose Self or Authorized Representative."
        access = AccessType.SELF
    first = last = ""
    for name, label in (("first_name", "First Name"), ("last_name", "Last Name")):
        try:
            value = clean_text(getattr(form, name), field=name, label=label, max_length=MAX_NAME,
                               required=True)
        except InvalidInput as exc:
            errors[name] = exc.message
            value = ""
        if name == "first_name":
            first = value
        else:
            last = value
    relationship = ""
    if access == AccessType.REPRESENTATIVE:
        relationship = form.relationship if form.relationship in RELATIONSHIPS else ""
        if not relationship:
            errors["relationship"] = "Choose the representative's relationship to the patient."
    permissions = areas.serialize(list(form.permissions))
    if access == AccessType.REPRESENTATIVE and not permissions:
        errors["permissions"] = "Choose at least one area this representative may use."
    known = {form_.value for form_ in form_requests.PortalForm}
    if any(name not in known for name in form.forms):
        errors["forms"] = "Choose forms from the list."
    elif form.forms and areas.Area.FORMS.value not in areas.parse(permissions):
        errors["forms"] = FORMS_NEED_AREA  # nobody on this connection would ever see the request
    return access, first, last, relationship, permissions


def _young_self(patient: Patient, access: AccessType, form: AccountForm, errors: dict[str, str]) -> None:
    """A Self account on a young child's chart only when staff confirm it."""
    age = accounts.age_of(patient)
    if access != AccessType.SELF or age >= YOUNG_SELF_AGE or form.confirm_young_self:
        return
    years = "under 1 year" if age < 1 else f"{age} year{'s' if age != 1 else ''}"
    errors["confirm_young"] = (
        f"{patient.first_name} {patient.last_name} is {years} old. A Self account is the patient's own "
        "sign-in; a parent or guardian needs an Authorized Representative account. Tick the box below to "
        "confirm a Self account for this child, or choose Authorized Representative.")


def _send_setup_link(session: Session, patient: Patient, account: PortalAccount,
                     actor: audit.Actor) -> bool:
    """Email the representative a link to choose a password. Returns False when it failed."""
    if not settings.get(session=session).portal_active:
        raise PortalUnavailable()
    sent = accounts.send_password_link(session=session, account=account, patient=patient, to=account.user_id,
                                       setup=True, requested_by=REQUESTED_BY, actor=actor)
    audit.record(session=session, actor=actor, action="account_setup.setup_link", patient_id=patient.id,
                 account_id=account.id,
                 detail=f"to {account.user_id}; message #{sent.message.id} {sent.message.status.value}; "
                        f"link #{sent.secret.id}")
    return not sent.failed


def _send_connected_notice(session: Session, patient: Patient, account: PortalAccount,
                           actor: audit.Actor) -> bool:
    config = settings.get(session=session)
    if not config.portal_active or "@" not in account.user_id:
        return True
    consent.require(patient, consent.EMAIL, account.user_id)
    rendered = templates_accounts.representative_connected(
        practice=config.practice_name, phone=config.practice_phone, first_name=account.first_name,
        user_id=account.user_id, login_url=routes.portal_url(config.portal_base_url, routes.LOGIN))
    message = outbox.send(session=session, channel="email", kind="representative_connected",
                          to=account.user_id, rendered=rendered, patient_id=patient.id)
    audit.record(session=session, actor=actor, action="account_setup.connected_notice",
                 patient_id=patient.id, account_id=account.id,
                 detail=f"to {account.user_id}; message #{message.id} {message.status.value}")
    return message.status.value != "failed"


def _request_forms(session: Session, patient: Patient, forms: tuple[str, ...], actor: audit.Actor) -> str:
    added = form_requests.request_forms(session=session, patient_id=ident(patient), forms=list(forms),
                                        actor=actor) if forms else []
    if not added:
        return ""
    labels = [form_requests.FORM_LABELS[form_requests.PortalForm(name)] for name in added]
    return " Requested: " + ", ".join(labels) + "."


def save(*, session: Session, patient_id: int, connection_id: int, form: AccountForm,
         actor: audit.Actor) -> SaveResult:
    """Create a connection (`connection_id` 0) or change the selected one.

    Raises:
        FormInvalid: field -> message for every field that is wrong (also when another staff
            member took the username, or connected the account, at the same moment).
        InvalidInput: a rule about the whole form (portal access not enabled, a second Self).
        NotFound: the chart, or the selected connection, no longer exists.
        PortalUnavailable: a representative's email cannot go out while the portal is off.
    """
    patient = _patient(session, patient_id)
    if connection_id:
        connection, account = _live_connection(session, ident(patient), connection_id)
        return _update(session, patient, connection, account, form, actor)
    if not patient.portal_enabled:
        raise InvalidInput("Enable portal access for this patient first (chart > Patient Portal).")
    new = _checked_new(session, patient, form)
    password = ""  # a generated one, for a new Self account only
    if new.existing is None:
        account = accounts.create_account(session=session, user_id=new.user_id, first_name=new.first,
                                          last_name=new.last, field="username")
        if new.access == AccessType.SELF:
            password = set_generated_password(session=session, account=account, patient=patient,
                                              force_change=form.force_change)
            session.flush()
        _audit_create(session, patient, account, new, password, form.force_change, actor)
        notes: list[str] = []
    else:
        account, notes = new.existing, _rename(new.existing, new.first, new.last)
        session.add(account)
    connection = accounts.connect_chart(session=session, account=account, patient=patient,
                                        access=new.access, relationship=new.relationship,
                                        permissions=new.permissions, requested_by=REQUESTED_BY,
                                        staff_id=actor.staff_user_id)
    audit.record(session=session, actor=actor, action="account_setup.connect", patient_id=patient.id,
                 account_id=account.id,
                 detail="; ".join([f"connection #{connection.id}: none -> {ACCESS_LABELS[new.access]}"
                                   + (f" ({new.relationship})" if new.relationship else ""),
                                   f"permissions none -> {_labels(new.permissions)}",
                                   "existing account" if new.existing is not None else "new account",
                                   *notes]))
    forms_note = _request_forms(session, patient, form.forms, actor)
    session.flush()
    result = _tell_the_account(session, patient, account, new, password, actor)
    session.commit()
    return dataclasses.replace(result, connection_id=ident(connection), message=result.message + forms_note)


@dataclass(frozen=True)
class _NewConnection:
    """A checked form for a new connection."""

    access: AccessType
    first: str
    last: str
    relationship: str
    permissions: str
    user_id: str
    existing: PortalAccount | None  # an account staff asked to connect as a representative


def _checked_new(session: Session, patient: Patient, form: AccountForm) -> _NewConnection:
    """The form of a new connection, checked; every wrong field at once in FormInvalid."""
    errors: dict[str, str] = {}
    access, first, last, relationship, permissions = _validated(form, errors)
    _young_self(patient, access, form, errors)
    existing: PortalAccount | None = None
    normalized = ""
    try:
        # Exactly what staff typed: an empty field is refused, never filled in behind their back.
        normalized = normalize_username(form.username)
    except InvalidInput as exc:
        errors["username"] = exc.message
    if normalized:
        existing = _account_by_user_id(session, normalized)
        # The live check's answer is the rule: what it calls available is what Save accepts.
        check = check_username(session=session, patient_id=ident(patient), username=normalized,
                               access_type=access.value)
        if existing is not None:
            # An existing account joins a chart only when staff say so, as a representative.
            if not (check.connectable and form.connect_existing and access == AccessType.REPRESENTATIVE):
                errors["username"] = check.message
        elif not check.ok:
            errors["username"] = check.message
    if access == AccessType.SELF and "access_type" not in errors:
        current = accounts.self_account(session=session, patient_id=ident(patient))
        if current is not None:
            errors["access_type"] = (f"This chart already has a Self account ({current.user_id}). "
                                     "Select it in the list to change it.")
    if errors:
        raise FormInvalid(errors)
    return _NewConnection(access=access, first=first, last=last, relationship=relationship,
                          permissions=permissions, user_id=normalized, existing=existing)


def _audit_create(session: Session, patient: Patient, account: PortalAccount, new: _NewConnection,
                  password: str, force_change: bool, actor: audit.Actor) -> None:
    audit.record(session=session, actor=actor, action="account_setup.create", patient_id=patient.id,
                 account_id=account.id,
                 detail=f"user ID {new.user_id}; name {new.first} {new.last}; "
                        + ("password generated and shown to staff; must change at sign-in="
                           + ("yes" if force_change else "no") if password
                           else "no password yet (set-up link emailed)"))


def _rename(account: PortalAccount, first: str, last: str) -> list[str]:
    """Give the account the names staff typed; returns the audit notes of what changed."""
    if (account.first_name, account.last_name) == (first, last):
        return []
    note = f"name {account.first_name} {account.last_name} -> {first} {last}"
    account.first_name, account.last_name = first, last
    return [note]


def _tell_the_account(session: Session, patient: Patient, account: PortalAccount, new: _NewConnection,
                      password: str, actor: audit.Actor) -> SaveResult:
    """What the account is sent (credentials shown, a set-up link, a connected notice), and the
    sentence for staff. `connection_id` is filled in by the caller."""
    label = ACCESS_LABELS[new.access]
    if new.existing is None and new.access == AccessType.SELF:
        shown = credentials_of(session=session, account=account, password=password, patient=patient)
        return SaveResult(connection_id=0, credentials=shown,
                          message=(f"Account {new.user_id} created ({label}). Give the patient the new "
                                   "credentials now (at the top of the page): they are shown only once."))
    if not consent.allows(patient, consent.EMAIL, account.user_id):
        # The user ID is the chart's own email and the chart has not agreed to email.
        audit.record(session=session, actor=actor, action="account_setup.not_sent", patient_id=patient.id,
                     account_id=account.id, detail="no email consent on the chart")
        return SaveResult(connection_id=0, message=(
            f"Account {new.user_id} saved ({label}). No email went out: {consent.REFUSED[consent.EMAIL]}"))
    if new.existing is None:
        failed = not _send_setup_link(session, patient, account, actor)
        return SaveResult(connection_id=0, email_failed=failed, message=(
            f"Account {new.user_id} created ({label}). "
            + ("The email with a link to choose a password could not be sent; it is in the outbox to "
               "retry." if failed else f"An email with a link to choose a password was sent to {new.user_id}.")))
    if account.status == AccountStatus.PENDING or not account.password_hash:
        failed = not _send_setup_link(session, patient, account, actor)
    else:
        failed = not _send_connected_notice(session, patient, account, actor)
    off = "" if settings.get(session=session).portal_active else (
        " No email went out: the patient portal is switched off (Setup > Portal Settings).")
    return SaveResult(connection_id=0, email_failed=failed, message=(
        f"The existing account {new.user_id} is now connected to this chart ({label}). "
        "Its password is unchanged." + off))


def _check_becoming_self(session: Session, patient: Patient, account: PortalAccount, form: AccountForm,
                         errors: dict[str, str]) -> None:
    """A representative connection turned into Self: the same rules as a new Self one."""
    current = accounts.self_account(session=session, patient_id=ident(patient))
    if current is not None and current.id != account.id:
        errors["access_type"] = f"This chart already has a Self account ({current.user_id})."
        return
    _young_self(patient, AccessType.SELF, form, errors)
    try:
        accounts.check_self_allowed(session=session, account=account, patient=patient, field="access_type")
    except InvalidInput as exc:
        errors["access_type"] = exc.message


def _update(session: Session, patient: Patient, connection: PortalConnection, account: PortalAccount,
            form: AccountForm, actor: audit.Actor) -> SaveResult:
    errors: dict[str, str] = {}
    access, first, last, relationship, permissions = _validated(form, errors)
    if access == AccessType.SELF and connection.access_type != AccessType.SELF:
        _check_becoming_self(session, patient, account, form, errors)
    if errors:
        raise FormInvalid(errors)
    changes: list[str] = []
    if (account.first_name, account.last_name) != (first, last):
        changes.append(f"name {account.first_name} {account.last_name} -> {first} {last}")
        account.first_name, account.last_name = first, last
    if connection.access_type != access:
        changes.append(f"access {ACCESS_LABELS[connection.access_type]} -> {ACCESS_LABELS[access]}")
        connection.access_type = access
    if connection.relationship != relationship:
        changes.append(f"relationship {connection.relationship or 'none'} -> {relationship or 'none'}")
        connection.relationship = relationship
    if areas.parse(connection.permissions) != areas.parse(permissions):
        changes.append(f"permissions {_labels(connection.permissions)} -> {_labels(permissions)}")
        connection.permissions = permissions
    if account.must_change_password != form.force_change and account.password_hash:
        changes.append(f"must change password {'yes' if account.must_change_password else 'no'} -> "
                       f"{'yes' if form.force_change else 'no'}")
        account.must_change_password = form.force_change
        if not form.force_change:
            account.temp_password_expires_at = None
    session.add(account)
    session.add(connection)
    if changes:
        audit.record(session=session, actor=actor, action="account_setup.update", patient_id=patient.id,
                     account_id=account.id, detail=f"connection #{connection.id}: " + "; ".join(changes))
    forms_note = _request_forms(session, patient, form.forms, actor)
    session.flush()
    # The connection may have turned from or into the chart's Self one.
    accounts.refresh_account_state(session=session, patient=patient)
    session.commit()
    if not changes and not forms_note:
        return SaveResult(connection_id=ident(connection), message="Nothing to save: no change.")
    message = f"Saved {account.user_id}." if changes else f"No change to {account.user_id}."
    return SaveResult(connection_id=ident(connection), message=message + forms_note)


# ---- delete -----------------------------------------------------------------------------


def _signed_in(session: Session, account_id: int) -> bool:
    return session.exec(select(AuthSession.id).where(
        AuthSession.portal_account_id == account_id, col(AuthSession.revoked_at).is_(None),
        AuthSession.expires_at > clock.now())).first() is not None


def _enabled(session: Session, connections: list[PortalConnection]) -> list[PortalConnection]:
    """The connections whose chart has portal access (an account with none is signed out)."""
    return [c for c in connections if (p := session.get(Patient, c.patient_id)) and p.portal_enabled]


def delete_preview(*, session: Session, patient_id: int, connection_id: int) -> DeletePreview:
    """What Delete would do, for the confirmation dialog. `signed_in` is true when the account
    is signed in now and Delete will end its sessions (no other chart with portal access)."""
    connection, account = _live_connection(session, patient_id, connection_id)
    others = [c for c in accounts.live_connections_of(session=session, account_id=ident(account))
              if c.id != connection.id]
    return DeletePreview(connection_id=ident(connection),
                         label=f"{account.user_id} ({ACCESS_LABELS[connection.access_type]})",
                         deletes_account=not others,
                         signed_in=not _enabled(session, others) and _signed_in(session, ident(account)))


def delete_connection(*, session: Session, patient_id: int, connection_id: int,
                      actor: audit.Actor) -> str:
    """Remove the connection; close the account too when it has no other connection.

    An account losing its last chart with portal access is signed out at once.

    Returns:
        A sentence for staff saying what happened.
    """
    patient = _patient(session, patient_id)
    connection, account = _live_connection(session, ident(patient), connection_id)
    now = clock.now()
    done = accounts.disconnect(session=session, connection=connection, patient=patient)
    ended, voided = done.sessions_ended, done.links_voided
    others = accounts.live_connections_of(session=session, account_id=ident(account))
    user_id = account.user_id
    access = ACCESS_LABELS[connection.access_type]
    parts = [f"connection #{connection.id} {user_id} ({access}): connected -> removed"]
    if not others:
        voided += tokens.revoke_live(session=session, account_id=ident(account))
        # The row stays (the audit log points at it) but can never sign in again, and the
        # username is free for a new account.
        account.status = AccountStatus.DISABLED
        account.password_hash = None
        account.must_change_password = False
        account.temp_password_expires_at = None
        account.user_id = f"{DELETED_PREFIX}{account.id}-{user_id}"[:254]
        account.deleted_at = now
        session.add(account)
        parts.append("account deleted (no other connection; username freed)")
    parts.append(f"sessions ended={ended}; links voided={voided}")
    session.flush()
    audit.record(session=session, actor=actor, action="account_setup.delete", patient_id=patient.id,
                 account_id=account.id, detail="; ".join(parts))
    session.commit()
    if not others:
        return (f"Removed {user_id} from this chart and deleted the account (it had no other "
                "connection)." + (" Its portal sessions have ended." if ended else ""))
    return (f"Removed {user_id} from this chart. The account stays connected to its other "
            f"chart{'s' if len(others) > 1 else ''}." + (" Its portal sessions have ended." if ended else ""))


# ---- passwords --------------------------------------------------------------------------


def reset_password(*, session: Session, patient_id: int, connection_id: int, force_change: bool,
                   actor: audit.Actor) -> Credentials:
    """Replace the password of the selected connection's account with a generated one.

    Every session of the account ends and its outstanding links die. The old password is
    never shown (nobody can see it); the new one is returned to be shown once.
    """
    patient = _patient(session, patient_id)
    connection, account = _live_connection(session, ident(patient), connection_id)
    if account.status == AccountStatus.DISABLED:
        raise InvalidInput("This account is disabled. Enable it in User Management first.")
    password = set_generated_password(session=session, account=account, patient=patient,
                                      force_change=force_change)
    voided = tokens.revoke_live(session=session, account_id=ident(account))
    ended = sessions.end_all(session=session, portal_account_id=ident(account))
    session.flush()
    audit.record(session=session, actor=actor, action="account_setup.password_reset",
                 patient_id=patient.id, account_id=account.id,
                 detail=f"{account.user_id}: new password generated and shown to staff; must change "
                        f"at sign-in={'yes' if force_change else 'no'}; sessions ended={ended}; "
                        f"links voided={voided}")
    session.commit()
    return credentials_of(session=session, account=account, password=password, patient=patient)


def send_reset_link(*, session: Session, patient_id: int, connection_id: int,
                    actor: audit.Actor) -> str:
    """Email the account a link to choose a new password (instead of a generated one); a
    phone-number username with a password gets it by text message, as User Management sends it.

    Returns:
        A sentence for staff. Raises InvalidInput when the username is neither an email address
        nor a phone number, or the account is disabled; PortalUnavailable when the portal is off.
    """
    patient = _patient(session, patient_id)
    connection, account = _live_connection(session, ident(patient), connection_id)
    if account.status == AccountStatus.DISABLED:
        raise InvalidInput("This account is disabled. Enable it in User Management first.")
    by_text = _E164.fullmatch(account.user_id) is not None and account.password_hash is not None
    if "@" not in account.user_id and not by_text:
        raise InvalidInput(f"{account.user_id} is not an email address, so no link can be sent. "
                           "Use Reset Pwd to generate a password instead.")
    if not patient.portal_enabled:
        raise InvalidInput("Enable portal access for this patient first (chart > Patient Portal).")
    config = settings.get(session=session)
    if not config.portal_active:
        raise PortalUnavailable()
    if by_text:
        return portal_users.send_reset_link(session=session, account_id=ident(account), actor=actor).message
    if accounts.link_just_sent(session=session, account_id=ident(account)):
        return f"A link to choose a password was just sent to {account.user_id}."
    if account.status == AccountStatus.PENDING or not account.password_hash:
        ok = _send_setup_link(session, patient, account, actor)
    else:
        sent = accounts.send_password_link(session=session, account=account, patient=patient,
                                           to=account.user_id, setup=False, requested_by=REQUESTED_BY,
                                           actor=actor)
        message, secret = sent.message, sent.secret
        audit.record(session=session, actor=actor, action="account_setup.reset_link",
                     patient_id=patient.id, account_id=account.id,
                     detail=f"to {account.user_id}; message #{message.id} {message.status.value}; "
                            f"link #{secret.id}")
        ok = message.status.value != "failed"
    session.commit()
    if not ok:
        return f"The email to {account.user_id} could not be sent; it is in the outbox to retry."
    return f"A link to choose a new password was sent to {account.user_id}."
