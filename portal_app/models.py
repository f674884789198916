"""Database tables. Tables only: rules live in `portal_app.services`.

Secret columns (password hashes, hashed tokens) live here and nowhere else: state
classes hold small view objects built by the services, never these rows.

Ids: every table's `id` is `int | None` because a new row has none until it is flushed.
Where code needs the id of a row that is saved (loaded from the database, or added and
flushed) as an `int`, it writes `ident(row)` rather than `row.id`: `ident` raises if the
row was never flushed, so a missing flush fails loudly instead of storing NULL. A query
that selects an id column (`select(Role.id, Role.name)`) gets `int | None` values from
mypy too; `ident(role_id)` narrows those the same way.
In a query, wrap a column in `sqlmodel.col(Table.column)` where mypy must see a column (`.desc()`,
`.is_(None)`, `order_by`), not the Python value type.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timezone
from typing import Protocol

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint, func, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Row(Protocol):
    """Any table row: something with an `id` that is None until the row is flushed."""

    @property
    def id(self) -> int | None: ...


def ident(row: Row | int | None) -> int:
    """The id of a saved row (loaded, or added and flushed), or an id value a query read.

    Raises:
        RuntimeError: the row was never flushed, so it has no id yet (a bug, not bad input).
    """
    key = row if row is None or isinstance(row, int) else row.id
    if key is None:
        raise RuntimeError(f"{type(row).__name__} has no id: add and flush it first.")
    return key


class ChartAccountState(str, enum.Enum):
    """A chart's portal account as the onboarding list shows it beside the status rectangle
    (not the account's own `AccountStatus`: a chart with no account is NONE)."""

    NONE = "none"
    INVITED = "invited"
    ACTIVE = "active"
    DISABLED = "disabled"


class AccountStatus(str, enum.Enum):
    PENDING = "pending"
    ACTIVE = "active"
    DISABLED = "disabled"


class AccessType(str, enum.Enum):
    SELF = "self"
    REPRESENTATIVE = "representative"


class SecretPurpose(str, enum.Enum):
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"
    CONNECT_TOKEN = "connect_token"
    CONNECTION_KEY = "connection_key"
    CONTACT_VERIFICATION = "contact_verification"


class SessionKind(str, enum.Enum):
    STAFF = "staff"
    PORTAL = "portal"


class MessageStatus(str, enum.Enum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class PracticeSettings(SQLModel, table=True):
    """One row (id 1): the practice's portal configuration."""

    id: int | None = Field(default=None, primary_key=True)
    portal_active: bool = True
    practice_name: str = Field(default="Riverside Family Practice", max_length=200)
    practice_phone: str = Field(default="(555) 010-0100", max_length=40)
    portal_base_url: str = Field(default="http://localhost:3000", max_length=300)
    sender_address: str = Field(default="portal@example.org", max_length=254)
    invitation_hours: int = 72
    reset_minutes: int = 60
    # Connect Patient: the read-back token and connection keys. 6 digits by default (a practice
    # may choose 4; services/temporary_passwords.py says what that costs).
    token_length: int = Field(default=6, sa_column_kwargs={"server_default": "6"})
    connect_token_days: int = 3
    key_days: int = 3
    letter_key_days: int = 21
    verification_minutes: int = 30
    # IANA name; the queue shows times in it ("2:48PM (CST)") and counts the month by it.
    time_zone: str = Field(default="UTC", max_length=64, sa_column_kwargs={"server_default": "UTC"})
    # Automatic access rule: no visit for this many months turns portal access off (0 = never).
    inactive_months: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # FHIR import: the identifier system whose value is the chart number ("" = the MR-typed identifier).
    fhir_chart_system: str = Field(default="", max_length=300, sa_column_kwargs={"server_default": ""})
    # Countries (ISO codes, "US,CA") whose numbers the unsigned forms may text (SMS pumping).
    sms_countries: str = Field(default="US", max_length=200, sa_column_kwargs={"server_default": "US"})
    # Two-step verification for everyone (staff who can change roles or staff users need it anyway).
    require_second_factor: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    updated_at: datetime = Field(default_factory=utcnow)


class Patient(SQLModel, table=True):
    """A chart. `sort_key` ("last\\x1ffirst", lower-cased) drives name order and search."""

    __table_args__ = (
        Index("ix_patient_sort", "sort_key", "id"),
        Index("ix_patient_enabled_sort", "portal_enabled", "sort_key", "id"),
        Index("ix_patient_state_sort", "account_state", "sort_key", "id"),
        Index("ix_patient_dob_sort", "dob", "sort_key", "id"),
        Index("ix_patient_email_sort", "email_lower", "sort_key", "id"),
        # "Create Account" with a phone number asks whether a chart with that mobile refuses texts.
        Index("ix_patient_mobile", "mobile_phone"),
        # The daily no-visit rule reads the enabled charts by last visit (access_rules.apply_inactivity).
        Index("ix_patient_enabled_visit", "portal_enabled", "last_visit_on", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    chart_number: str = Field(max_length=64, unique=True, index=True)
    first_name: str = Field(max_length=100)
    middle_name: str = Field(default="", max_length=100)
    last_name: str = Field(max_length=100)
    preferred_name: str = Field(default="", max_length=100)
    sex: str = Field(default="", max_length=20)
    dob: date
    email: str = Field(default="", max_length=254)
    email_lower: str = Field(default="", max_length=254)
    mobile_phone: str = Field(default="", max_length=20)
    home_phone: str = Field(default="", max_length=20)
    address_line1: str = Field(default="", max_length=200)
    city: str = Field(default="", max_length=100)
    region: str = Field(default="", max_length=50)
    postal_code: str = Field(default="", max_length=20)
    allow_email: bool = True
    allow_sms: bool = False
    # What the portal's intake form shows and may update (free text, merged by staff).
    emergency_contact_name: str = Field(default="", max_length=200)
    emergency_contact_phone: str = Field(default="", max_length=40)
    pharmacy: str = Field(default="", max_length=300)
    allergies: str = Field(default="", max_length=2000)
    portal_enabled: bool = False
    account_state: ChartAccountState = ChartAccountState.NONE
    sort_key: str = Field(default="", max_length=210)
    # From the EHR (import, ADT): deceased charts never have portal access; the last visit feeds the
    # optional "no visit for N months" rule; a merged chart points at the chart that survived.
    deceased: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    deceased_on: date | None = None
    last_visit_on: date | None = None
    merged_into_id: int | None = Field(default=None, foreign_key="patient.id")
    # Why an automatic rule last changed this chart's access ("Deceased", "Merged into 12345",
    # "Email changed; invitation voided"); the onboarding list shows it beside the status.
    status_note: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PortalAccount(SQLModel, table=True):
    # User Management's filters and name search (see services/portal_users.py).
    __table_args__ = (
        Index("ix_account_status_user", "status", "user_id"),
        Index("ix_account_mustchange_user", "must_change_password", "user_id"),
        Index("ix_account_locked", "locked_until"),
        Index("ix_account_last_lower", func.lower(text("last_name"))),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=254, unique=True, index=True)
    # The person who signs in (a representative's own name, not the patient's).
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    password_hash: str | None = None
    status: AccountStatus = AccountStatus.PENDING
    must_change_password: bool = False
    temp_password_expires_at: datetime | None = None
    # A temporary password made from a read-back token: wrong sign-in tries it has left in total
    # (None: any other password; see services/temporary_passwords.py).
    temp_password_tries_left: int | None = None
    verified_at: datetime | None = None
    failed_logins: int = 0
    locked_until: datetime | None = None
    last_sign_in_at: datetime | None = None
    password_changed_at: datetime | None = None
    # Deleted from Portal Account Setup: the row stays for the audit log, never signs in again,
    # and its username was released (renamed "deleted-<id>-...").
    deleted_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class PortalConnection(SQLModel, table=True):
    """Which charts an account may see, as whom, and which areas."""

    __table_args__ = (
        Index("ix_connection_patient_account", "patient_id", "account_id"),
        # An account is connected to a chart at most once at a time (checked by the services too;
        # this holds when two staff members save at the same moment).
        Index("ux_connection_live", "patient_id", "account_id", unique=True,
              sqlite_where=text("revoked_at IS NULL"), postgresql_where=text("revoked_at IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="portalaccount.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    access_type: AccessType = AccessType.SELF
    relationship: str = Field(default="", max_length=40)
    permissions: str = Field(default="", max_length=300)
    requested_by: str = Field(default="", max_length=200)
    connected_by_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")
    connected_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class OneTimeSecret(SQLModel, table=True):
    """A link token, connect token or key. Only its SHA-256 is kept."""

    __table_args__ = (
        Index("ix_secret_patient_purpose", "patient_id", "purpose"),
        Index("ix_secret_patient_created", "patient_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    purpose: SecretPurpose
    secret_hash: str = Field(max_length=64, unique=True, index=True)
    # Short secrets (a 4- to 8-digit token) are hashed with a per-row salt and found by patient,
    # never by hash: without it two patients' equal tokens would collide.
    salt: str = Field(default="", max_length=32)
    patient_id: int | None = Field(default=None, foreign_key="patient.id")
    account_id: int | None = Field(default=None, foreign_key="portalaccount.id", index=True)
    channel: str = Field(default="email", max_length=10)
    destination: str = Field(default="", max_length=254)
    requested_by: str = Field(default="", max_length=200)
    created_by_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    attempts: int = 0
    used_at: datetime | None = None
    revoked_at: datetime | None = None
    # The first time the patient opened the link (or typed the key and it matched): the
    # adoption board's "link opened" stage.
    opened_at: datetime | None = None
    # An invitation link: how many usernames already in use its holder tried (services/link_checks.py).
    user_id_checks: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class StaffUser(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, unique=True, index=True)
    full_name: str = Field(max_length=200)
    password_hash: str
    active: bool = True
    must_change_password: bool = False
    failed_logins: int = 0
    failed_since_last_sign_in: int = 0
    locked_until: datetime | None = None
    last_sign_in_at: datetime | None = None
    # What the header shows after a sign-in: the one before it, and failures in between.
    previous_sign_in_at: datetime | None = None
    failures_before_sign_in: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class Role(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    built_in: bool = False


class RolePermission(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("role_id", "permission"),)

    id: int | None = Field(default=None, primary_key=True)
    role_id: int = Field(foreign_key="role.id", index=True)
    permission: str = Field(max_length=60)
    level: int = 0


class StaffUserRole(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("staff_user_id", "role_id"),)

    id: int | None = Field(default=None, primary_key=True)
    staff_user_id: int = Field(foreign_key="staffuser.id", index=True)
    role_id: int = Field(foreign_key="role.id", index=True)


class OutboxMessage(SQLModel, table=True):
    """Every email, text and letter, written here before any transport sees it."""

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(default="email", max_length=10)
    kind: str = Field(default="", max_length=40)
    to_address: str = Field(max_length=254)
    subject: str = Field(default="", max_length=300)
    body_text: str = ""
    body_html: str = ""
    status: MessageStatus = Field(default=MessageStatus.QUEUED, index=True)
    transport: str = Field(default="", max_length=20)
    provider_id: str = Field(default="", max_length=200)
    error: str = Field(default="", max_length=1000)
    attempts: int = 0
    idempotency_key: str = Field(max_length=80, unique=True)
    # The secret(s) the body carries while it may still need sending (unit-separated);
    # removed from the bodies, and from here, once a provider has delivered the message.
    pending_secrets: str = Field(default="", max_length=400)
    # A printed letter's PDF (channel "letter").
    attachment: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    # A delivery worker holds a queued message until then (services/outbox_worker.py).
    lease_until: datetime | None = None
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    sent_at: datetime | None = None


class AuditEvent(SQLModel, table=True):
    """Append-only. Never holds a secret value."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor_type: str = Field(max_length=10)  # staff, portal, system, anonymous
    staff_user_id: int | None = Field(default=None, foreign_key="staffuser.id", index=True)
    portal_account_id: int | None = Field(default=None, foreign_key="portalaccount.id")
    actor_label: str = Field(default="", max_length=254)
    action: str = Field(max_length=60)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    account_id: int | None = Field(default=None, foreign_key="portalaccount.id")
    ip: str = Field(default="", max_length=64)
    detail: str = Field(default="", max_length=2000)
    # SHA-256 of the previous row's chain and this row's content (services/audit_chain.py).
    chain: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})


class AuthSession(SQLModel, table=True):
    """Our own sign-in session (Reflex's client token is not one). Id kept hashed."""

    id: int | None = Field(default=None, primary_key=True)
    kind: SessionKind
    token_hash: str = Field(max_length=64, unique=True, index=True)
    staff_user_id: int | None = Field(default=None, foreign_key="staffuser.id", index=True)
    portal_account_id: int | None = Field(default=None, foreign_key="portalaccount.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None
    ip: str = Field(default="", max_length=64)


class BulkJob(SQLModel, table=True):
    """A long staff job ("Enable and invite"), tracked so it outlives the page."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)
    staff_user_id: int = Field(foreign_key="staffuser.id", index=True)
    status: str = Field(default="running", max_length=20)  # running, done, failed
    total: int = 0
    processed: int = 0
    invited: int = 0
    skipped_no_email: int = 0
    skipped_email_not_allowed: int = 0
    skipped_has_account: int = 0
    # An unused, unexpired invitation link (re-inviting would kill it), unless "send again".
    skipped_live_invitation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Recorded as deceased or merged into another chart: access stays off, nobody is invited.
    skipped_access_rule: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    error: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    # "Send again" was ticked: kept for a resumed job.
    resend: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    # Which worker process works the job, and until when (services/leases.py): renewed every few
    # seconds while it works; a lease that ran out means that worker died and another picks it up.
    lease_owner: str = Field(default="", max_length=120, sa_column_kwargs={"server_default": ""})
    lease_expires_at: datetime | None = None


class BulkJobItem(SQLModel, table=True):
    """One chart of a bulk job, fixed when the job starts. `outcome` is "" until the chart is done,
    then what happened (invited, no_email, ...), written in the same commit as the chart's own
    changes: a job resumed after a restart does each chart once and counts it once."""

    job_id: int = Field(foreign_key="bulkjob.id", primary_key=True)
    position: int = Field(primary_key=True)
    patient_id: int
    outcome: str = Field(default="", max_length=20)


class TaskKind(str, enum.Enum):
    """What a patient sent through the portal (the queue's "Arranged By: Request" groups)."""

    DOCUMENT_SHARE = "document_share"
    INTAKE_FORM = "intake_form"
    MESSAGE = "message"
    APPOINTMENT_REQUEST = "appointment_request"


class TaskStatus(str, enum.Enum):
    PENDING = "pending"
    REVIEWED = "reviewed"


class PortalTask(SQLModel, table=True):
    """One item in My Tasks > Patient Portal. Its detail lives in the kind's own table."""

    __table_args__ = (
        Index("ix_task_status_kind_created", "status", "kind", "created_at"),
        Index("ix_task_status_created", "status", "created_at"),
        # Pending Review lists by latest activity (a patient's new reply brings an item up).
        Index("ix_task_status_activity", "status", "last_activity_at"),
        Index("ix_task_status_kind_activity", "status", "kind", "last_activity_at"),
        Index("ix_task_patient_created", "patient_id", "created_at"),
        # "Reviewed (month)" and the Reviewed list: a range on the review time.
        Index("ix_task_status_reviewed", "status", "reviewed_at"),
        Index("ix_task_status_kind_reviewed", "status", "kind", "reviewed_at"),
        # "Arranged By: Patient" in name order without joining and sorting every item, newest
        # activity first inside a chart as Pending Review orders it: no sort however deep the page.
        Index("ix_task_status_patient_activity", "status", "patient_sort_key", "patient_id",
              text("last_activity_at DESC"), text("id DESC")),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: TaskKind
    status: TaskStatus = TaskStatus.PENDING
    patient_id: int = Field(foreign_key="patient.id")
    # The chart's Patient.sort_key, copied so the patient arrangement pages on one index; kept in
    # step when a merge changes the chart's name (services/forms.py).
    patient_sort_key: str = Field(default="", max_length=210)
    # Who sent it: the signed-in account, as self or as the patient's representative.
    account_id: int | None = Field(default=None, foreign_key="portalaccount.id", index=True)
    submitted_by: str = Field(default="", max_length=254)
    access_type: AccessType = AccessType.SELF
    subject: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    # The newest post of the thread (messages): sorts the patient's list, marks unread.
    last_activity_at: datetime = Field(default_factory=utcnow)
    reviewed_at: datetime | None = None
    reviewed_by_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")


class TaskPost(SQLModel, table=True):
    """A post in an item's thread: the patient's message, a staff reply, a note back."""

    __table_args__ = (Index("ix_post_task_created", "task_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="portaltask.id")
    author_type: str = Field(max_length=10)  # patient, staff
    account_id: int | None = Field(default=None, foreign_key="portalaccount.id")
    staff_user_id: int | None = Field(default=None, foreign_key="staffuser.id")
    author_label: str = Field(default="", max_length=254)
    body: str = Field(default="", max_length=20000)
    created_at: datetime = Field(default_factory=utcnow)
    # Unread markers: set when the other side first opens the thread after this post.
    read_by_patient_at: datetime | None = None
    read_by_staff_at: datetime | None = None


class TaskForward(SQLModel, table=True):
    """An item sent to a staff user's Communication queue."""

    __table_args__ = (Index("ix_forward_to_done", "to_staff_id", "done_at", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="portaltask.id", index=True)
    from_staff_id: int = Field(foreign_key="staffuser.id")
    to_staff_id: int = Field(foreign_key="staffuser.id")
    note: str = Field(default="", max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    opened_at: datetime | None = None
    done_at: datetime | None = None


class IntakeChange(SQLModel, table=True):
    """One changed field of a submitted form: the chart's value then, and the new one."""

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="portaltask.id", index=True)
    form: str = Field(default="intake", max_length=20)
    field_name: str = Field(max_length=40)
    chart_value: str = Field(default="", max_length=2000)
    new_value: str = Field(default="", max_length=2000)
    merged_at: datetime | None = None
    merged_by_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")


class FormRequest(SQLModel, table=True):
    """A form staff asked a patient to fill in; a to-do on the portal until submitted."""

    __table_args__ = (Index("ix_formrequest_patient_open", "patient_id", "submitted_at"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    form: str = Field(max_length=20)  # intake, consent, history
    requested_by_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")
    requested_at: datetime = Field(default_factory=utcnow)
    submitted_at: datetime | None = None
    task_id: int | None = Field(default=None, foreign_key="portaltask.id")
    cancelled_at: datetime | None = None


class PortalDocument(SQLModel, table=True):
    """A file a patient shared (with its Document Share item) or the practice shared."""

    __table_args__ = (Index("ix_document_patient_created", "patient_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id")
    task_id: int | None = Field(default=None, foreign_key="portaltask.id", index=True)
    from_practice: bool = False
    filename: str = Field(max_length=200)
    content_type: str = Field(max_length=60)
    size: int = 0
    sha256: str = Field(default="", max_length=64)
    note: str = Field(default="", max_length=1000)
    account_id: int | None = Field(default=None, foreign_key="portalaccount.id")
    staff_user_id: int | None = Field(default=None, foreign_key="staffuser.id")
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class AppointmentRequest(SQLModel, table=True):
    """The detail of an Appointment Request item."""

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="portaltask.id", unique=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    reason: str = Field(default="", max_length=2000)
    # Preferred slots as the patient gave them: "YYYY-MM-DD|morning" lines (unit-separated).
    preferred: str = Field(default="", max_length=1000)
    status: str = Field(default="requested", max_length=20)  # requested, scheduled, declined
    decided_by_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")
    decided_at: datetime | None = None
    staff_note: str = Field(default="", max_length=2000)
    # What was booked when staff marked it scheduled: the visit's time (UTC), provider, location.
    booked_at: datetime | None = None
    provider: str = Field(default="", max_length=120)
    location: str = Field(default="", max_length=200)
    # When the patient's Appointments page first showed the decision (None: new on the home page).
    decision_seen_at: datetime | None = None


class ChartAdoption(SQLModel, table=True):
    """One row per chart: how far its portal onboarding has come and where it stands now.

    A read model, never typed into: `services/adoption/facts.py` rebuilds a chart's row from
    the source tables (secrets, outbox, connections, accounts, sessions) in the same commit
    as any change to them, so the adoption board counts rows instead of reading history.
    Stages: 1 chart, 2 access enabled, 3 invited or key/token sent, 4 link opened,
    5 account created, 6 signed in at least once (`stage` is the furthest reached; a later
    stage implies the earlier ones). The `attempt_*` columns describe the newest attempt
    (invitation, key, token); "why stuck" is decided from them at read time
    (`services/adoption/reasons.py`), since expiry depends on the clock.
    """

    __table_args__ = (
        Index("ix_adoption_added_stage", "added_at", "stage", "last_sign_in_at"),
        # The funnel of every chart: the stages in order, so counting needs no sort.
        Index("ix_adoption_stage_seen", "stage", "last_sign_in_at", "added_at"),
        # The stuck list walks it newest step first and stops at a page; it holds every column
        # the stuck rule reads, so the list and the reason counts never read the table.
        Index("ix_adoption_stuck_since", "enabled", "since_at", "patient_id", "stage", "locked_until",
              "account_at", "first_sign_in_at", "temp_password_expires_at", "attempt_at", "delivery_failed",
              "attempt_used", "attempt_tries", "attempt_channel", "attempt_expires_at", "attempt_opened_at"),
        # The weekly trends: the weeks' rows and what they are broken down by, without the table.
        Index("ix_adoption_account_at", "account_at", "channel", "started_by_staff_id"),
        Index("ix_adoption_first_sign_in", "first_sign_in_at", "channel", "started_by_staff_id"),
        Index("ix_adoption_locked", "locked_until"),
    )

    patient_id: int = Field(foreign_key="patient.id", primary_key=True)
    added_at: datetime
    enabled: bool = False
    stage: int = 1
    enabled_at: datetime | None = None
    sent_at: datetime | None = None
    opened_at: datetime | None = None
    account_at: datetime | None = None
    first_sign_in_at: datetime | None = None
    last_sign_in_at: datetime | None = None
    # How the chart's account came about (or, with none yet, how the first attempt went):
    # an `adoption.Channel` value; and the staff member who started it.
    channel: str = Field(default="", max_length=20)
    started_by_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")
    # The newest attempt to bring the patient in.
    attempt_secret_id: int | None = None
    attempt_channel: str = Field(default="", max_length=20)
    attempt_at: datetime | None = None
    attempt_expires_at: datetime | None = None
    attempt_used: bool = False
    attempt_tries: int = 0
    attempt_opened_at: datetime | None = None
    # "email" or "sms" when the newest onboarding message for the chart failed to send.
    delivery_failed: str = Field(default="", max_length=10)
    account_id: int | None = None
    locked_until: datetime | None = None
    temp_password_expires_at: datetime | None = None
    # When the chart's current step began (the newest attempt, or the account): "stuck for".
    since_at: datetime | None = None


class ImportJob(SQLModel, table=True):
    """One uploaded file (or CLI run) of patients from the EHR: its format, mapping, dry-run and
    import counts. Progress lives here so a reopened page picks it up; `resume_after` is the last
    record (1-based) whose row is committed, so a resumed import never does a row twice."""

    id: int | None = Field(default=None, primary_key=True)
    staff_user_id: int | None = Field(default=None, foreign_key="staffuser.id", index=True)
    file_name: str = Field(default="", max_length=255)  # as uploaded, shown to staff
    stored_path: str = Field(default="", max_length=500)  # server-side copy (never sent to a browser)
    file_size: int = 0
    file_format: str = Field(default="", max_length=20)  # csv, fhir-bundle, ndjson
    encoding: str = Field(default="", max_length=20)
    delimiter: str = Field(default="", max_length=4)
    mapping: str = Field(default="", max_length=4000)  # JSON: our field -> the file's column
    # uploaded, checked (dry run done), running, done, failed, interrupted
    status: str = Field(default="uploaded", max_length=20)
    dry_run: bool = False
    total: int = 0
    processed: int = 0
    resume_after: int = 0
    # The worker process working it, and until when (services/leases.py; renewed every batch).
    lease_owner: str = Field(default="", max_length=120, sa_column_kwargs={"server_default": ""})
    lease_expires_at: datetime | None = None
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0
    skipped: int = 0  # not a Patient (FHIR) or not a patient row
    error: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ImportRowResult(SQLModel, table=True):
    """A refused row (line and reason) or an updated chart (its changed fields) of a dry run or an
    import, for the page's lists and the refusals download."""

    __table_args__ = (Index("ix_importrow_job_outcome", "job_id", "dry_run", "outcome", "line"),)

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="importjob.id")
    dry_run: bool = False
    outcome: str = Field(max_length=10)  # refused, updated
    line: int = 0
    chart_number: str = Field(default="", max_length=64)
    detail: str = Field(default="", max_length=2000)



class SecondFactor(SQLModel, table=True):
    """A staff user's or portal account's authenticator app (TOTP), and the sign-in step waiting for it.

    The secret is read by the server only: it leaves it once, in the enrolment QR code and key.
    """

    id: int | None = Field(default=None, primary_key=True)
    staff_user_id: int | None = Field(default=None, foreign_key="staffuser.id", unique=True)
    portal_account_id: int | None = Field(default=None, foreign_key="portalaccount.id", unique=True)
    secret: str = Field(max_length=64)  # base32
    confirmed_at: datetime | None = None  # None: enrolment started, not finished
    last_step: int = 0  # the last 30-second time step whose code was accepted (a replay is refused)
    # The sign-in waiting for this second step (after a right password): hashed, short-lived.
    challenge_hash: str = Field(default="", max_length=64, index=True)
    challenge_expires_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class RecoveryCode(SQLModel, table=True):
    """One of the ten single-use codes given at enrolment (stored as SHA-256 of a random code)."""

    id: int | None = Field(default=None, primary_key=True)
    factor_id: int = Field(foreign_key="secondfactor.id", index=True)
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = None
