"""What the audit log records since issue 11 item 4: every PHI view or export and every refusal.

Chart documents (staff list and download), portal downloads, Outbox bodies, refused permissions
in background handlers, objects of another chart (or none such) named in an event, file-route
404s, wrong current passwords, and failed sign-ins that keep no typed user ID.
"""

from __future__ import annotations

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from portal_app import routes
from portal_app.api import STAFF_COOKIE, files_api
from portal_app.models import AccessType, AuditEvent, PortalConnection, PortalDocument, TaskKind
from portal_app.notify.templates import Rendered
from portal_app.services import audit, documents, outbox, portal_auth, staff_auth
from portal_app.services.errors import InvalidInput
from portal_app.services.permissions import Level, Permission
from portal_app.state.chart_documents import ChartDocumentsState
from portal_app.state.onboarding import OnboardingState
from portal_app.state.outbox import OutboxState
from portal_app.state.patient_documents import DocumentsState
from portal_app.state.patient_home import HomeState, PasswordState
from portal_app.state.patient_messages import PatientMessagesState
from tests.unit.conftest import ADMIN_PASSWORD, make_patient
from tests.unit.state_support import sign_in_admin, staff_with, state_for
from tests.unit.test_documents import PDF
from tests.unit.test_state_patient import PASSWORD, make_account, run, state_at
from tests.unit.test_state_patient_forms import signed_in
from tests.unit.test_tasks import PNG, task


