"""The app: every page registered explicitly, module by module."""

import asyncio
import logging
from functools import partial

import reflex as rx
from sqlalchemy.exc import OperationalError

from portal_app import db, event_errors, routes
from portal_app.api import files_api
from portal_app.body_limit import BodyLimit
from portal_app.pages.patient import appointments as patient_appointments
from portal_app.pages.patient import documents as patient_documents
from portal_app.pages.patient import forms as patient_forms
from portal_app.pages.patient import home as patient_home
from portal_app.pages.patient import login as patient_login
from portal_app.pages.patient import messages as patient_messages
from portal_app.pages.patient import setup as patient_setup
from portal_app.pages.patient import summary as patient_summary
from portal_app.pages.patient import two_step as patient_two_step
from portal_app.pages.staff import (
    adoption,
    audit,
    chart,
    new_patient,
    onboarding,
    outbox,
    patient_import,
    portal_accounts,
    portal_users,
    roles,
    settings,
    tasks,
)
from portal_app.pages.staff import login as staff_login
from portal_app.private_files import private_dir
from portal_app.security_headers import security_headers
from portal_app.services import bulk, deployment, outbox_worker, throttle
from portal_app.services.importing import jobs
from portal_app.state.patient_import import PatientImportState
from portal_app.state.phi import HydrateGuard, sweep_forever


def index() -> rx.Component:
    return rx.el.main(
        rx.heading("Patient Portal", as_="h1"),
        rx.el.p(rx.el.a("Patients: sign in", href=routes.LOGIN)),
        rx.el.p(rx.el.a("Practice staff: sign in", href=routes.STAFF_LOGIN)),
        style={"padding": "2em"},
    )


# Sonner's "rich colours" put red text on pink, below WCAG AA contrast: plain toasts instead
# (dark text on white), with a close button so a message can be dismissed from the keyboard.
# Every request body is capped before Reflex reads it (body_limit.py): 10 MB, 200 MB for an import.
body_limit = partial(BodyLimit, import_handler=f"{PatientImportState.get_full_name()}.upload")
# Then the security headers around everything (pages included).
# A failed or crafted event: one log line (handler, reason), no traceback (event_errors.py).
event_errors.install()
# Several workers (REFLEX_REDIS_URL): the sign-in throttles are counted in Redis, once for all.
throttle.use_redis_if_configured()
app = rx.App(toaster=rx.toast.provider(rich_colors=False, close_button=True),
             api_transformer=[files_api, body_limit, security_headers],
             backend_exception_handler=event_errors.backend_exception_handler)
# A (re)connecting tab is sent its whole server-side state: without a live session, no PHI.
app.add_middleware(HydrateGuard())
app.add_page(index, route="/", title="Patient Portal")
# Reflex serves this folder at /_upload/...: our uploads never land there, and nobody else on the
# machine may read what might.
private_dir(rx.get_upload_dir())
for module in (staff_login, onboarding, new_patient, adoption, chart, settings, patient_import, outbox, audit, tasks,
               portal_accounts, portal_users, roles, patient_login, patient_setup, patient_home, patient_messages,
               patient_appointments, patient_documents, patient_forms, patient_summary, patient_two_step):
    module.add_pages(app)


@app.register_lifespan_task
async def event_logs_one_line() -> None:
    """Again once the server has set up its logging (it may have replaced the loggers' filters)."""
    event_errors.install()


def _pick_up_jobs() -> None:
    with db.session_scope() as session:
        jobs.mark_interrupted(session=session)  # it offers "Resume" on Setup > Import patients
        orphans = bulk.orphaned_jobs(session=session)
    for job_id, actor in orphans:
        with db.session_scope() as session:
            bulk.run_in_own_process(session=session, job_id=job_id, actor=actor)


@app.register_lifespan_task
async def pick_up_jobs() -> None:
    """Every few seconds, in every worker: a bulk job whose worker died (its lease ran out) is
    worked on from where it stopped, and such an import is marked interrupted. Several workers
    may find the same bulk job: its lease lets one work it (services/leases.py), the others'
    processes leave it alone; a job whose worker lives keeps its lease and is left alone."""
    database_was_down = False
    while True:
        try:
            await asyncio.to_thread(_pick_up_jobs)
            database_was_down = False
        except OperationalError as error:  # down: one line, not a traceback (/_health says db false)
            if not database_was_down:
                logging.getLogger(__name__).error(deployment.database_down(error))
            database_was_down = True
        except Exception:  # noqa: BLE001 (tried again next time; the job rows say where they are)
            logging.getLogger(__name__).exception("picking up jobs failed")
        await asyncio.sleep(bulk.PICK_UP_SECONDS)


@app.register_lifespan_task
async def deliver_outbox() -> None:
    """The delivery worker: queued messages go to their provider outside any transaction
    (services/outbox_worker.py); cancelled when the app stops (a held lease simply ends)."""
    await outbox_worker.run_forever()


@app.register_lifespan_task
async def forget_ended_sessions(app: rx.App) -> None:
    """Once a minute: a tab left open whose session has ended (idle, disabled) forgets its PHI."""
    await sweep_forever(app)
