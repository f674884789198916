"""axe-core finds no WCAG 2 A/AA violation on the main staff and patient pages.

axe-core comes from npm (`make test` installs it into .venv/axe); without it these tests
fail with a message saying how to get it, rather than silently passing.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal_app import db
from portal_app.models import MessageStatus, OutboxMessage, StaffUser
from tests.e2e.conftest import ADMIN_USERNAME, REPO_ROOT, AppServer, goto
from tests.e2e.helpers import create_patient, staff_sign_in, unique_tag

AXE = Path(os.environ.get("AXE_JS") or REPO_ROOT / ".venv/axe/node_modules/axe-core/axe.min.js")


def _violations(page: Page) -> list[str]:
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `make test` (it installs it with npm).")
    # Let opening dialogs and toasts finish fading in: axe measures contrast on what is painted, and a
    # half-transparent first frame fails it though the settled page passes. (The short wait lets a
    # transition that was just triggered start first.)
    page.wait_for_timeout(200)
    page.wait_for_function("""() => document.getAnimations().every(a =>
        a.playState !== 'running' || a.effect.getComputedTiming().endTime === Infinity)""", timeout=10_000)
    # Evaluated through the devtools protocol, not added as an inline <script>: the app's CSP lets
    # only its built pages' own inline scripts run (security_headers.py).
    page.evaluate(AXE.read_text())
    found = page.evaluate("""async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa']}))
        .violations.map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3)
        .map(n => n.target.join(' ')).join(', ')}`)""")
    return found


def test_patient_pages_have_no_wcag_violations(app_server: AppServer, page: Page) -> None:
    problems = {}
    for path, heading in (("/login", "Sign in"), ("/forgot", None),
                          ("/setup?p=createAccount", "Create your portal account")):
        goto(page, path)
        if heading:
            expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        problems[path] = _violations(page)
    assert problems == {path: [] for path in problems}


def test_staff_pages_have_no_wcag_violations(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Axel", last_name=f"Audit-{unique_tag()}",
                             portal_enabled=True)
    # A failed message, so the outbox shows its Retry button to be checked too.
    with db.session_scope(app_server.db_url) as session:
        session.add(OutboxMessage(channel="email", kind="invitation", to_address="axel@example.com",
                                  subject="Portal invitation", status=MessageStatus.FAILED,
                                  error="550 mailbox unavailable", idempotency_key=f"axe-{secrets.token_hex(8)}",
                                  patient_id=patient.id))
        session.commit()
    problems = {}
    goto(page, "/staff/login")
    problems["/staff/login"] = _violations(page)
    staff_sign_in(page)
    for path, heading in (("/staff/onboarding", "Patient Portal Onboarding"), ("/staff/adoption", "Portal Adoption"),
                          ("/staff/setup/portal", None), ("/staff/setup/import", "Import patients"),
                          ("/staff/outbox", "Outbox"),
                          ("/staff/audit", None), (f"/staff/patients/{patient.id}", "Patient chart")):
        goto(page, path)
        if heading:
            expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        problems[path] = _violations(page)
    # The New patient form, empty and then with its messages beside the fields.
    goto(page, "/staff/onboarding/new-patient")
    expect(page.get_by_role("heading", name="New patient", level=1)).to_be_visible()
    problems["/staff/onboarding/new-patient"] = _violations(page)
    page.get_by_label("Date of birth").fill("02/30/1990")
    page.get_by_role("button", name="Save patient").click()
    expect(page.get_by_label("Date of birth")).to_have_attribute("aria-invalid", "true")
    problems["New patient form with errors"] = _violations(page)
    goto(page, f"/staff/patients/{patient.id}")
    expect(page.get_by_role("heading", name="Patient chart", level=1)).to_be_visible()
    # The chart's Connect Patient dialog, open.
    page.get_by_role("region", name="Connect Patient").get_by_role(
        "button", name="Connect Patient").click()
    expect(page.get_by_role("dialog", name="Connect Patient")).to_be_visible()
    problems["Connect Patient dialog"] = _violations(page)
    assert problems == {path: [] for path in problems}


def test_import_page_with_a_dry_runs_results_has_no_wcag_violations(app_server: AppServer, page: Page,
                                                                    tmp_path: Path) -> None:
    """Setup > Import patients with its column selects, counts and refused rows showing."""
    from sqlmodel import select

    from portal_app.services import audit
    from portal_app.services.importing import jobs

    stored = tmp_path / "export.csv"
    shutil.copy(REPO_ROOT / "tests" / "fixtures" / "e2e_import" / "practice_export.csv", stored)
    with db.session_scope(app_server.db_url) as session:
        admin = session.exec(select(StaffUser).where(StaffUser.username == ADMIN_USERNAME)).one()
        actor = audit.Actor.staff(admin.id)
        job = jobs.create_job(session=session, actor=actor, file_name="export.csv", stored_path=str(stored),
                              file_size=stored.stat().st_size)
        jobs.dry_run(session=session, job_id=job.id, actor=actor)
    staff_sign_in(page)
    goto(page, "/staff/setup/import")
    expect(page.get_by_role("table", name="Refused rows")).to_be_visible()
    expect(page.get_by_label("Chart number")).to_have_value("Patient ID")
    assert _violations(page) == []


def test_an_error_toast_is_readable(app_server: AppServer, page: Page) -> None:
    """A refusal toast (a staff user with no role at all) meets the contrast rules too."""
    from portal_app import db
    from portal_app.models import Role
    from portal_app.services import staff_auth

    username = f"norole{unique_tag().lower()}"
    password = "granite sparrow velvet orbit 27"
    with db.session_scope(app_server.db_url) as session:
        session.add(Role(name=f"Empty {username}"))
        session.commit()
        staff_auth.create_staff(session=session, username=username, full_name="No Role",
                                password=password, role=f"Empty {username}")
    goto(page, "/staff/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("You do not have permission to open that page.")).to_be_visible()
    assert _violations(page) == []
