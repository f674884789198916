"""Route constants and URL builders, in one place."""

from __future__ import annotations

import enum
from urllib.parse import urlencode

STAFF_LOGIN = "/staff/login"
STAFF_HOME = "/staff/onboarding"
ONBOARDING = "/staff/onboarding"
NEW_PATIENT = "/staff/onboarding/new-patient"
ADOPTION = "/staff/adoption"
PATIENT_CHART = "/staff/patients/[patient_id]"
PORTAL_SETTINGS = "/staff/setup/portal"
PATIENT_IMPORT = "/staff/setup/import"
OUTBOX = "/staff/outbox"
AUDIT = "/staff/audit"
STAFF_PASSWORD = "/staff/password"
PORTAL_ACCOUNTS = "/staff/portal-accounts"
PORTAL_USERS = "/staff/portal-users"
ROLES = "/staff/setup/roles"
STAFF_USERS = "/staff/setup/users"
TASKS = "/staff/tasks"
TASK_ITEM = "/staff/tasks/[task_id]"
COMMUNICATION = "/staff/communication"
# Served by portal_app/api.py (not a page): a queue item's document, for preview.
TASK_DOCUMENT_FILE = "/files/tasks/{task_id:int}/documents/{document_id:int}"
# Served by portal_app/api.py: an import's refused rows as CSV (?dry_run=1 for the dry run's).
IMPORT_REFUSALS_FILE = "/files/imports/{job_id:int}/refusals.csv"
# Any other address under /files/: answered 404, and audited (api.py).
ANY_FILE = "/files/{rest:path}"
# Served by portal_app/session_cookies.py: a sign-in's one-time grant in, the HttpOnly session
# cookie out (POST); and the cookie's end (POST, sign-out and expiry).
SESSION_COOKIE = "/auth/session"
SESSION_COOKIE_END = "/auth/session/end"

LOGIN = "/login"
FORGOT = "/forgot"
SETUP = "/setup"
PORTAL_HOME = "/portal"
PORTAL_PASSWORD = "/portal/password"
PORTAL_CONNECT = "/portal/connect"
PORTAL_TWO_STEP = "/portal/two-step"
PORTAL_MESSAGES = "/portal/messages"
PORTAL_FORMS = "/portal/forms"
PORTAL_DOCUMENTS = "/portal/documents"
PORTAL_APPOINTMENTS = "/portal/appointments"
PORTAL_SUMMARY = "/portal/summary"


class SetupStep(str, enum.Enum):
    INVITE = "invite"
    RESET = "reset"
    CREATE_ACCOUNT = "createAccount"
    VERIFY = "verify"


def patient_chart(patient_id: int) -> str:
    return f"/staff/patients/{patient_id}"


def task_item(task_id: int) -> str:
    return f"/staff/tasks/{task_id}"


def task_document_file(task_id: int, document_id: int) -> str:
    return f"/files/tasks/{task_id}/documents/{document_id}"


def import_refusals_file(job_id: int, *, dry_run: bool) -> str:
    return f"/files/imports/{job_id}/refusals.csv?dry_run={1 if dry_run else 0}"


def portal_accounts(patient_id: int | None = None) -> str:
    return f"{PORTAL_ACCOUNTS}?patient={patient_id}" if patient_id else PORTAL_ACCOUNTS


def setup_path(step: SetupStep, **query: str) -> str:
    return f"{SETUP}?{urlencode({'p': step.value, **query})}"


def portal_url(base_url: str, path: str) -> str:
    """An absolute link for a message: always built from the configured portal URL."""
    return base_url.rstrip("/") + path


def setup_url(base_url: str, step: SetupStep, **query: str) -> str:
    return portal_url(base_url, setup_path(step, **query))
