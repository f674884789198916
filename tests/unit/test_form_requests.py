import pytest
from sqlmodel import select

from portal_app.models import AuditEvent, FormRequest
from portal_app.services import audit, form_requests
from portal_app.services.errors import InvalidInput
from tests.unit.conftest import make_patient


def test_requested_forms_are_open_until_submitted_and_not_asked_twice(session, admin):
    patient = make_patient(session, enabled=True)
    actor = audit.Actor.staff(admin.id)
    assert form_requests.request_forms(session=session, patient_id=patient.id,
                                       forms=["history", "intake"], actor=actor) == ["intake", "history"]
    session.commit()
    assert form_requests.request_forms(session=session, patient_id=patient.id, forms=["intake"],
                                       actor=actor) == []
    rows = form_requests.open_requests(session=session, patient_id=patient.id)
    assert [r.label for r in rows] == ["Intake form", "Health history"]

    assert form_requests.mark_submitted(session=session, patient_id=patient.id, form="intake", task_id=None) == 1
    session.commit()
    assert [r.form for r in form_requests.open_requests(session=session, patient_id=patient.id)] == ["history"]
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "forms.request")).all()
    assert [e.detail for e in events] == ["forms=intake,history"]


def test_unknown_form_is_refused(session, admin):
    patient = make_patient(session)
    with pytest.raises(InvalidInput):
        form_requests.request_forms(session=session, patient_id=patient.id, forms=["tax"],
                                    actor=audit.Actor.staff(admin.id))
    assert session.exec(select(FormRequest)).all() == []
