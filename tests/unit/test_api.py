"""The file route: a queue item's document for a staff user who may open that item, nobody else."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from portal_app import api, routes
from portal_app.api import STAFF_COOKIE, files_api
from portal_app.models import AuditEvent, PortalDocument, TaskKind
from portal_app.services.permissions import Level, Permission
from tests.unit.conftest import make_patient
from tests.unit.state_support import sign_in_admin, staff_with
from tests.unit.test_tasks import PNG, task


def _get(path: str, session_id: str = ""):
    client = TestClient(files_api)
    if session_id:
        client.cookies.set(STAFF_COOKIE, session_id)
    return client.get(path)


def test_a_document_is_served_only_to_staff_who_may_open_its_item(session, admin):
    patient = make_patient(session)
    share = task(session, patient, TaskKind.DOCUMENT_SHARE)
    other = task(session, patient, TaskKind.DOCUMENT_SHARE)
    doc = PortalDocument(patient_id=patient.id, task_id=share.id, filename="card.png",
                         content_type="image/png", size=len(PNG), data=PNG)
    session.add(doc)
    session.commit()
    path = routes.task_document_file(share.id, doc.id)

    served = _get(path, sign_in_admin(session))
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert served.headers["cache-control"] == "no-store"
    assert served.headers["x-content-type-options"] == "nosniff"

    assert _get(path).status_code == 404  # no session
    assert _get(path, "not-a-session").status_code == 404
    outsider = staff_with(session, "olive", {Permission.OUTBOX: Level.WRITE})
    assert _get(path, outsider).status_code == 404  # no queue access
    # The document is not reachable through another item's address.
    assert _get(routes.task_document_file(other.id, doc.id), sign_in_admin(session)).status_code == 404


def test_the_client_address_is_the_one_the_trusted_proxy_wrote():
    # No proxy configured: X-Forwarded-For is the client's own claim and never counts.
    assert api.forwarded_client("10.0.0.5", "203.0.113.9", 0) == "10.0.0.5"
    # One proxy (nginx): the entry it appended, whatever the client put in front of it.
    assert api.forwarded_client("127.0.0.1", "198.51.100.1, 203.0.113.9", 1) == "203.0.113.9"
    assert api.forwarded_client("127.0.0.1", "198.51.100.1, 203.0.113.9, 10.0.0.2", 2) == "203.0.113.9"
    # A header shorter than the chain (a request that skipped the proxy): the peer.
    assert api.forwarded_client("127.0.0.1", "", 1) == "127.0.0.1"
    assert api.forwarded_client("127.0.0.1", "203.0.113.9", 2) == "127.0.0.1"


@pytest.mark.parametrize(("hops", "expected"), [(0, "testclient"), (1, "203.0.113.9")])
def test_a_refused_file_request_is_audited_with_the_browsers_address_behind_a_proxy(
        session, monkeypatch, hops, expected):
    monkeypatch.setattr(api, "get_config", lambda: SimpleNamespace(trusted_proxy_hops=hops))
    path = f"/files/guessed-{hops}"
    answer = TestClient(files_api).get(path, headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
    assert answer.status_code == 404
    row = session.exec(select(AuditEvent).where(AuditEvent.action == "access.object_refused")
                       .order_by(col(AuditEvent.id).desc())).first()
    assert row is not None and path in row.detail
    assert row.ip == expected