def _events(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _share(session, admin, patient, name: str = "results.pdf") -> int:
    return documents.share_with_patient(session=session, patient_id=patient.id, filename=name, data=PDF,
                                        note="", actor=audit.Actor.staff(admin.id))


# ---- staff: the chart's documents ------------------------------------------------------------

async def test_staff_reading_a_charts_documents_is_audited_page_by_page(session, admin):
    patient = make_patient(session, enabled=True)
    for n in range(documents.PAGE_SIZE + 1):
        _share(session, admin, patient, f"r{n:02d}.pdf")
    root, state = await state_for(ChartDocumentsState, session_id=sign_in_admin(session),
                                  path=routes.patient_chart(patient.id))
    await run(state.load())
    await run(state.next_page())
    views = _events(session, "document.list")
    assert [(e.staff_user_id, e.patient_id, e.detail) for e in views] == [
        (admin.id, patient.id, f"offset=0; shown={documents.PAGE_SIZE}"),
        (admin.id, patient.id, f"offset={documents.PAGE_SIZE}; shown=1"),
    ]


async def test_staff_downloading_a_chart_document_is_audited(session, admin):
    patient = make_patient(session, enabled=True)
    document_id = _share(session, admin, patient)
    root, state = await state_for(ChartDocumentsState, session_id=sign_in_admin(session),
                                  path=routes.patient_chart(patient.id))
    await run(state.load())
    event = await run(state.download(str(document_id)))
    assert "results.pdf" in str(event)
    [download] = _events(session, "document.download")
    assert (download.staff_user_id, download.patient_id) == (admin.id, patient.id)
    assert download.detail == f"document={document_id}; file=results.pdf"


async def test_a_staff_download_of_another_charts_document_is_refused_and_audited(session, admin):
    patient = make_patient(session, enabled=True)
    other = make_patient(session, first="Ann", last="Other", email="ann@example.com", enabled=True)
    theirs = _share(session, admin, other)
    root, state = await state_for(ChartDocumentsState, session_id=sign_in_admin(session),
                                  path=routes.patient_chart(patient.id))
    await run(state.load())
    await run(state.download(str(theirs)))
    assert "not available" in state.error
    assert _events(session, "document.download") == []
    [refusal] = _events(session, "access.object_refused")
    # Recorded on the chart that was reached for, with the chart it was asked from.
    assert (refusal.staff_user_id, refusal.patient_id) == (admin.id, other.id)
    assert refusal.detail == f"document={theirs}; asked from chart={patient.id}"


# ---- the portal: downloads -------------------------------------------------------------------

async def test_a_patient_download_is_audited_and_another_charts_is_refused_and_audited(session, admin):
    patient, root, state = await signed_in(session, DocumentsState, routes.PORTAL_DOCUMENTS)
    mine = _share(session, admin, patient, "mine.pdf")
    other = make_patient(session, first="Ann", last="Other", email="ann@example.com", enabled=True)
    theirs = _share(session, admin, other, "theirs.pdf")
    await run(state.load())
    await run(state.download(str(mine)))
    [download] = _events(session, "document.download")
    assert download.actor_type == "portal" and download.patient_id == patient.id
    assert download.portal_account_id is not None and download.detail == f"document={mine}; file=mine.pdf"

    result = await run(state.download(str(theirs)))
    assert "not available" in str(result)
    [refusal] = _events(session, "access.object_refused")
    assert refusal.portal_account_id == download.portal_account_id and refusal.patient_id == other.id
    assert len(_events(session, "document.download")) == 1


# ---- the Outbox: a body is a view of live links ----------------------------------------------

async def test_opening_a_message_body_in_the_outbox_is_audited(session, admin):
    patient = make_patient(session, enabled=True)
    outbox.send(session=session, channel="email", kind="invitation", to="maria.lopez@example.com",
                rendered=Rendered(subject="Set up", text="https://portal.example/setup?token=abc", html=""),
                patient_id=patient.id)
    session.commit()
    root, state = await state_for(OutboxState, session_id=sign_in_admin(session), path=routes.OUTBOX)
    await state.load()
    await run(state.view_body(state.rows[0].id))
    assert "token=abc" in state.body_text
    [view] = _events(session, "outbox.view_body")
    assert (view.staff_user_id, view.patient_id) == (admin.id, patient.id)
    assert view.detail == f"message #{state.rows[0].id} (invitation): no live secret"
    assert "abc" not in view.detail


# ---- refusals --------------------------------------------------------------------------------

async def test_a_background_handler_checking_for_itself_audits_its_refusal(session, admin):
    reader = staff_with(session, "reader", {Permission.PORTAL_ADMIN: Level.READ})
    root, state = await state_for(OnboardingState, session_id=reader, path=routes.ONBOARDING)
    assert await state._require(Permission.PORTAL_ADMIN, Level.UPDATE, audit_as="run_bulk") is None
    [refusal] = _events(session, "access.refused")
    assert refusal.actor_type == "staff"
    assert refusal.detail == "handler=OnboardingState.run_bulk; needs=portal_admin>=update"
    # Without a name (a re-check after work, not a request), nothing is written.
    assert await state._require(Permission.PORTAL_ADMIN, Level.UPDATE) is None
    assert len(_events(session, "access.refused")) == 1


async def test_an_event_naming_another_charts_thread_is_refused_and_audited_once(session):
    patient, root, state = await signed_in(session, PatientMessagesState, routes.PORTAL_MESSAGES)
    await run(state.load())
    other = make_patient(session, first="Ann", last="Other", email="ann@example.com", enabled=True)
    theirs = task(session, other, TaskKind.MESSAGE, subject="Private")
    await run(state.open_thread(theirs.id))
    assert state.posts == [] and not state.open_id
    [refusal] = _events(session, "access.object_refused")
    assert refusal.actor_type == "portal" and refusal.portal_account_id is not None
    assert refusal.detail == (f"handler=PatientMessagesState.open_thread; NotFound; task_id={theirs.id}; "
                              f"viewing chart={patient.id}")


async def test_a_staff_event_naming_an_object_that_is_not_there_is_audited(session, admin):
    patient = make_patient(session, enabled=True)
    root, state = await state_for(OutboxState, session_id=sign_in_admin(session), path=routes.OUTBOX)
    await state.load()
    await run(state.view_body(424242))
    assert "no longer exists" in state.error
    [refusal] = _events(session, "access.object_refused")
    assert refusal.staff_user_id == admin.id
    assert refusal.detail == "handler=OutboxState.view_body; NotFound; message_id=424242"
    assert patient.id  # (the chart is there; the message is not)


def _get(path: str, session_id: str = ""):
    client = TestClient(files_api)
    if session_id:
        client.cookies.set(STAFF_COOKIE, session_id)
    return client.get(path)


def test_every_file_route_404_is_audited_with_who_and_why(session, admin):
    patient = make_patient(session)
    share = task(session, patient, TaskKind.DOCUMENT_SHARE)
    other = task(session, patient, TaskKind.DOCUMENT_SHARE)
    doc = PortalDocument(patient_id=patient.id, task_id=share.id, filename="card.png",
                         content_type="image/png", size=len(PNG), data=PNG)
    session.add(doc)
    session.commit()
    outsider = staff_with(session, "olive", {Permission.OUTBOX: Level.WRITE})

    assert _get(routes.task_document_file(share.id, doc.id)).status_code == 404
    assert _get(routes.task_document_file(share.id, doc.id), outsider).status_code == 404
    assert _get(routes.task_document_file(other.id, doc.id), sign_in_admin(session)).status_code == 404
    assert _get("/files/imports/77/refusals.csv", sign_in_admin(session)).status_code == 404
    assert _get("/files/tasks/1/documents/not-a-number").status_code == 404
    details = [(e.actor_type, e.detail) for e in _events(session, "access.object_refused")]
    route = f"route=task document: item={share.id}; document={doc.id}"
    assert details == [
        ("anonymous", f"{route}; no session"),
        ("staff", f"{route}; Forbidden"),
        ("staff", f"item={other.id}; document={doc.id} (not this item's)"),
        ("staff", "route=import refusals: job=77; NotFound"),
        ("anonymous", "route=unknown: /files/tasks/1/documents/not-a-number; no such file route"),
    ]


# ---- passwords and sign-in -------------------------------------------------------------------

def test_a_wrong_current_password_is_audited_for_staff(session, admin):
    sid = sign_in_admin(session)
    with pytest.raises(InvalidInput):
        staff_auth.change_password(session=session, staff_user_id=admin.id, current="a wrong guess 1",
                                   new="another strong password 77", confirm="another strong password 77",
                                   session_id=sid)
    [refused] = _events(session, "staff.password_change_refused")
    assert refused.staff_user_id == admin.id and refused.detail == "wrong current password"
    assert "a wrong guess" not in refused.detail + refused.actor_label


def test_a_wrong_current_password_is_audited_for_a_patient(session):
    patient, account = make_account(session)
    with pytest.raises(InvalidInput):
        portal_auth.change_password(session=session, account_id=account.id, current="not it at all 5",
                                    new="a brand new passphrase 9", confirm="a brand new passphrase 9",
                                    session_id=None)
    [refused] = _events(session, "account.password_change_refused")
    assert refused.portal_account_id == account.id and refused.account_id == account.id
    assert refused.detail == "wrong current password"


def test_a_failed_staff_sign_in_stores_no_typed_user_id(session, admin):
    typed = ADMIN_PASSWORD  # the password, typed in the user ID box
    with pytest.raises(staff_auth.SignInFailed):
        staff_auth.sign_in(session=session, username=typed, password="")
    with pytest.raises(staff_auth.SignInFailed):
        staff_auth.sign_in(session=session, username="admin", password="not the password", ip="10.0.0.7")
    unknown, known = _events(session, "staff.sign_in_failed")
    assert (unknown.actor_type, unknown.actor_label, unknown.detail) == (
        "anonymous", "sign-in attempt (unknown user)", "unknown user")
    assert known.actor_label == f"sign-in attempt (staff user #{admin.id})" and known.ip == "10.0.0.7"
    for event in session.exec(select(AuditEvent)):
        assert ADMIN_PASSWORD.lower() not in (event.actor_label + event.detail).lower()


def test_a_failed_portal_sign_in_stores_no_typed_user_id(session):
    patient, account = make_account(session)
    typed = "My Secret Passphrase 12"
    with pytest.raises(portal_auth.SignInFailed):
        portal_auth.sign_in(session=session, user_id=typed, password="")
    with pytest.raises(portal_auth.SignInFailed):
        portal_auth.sign_in(session=session, user_id="maria.lopez@example.com", password=PASSWORD + "x")
    unknown, known = _events(session, "portal.sign_in_failed")
    assert (unknown.actor_label, unknown.account_id) == ("sign-in attempt (unknown user)", None)
    assert (known.actor_label, known.account_id) == (f"sign-in attempt (portal account #{account.id})", account.id)
    for event in session.exec(select(AuditEvent)):
        assert typed.lower() not in (event.actor_label + event.detail).lower()
        assert "maria.lopez@example.com" not in event.actor_label


async def test_switching_to_a_chart_the_account_may_not_open_is_audited(session):
    patient, root, home = await signed_in(session, HomeState, routes.PORTAL_HOME)
    other = make_patient(session, first="Zed", last="Quill", email="zed@example.com", enabled=True)
    await run(home.switch_chart(str(patient.id)))  # its own chart: nothing to record
    assert _events(session, "access.object_refused") == []
    await run(home.switch_chart(str(other.id)))
    assert home.viewing_id == str(patient.id)
    [refusal] = _events(session, "access.object_refused")
    assert refusal.actor_type == "portal" and refusal.detail == (
        f"handler=PortalSessionState.switch_chart; patient_id={other.id} (not open to this account)")


async def test_a_patient_page_event_with_no_session_is_refused_and_audited(session):
    _, page = await state_at(routes.PORTAL_MESSAGES, PatientMessagesState)
    await run(page.send_message({"subject": "Hello", "body": "Anyone?"}))  # an area handler
    _, home = await state_at(routes.PORTAL_PASSWORD, PasswordState)
    await run(home.change_password({"current": "x", "password": "y", "confirm": "y"}))  # a signed-in handler
    refusals = _events(session, "access.refused")
    assert [(e.actor_type, e.detail) for e in refusals] == [
        ("anonymous", "handler=PatientMessagesState.send_message; needs=portal:messages"),
        ("anonymous", "handler=PasswordState.change_password; needs=portal:signed-in"),
    ]


async def test_an_action_meant_for_a_chart_no_longer_open_is_audited(session):
    patient, root, page = await signed_in(session, PatientMessagesState, routes.PORTAL_MESSAGES)
    child = make_patient(session, first="Lucia", last="Lopez", email="", enabled=True)
    account_id = session.exec(select(PortalConnection.account_id)).first()
    connection = PortalConnection(account_id=account_id, patient_id=child.id, permissions="messages",
                                  access_type=AccessType.REPRESENTATIVE, relationship="parent")
    session.add(connection)
    session.commit()
    await run(page.switch_chart(str(child.id)))
    await run(page.load())
    connection.revoked_at = connection.connected_at
    session.add(connection)
    session.commit()
    await run(page.send_message({"subject": "Lucia", "body": "Fever"}))
    [refusal] = _events(session, "access.object_refused")
    assert refusal.portal_account_id == account_id
    assert refusal.detail == (f"handler=PatientMessagesState.send_message; viewing chart={child.id} "
                              "(no longer open to this account)")


async def test_a_refusal_a_service_already_audited_is_not_written_twice(session, admin):
    """Enabling a deceased chart is refused and audited as "portal.enable.refused" by the service;
    the guard's object-refusal row is not added on top."""
    patient = make_patient(session, chart="R100", deceased=True, status_note="Deceased")
    root, state = await state_for(OnboardingState, session_id=sign_in_admin(session), path=routes.ONBOARDING)
    await state.load_page()
    await state.toggle_access(patient.id)
    assert len(_events(session, "portal.enable.refused")) == 1
    assert _events(session, "access.object_refused") == []
