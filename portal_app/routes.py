"""Route constants and URL builders, in one place."""

from __future__ import annotations

import enum
from urllib.parse import urlencode

STAFF_LOGIN = "/staff/login"
STAFF_HOME = "/staff/onboarding"
ONBOARDING = "/staff/onboarding"
PATIENT_CHART = "/staff/patients/[patient_id]"
PORTAL_SETTINGS = "/staff/setup/portal"
OUTBOX = "/staff/outbox"
AUDIT = "/staff/audit"
STAFF_PASSWORD = "/staff/password"

LOGIN = "/login"
FORGOT = "/forgot"
SETUP = "/setup"
PORTAL_HOME = "/portal"
PORTAL_PASSWORD = "/portal/password"
PORTAL_CONNECT = "/portal/connect"


class SetupStep(str, enum.Enum):
    INVITE = "invite"
    RESET = "reset"
    CREATE_ACCOUNT = "createAccount"
    VERIFY = "verify"


def patient_chart(patient_id: int) -> str:
    return f"/staff/patients/{patient_id}"


def setup_path(step: SetupStep, **query: str) -> str:
    return f"{SETUP}?{urlencode({'p': step.value, **query})}"


def setup_url(base_url: str, step: SetupStep, **query: str) -> str:
    """An absolute link for a message: always built from the configured portal URL."""
    return base_url.rstrip("/") + setup_path(step, **query)
