"""Two backend workers behind one port, sharing Redis and the database (README "Deploying").

The app of this module runs as a deployment with workers does: `REFLEX_REDIS_URL` set (a
throwaway redis-server, tests/redis_server.py) and `GRANIAN_WORKERS=2` behind one port, built in a
folder of its own. Which worker serves a tab is the worker its websocket connected to; Reflex's
Redis token manager writes that down for every tab (its socket record, keyed by the tab's token),
so each test opens tabs until it holds one on each worker, and says which is which.

Proves: a staff click on one worker reaches a patient's open tab served by the other (access
disabled: the patient's next event is refused); one sign-in session works on both workers; wrong
passwords typed on both workers lock the account after ten in all, and the sign-in throttle
counts them once, in Redis; a bulk invite started on one worker is run once (each patient invited
exactly once) while a tab on the other worker shows its progress.

The tab sweep runs once an hour here, so the patient's own next event is what meets the ended
session (the sweep over Redis has unit tests: test_state_phi).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlmodel import col, func, select

from portal_app import db
from portal_app.models import OutboxMessage, Patient
from portal_app.services import onboarding
from portal_app.services.passwords import MAX_FAILURES
from portal_app.services.throttle import REDIS_PREFIX
from tests import redis_server
from tests.e2e.conftest import E2E_WEB_DIR, AppServer, goto, install_hydration_probe, running_app
from tests.e2e.helpers import (
    PASSPHRASE,
    account_of,
    create_patient,
    expect_portal_home,
    find_in_onboarding,
    give_account,
    open_sessions,
    patient_sign_in,
    search_onboarding,
    staff_sign_in,
    unique_tag,
    wait_until,
)
from tests.e2e.test_patient_access import SIGN_IN_FAILED

pytestmark = pytest.mark.skipif(not redis_server.installed(), reason=redis_server.NOT_INSTALLED)

# reflex/utils/token_manager.py (RedisTokenManager): the key of each connected tab's socket record.
SOCKET_RECORD = "token_manager_socket_record_"
NEW_TABS = 16  # a new tab lands on either worker; sixteen on one alone would be 1 in 32,768
BULK_PATIENTS = 600  # several seconds of work: long enough to open a tab on the other worker


@dataclass(frozen=True)
class Workers:
    app: AppServer
    redis: redis.Redis
    browser: Browser
    redis_folder: Path

    def context(self) -> BrowserContext:
        """A browser of its own (cookies and all), opening this app."""
        context = self.browser.new_context(base_url=self.app.base_url)
        install_hydration_probe(context)
        return context

    def worker_of(self, page: Page) -> str:
        """The worker (Reflex's instance id) whose websocket serves the tab."""
        token = page.evaluate("() => window.sessionStorage.getItem('token')")
        assert token, "the tab has no Reflex token"
        raw = wait_until(lambda: self.redis.get(SOCKET_RECORD + token), what="the tab's socket record")
        return pickle.loads(raw).instance_id  # written by Reflex into this test's own Redis

    def tab(self, context: BrowserContext, path: str, *, not_on: str = "") -> tuple[Page, str]:
        """A new tab at `path`, on a worker other than `not_on` (any worker without it)."""
        for _ in range(NEW_TABS):
            page = context.new_page()
            goto(page, path)
            worker = self.worker_of(page)
            if worker != not_on:
                return page, worker
            page.close()
        pytest.fail(f"{NEW_TABS} new tabs all landed on one worker: are there two?", pytrace=False)


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[Workers]:
    folder = tmp_path_factory.mktemp("two-workers")
    redis_url, redis_folder = redis_server.start()
    with running_app(
            folder, web_dir=Path(f"{E2E_WEB_DIR}-workers"),
            extra_env={"REFLEX_REDIS_URL": redis_url, "GRANIAN_WORKERS": "2",
                       "PORTAL_TAB_SWEEP_SECONDS": "3600",
                       # 127.0.0.1 is not an office here: the per-address throttle counts it.
                       "PORTAL_OFFICE_NETWORKS": ""}) as app:
        client = redis.Redis.from_url(redis_url)
        try:
            yield Workers(app, client, browser, redis_folder)
        finally:
            client.close()
            redis_server.stop(redis_folder)


def _disable_in_the_list(page: Page, patient) -> None:
    row = find_in_onboarding(page, patient)
    row.get_by_role("button", name=f"Disable portal access for {patient.list_name}").click()
    dialog = page.get_by_role("alertdialog")
    dialog.get_by_role("button", name="Disable access").click()
    expect(dialog).to_be_hidden()
    expect(row.get_by_role("button", name=f"Enable portal access for {patient.list_name}")).to_be_visible()


def _signed_in_patient(workers: Workers, first_name: str, last_name: str):
    """A chart with an account, and its patient signed in in a browser of their own:
    (patient, user ID, that browser, the portal tab)."""
    patient = create_patient(workers.app, first_name=first_name, last_name=last_name, portal_enabled=True)
    user_id = give_account(workers.app, patient)
    browser = workers.context()
    page = browser.new_page()
    patient_sign_in(page, user_id, PASSPHRASE)
    expect_portal_home(page, patient)
    return patient, user_id, browser, page


def test_a_staff_click_on_one_worker_ends_the_patient_tab_served_by_the_other(workers: Workers) -> None:
    server = workers.app
    patient, user_id, patient_browser, first = _signed_in_patient(workers, "Wendeline",
                                                                   f"Twoworkers{unique_tag()}")
    patient_worker = workers.worker_of(first)
    # The same session in a tab the other worker serves: signed in there too, one session.
    second, other_worker = workers.tab(patient_browser, "/portal", not_on=patient_worker)
    expect_portal_home(second, patient)
    assert open_sessions(server, user_id) == 1
    second.close()

    staff_browser = workers.context()
    staff_sign_in(staff_browser.new_page())
    staff, staff_worker = workers.tab(staff_browser, "/staff/onboarding", not_on=patient_worker)
    assert staff_worker == other_worker != patient_worker
    _disable_in_the_list(staff, patient)
    assert open_sessions(server, user_id) == 0

    # The patient's tab, on the other worker, sends its next event: refused, to sign-in.
    assert workers.worker_of(first) == patient_worker
    expect(first.get_by_role("main")).to_contain_text(patient.last_name)  # nothing swept it meanwhile
    first.get_by_role("link", name="Change password").click()
    expect(first).to_have_url(re.compile(r"/login/?$"))
    expect(first.get_by_role("button", name="Sign in")).to_be_visible()
    expect(first.get_by_role("main")).not_to_contain_text(patient.last_name)
    patient_browser.close()
    staff_browser.close()


def _sign_in_tries(workers: Workers) -> int:
    """The sign-in throttle's count of 127.0.0.1's failed tries, as every worker reads it."""
    return int(workers.redis.zcard(f"{REDIS_PREFIX}sign_in:ip:127.0.0.1"))


def test_wrong_passwords_on_both_workers_lock_the_account_and_are_throttled_once(workers: Workers) -> None:
    server = workers.app
    patient = create_patient(server, first_name="Osric", last_name=f"Lockstep{unique_tag()}",
                             portal_enabled=True)
    user_id = give_account(server, patient)
    browser = workers.context()
    tab_a, worker_a = workers.tab(browser, "/login")
    tab_b, worker_b = workers.tab(browser, "/login", not_on=worker_a)
    counted_before = _sign_in_tries(workers)

    def try_password(page: Page, password: str) -> None:
        # In place, no reload: the tab keeps its socket on its worker.
        page.get_by_label("Email or phone number").fill(user_id)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()

    for n in range(1, MAX_FAILURES + 1):  # turn about: odd tries on A, even ones on B
        try_password(tab_a if n % 2 else tab_b, f"not the passphrase {n}")
        if n < MAX_FAILURES:
            wait_until(lambda n=n: account_of(server, user_id).failed_logins == n,
                       what=f"wrong password {n} counted")
    assert wait_until(lambda: account_of(server, user_id).locked_until, what="the lock")
    assert {workers.worker_of(tab_a), workers.worker_of(tab_b)} == {worker_a, worker_b}

    # Locked on both workers: the right password is refused with the one failure message.
    for page in (tab_a, tab_b):
        try_password(page, PASSPHRASE)
        expect(page.get_by_role("alert")).to_have_text(SIGN_IN_FAILED)
        expect(page).to_have_url(re.compile(r"/login/?$"))
    assert open_sessions(server, user_id) == 0
    # Every try of both workers is in the one count in Redis (ten wrong, two while locked).
    wait_until(lambda: _sign_in_tries(workers) - counted_before == MAX_FAILURES + 2,
               what="the throttle's shared count")
    browser.close()


def _bulk_patients(server: AppServer, last_name: str) -> list[str]:
    emails = [f"bulk{n}.{last_name}@example.org".lower() for n in range(BULK_PATIENTS)]
    with db.session_scope(server.db_url) as session:
        for n, email in enumerate(emails):
            first = f"Una{n:04d}"
            session.add(Patient(chart_number=f"W{last_name[-5:]}{n:05d}", first_name=first, last_name=last_name,
                                email=email, email_lower=email, allow_email=True, dob=date(1990, 1, 1),
                                sort_key=onboarding.sort_key(last_name, first)))
        session.commit()
    return emails


def _invitations(server: AppServer, emails: list[str]) -> dict[str, int]:
    with db.session_scope(server.db_url) as session:
        return dict(session.exec(select(OutboxMessage.to_address, func.count())
                                 .where(col(OutboxMessage.to_address).in_(emails))
                                 .group_by(OutboxMessage.to_address)).all())


def test_a_bulk_invite_runs_once_and_tabs_on_both_workers_show_its_progress(workers: Workers) -> None:
    server = workers.app
    last_name = f"Bulkworkers{unique_tag()}"
    emails = _bulk_patients(server, last_name)
    browser = workers.context()
    staff_sign_in(browser.new_page())
    starter, starter_worker = workers.tab(browser, "/staff/onboarding")
    search_onboarding(starter, last_name)
    expect(starter.get_by_role("link", name=f"{last_name}, Una0000", exact=True)).to_be_visible()
    starter.get_by_role("button", name="Enable and invite all matching").click()
    dialog = starter.get_by_role("alertdialog")
    expect(dialog).to_contain_text(f"Enable and invite all {BULK_PATIENTS} matching patients?")
    dialog.get_by_role("button", name="Start").click()

    watcher, _ = workers.tab(browser, "/staff/onboarding", not_on=starter_worker)
    processed = re.compile(rf"(\d+) of {BULK_PATIENTS} patients processed")
    seen: set[int] = set()
    for page in (watcher, starter):
        panel = page.get_by_role("region", name="Enable and invite")
        expect(panel).to_be_visible()
        expect(page.get_by_role("progressbar", name="Enable and invite progress")).to_be_visible()

    def watcher_done() -> bool:
        text = watcher.get_by_role("region", name="Enable and invite").inner_text()
        if match := processed.search(text):
            seen.add(int(match.group(1)))
        return "Done." in text

    wait_until(watcher_done, timeout=120, what="the job's end, in the other worker's tab")
    assert [n for n in seen if 0 < n < BULK_PATIENTS], f"the other worker's tab saw no progress: {seen}"
    for page in (watcher, starter):
        status = page.get_by_role("region", name="Enable and invite").get_by_role("status")
        expect(status).to_contain_text(f"Done. Invited {BULK_PATIENTS}")
    # Two workers, one run: each patient invited exactly once.
    assert _invitations(server, emails) == {email: 1 for email in emails}
    browser.close()


def test_after_redis_restarts_open_tabs_recover_and_no_write_is_lost(workers: Workers) -> None:
    """Last in the module: Redis comes back empty (no persistence), every tab's state gone."""
    server = workers.app
    patient, _, patient_browser, patient_page = _signed_in_patient(workers, "Perpetua", f"Restart{unique_tag()}")
    staff_browser = workers.context()
    staff = staff_browser.new_page()
    staff_sign_in(staff)
    other = create_patient(server, first_name="Quintus", last_name=f"Restart{unique_tag()}")
    row = find_in_onboarding(staff, other)
    row.get_by_role("button", name=f"Enable portal access for {other.list_name}").click()
    expect(row.get_by_role("button", name=f"Disable portal access for {other.list_name}")).to_be_visible()

    redis_server.restart(workers.redis_folder)

    # The write made just before is in the database; sessions are there too, so after a reload
    # (their state was in Redis) both tabs are signed in and work.
    with db.session_scope(server.db_url) as session:
        assert session.get(Patient, other.id).portal_enabled is True
    for page in (patient_page, staff):
        page.reload()
    expect_portal_home(patient_page, patient)
    _disable_in_the_list(staff, other)
    with db.session_scope(server.db_url) as session:
        assert session.get(Patient, other.id).portal_enabled is False
    workers.worker_of(staff)  # the tab's socket is written down in the new Redis
    patient_browser.close()
    staff_browser.close()
