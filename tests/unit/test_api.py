"""The file route: a queue item's document for a staff user who may open that item, nobody else."""

from __future__ import annotations

from starlette.testclient import TestClient

from portal_app import routes
from portal_app.api import STAFF_COOKIE, files_api
from portal_app.models import PortalDocument, TaskKind
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
