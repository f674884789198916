"""Portal Documents, Health summary and the staff chart's documents section: handlers run directly."""

from __future__ import annotations

import io
from pathlib import Path

import reflex as rx
from sqlmodel import select

from portal_app import routes
from portal_app.models import AuditEvent, PortalDocument, PortalTask, TaskKind
from portal_app.services import audit, documents
from portal_app.services.permissions import Level, Permission
from portal_app.state.chart_documents import ChartDocumentsState
from portal_app.state.patient_documents import SHARED, DocumentsState
from portal_app.state.patient_summary import SummaryState
from tests.unit.conftest import make_patient
from tests.unit.state_support import sign_in_admin, staff_with, state_for
from tests.unit.test_documents import PDF
from tests.unit.test_state_patient import redirect_path, run
from tests.unit.test_state_patient_forms import signed_in


def upload_file(name: str, data: bytes) -> rx.UploadFile:
    return rx.UploadFile(file=io.BytesIO(data), path=Path(name))


async def test_patient_shares_a_pdf_with_a_note(session):
    patient, root, state = await signed_in(session, DocumentsState, routes.PORTAL_DOCUMENTS)
    await run(state.load())
    assert state.ready and state.rows == []
    state.set_note("Lab results from June")
    await run(state.share([upload_file("labs.pdf", PDF)]))
    assert state.notice == SHARED and state.note == "" and state.file_error == ""
    assert [(r.filename, r.note, r.from_practice) for r in state.rows] == [("labs.pdf", "Lab results from June", False)]
    assert [r.from_label for r in state.rows] == ["You"]
    task = session.exec(select(PortalTask)).one()
    assert task.kind == TaskKind.DOCUMENT_SHARE and task.patient_id == patient.id
    # A download of one's own document gives the bytes.
    event = await run(state.download(str(state.rows[0].id)))
    assert "download" in str(event).lower()
    # The page binds the row's id, a number: it downloads the same file.
    event = await run(state.download(state.rows[0].id))
    assert "download" in str(event).lower() and "labs.pdf" in str(event)


async def test_a_renamed_program_is_refused_beside_the_field_and_the_note_kept(session):
    patient, root, state = await signed_in(session, DocumentsState, routes.PORTAL_DOCUMENTS)
    await run(state.load())
    state.set_note("Please look at this")
    await run(state.share([upload_file("invoice.pdf", b"MZ\x90\x00" + b"\x00" * 100)]))
    assert "program" in state.file_error and state.note == "Please look at this" and state.notice == ""
    await run(state.share([]))
    assert state.file_error == "Choose a file to share."
    await run(state.share([upload_file("big.pdf", PDF + b"0" * documents.MAX_BYTES)]))
    assert "10 MB" in state.file_error
    assert session.exec(select(PortalDocument)).all() == []


async def test_another_charts_document_cannot_be_downloaded(session, admin):
    other = make_patient(session, first="Ann", last="Other", email="ann@example.com", enabled=True)
    theirs = documents.share_with_patient(session=session, patient_id=other.id, filename="x.pdf", data=PDF,
                                          note="", actor=audit.Actor.staff(admin.id))
    patient, root, state = await signed_in(session, DocumentsState, routes.PORTAL_DOCUMENTS)
    await run(state.load())
    result = await run(state.download(str(theirs)))
    assert "error" in str(result) and "not available" in str(result)
    assert state.rows == []


async def test_without_the_documents_area_nothing_is_shared_and_the_refusal_is_audited(session):
    patient, root, state = await signed_in(session, DocumentsState, routes.PORTAL_DOCUMENTS, areas="forms")
    target = await run(state.load())
    assert redirect_path(target[0]) == routes.PORTAL_HOME
    await run(state.share([upload_file("labs.pdf", PDF)]))
    assert session.exec(select(PortalDocument)).all() == []
    details = [e.detail for e in session.exec(select(AuditEvent).where(AuditEvent.action == "portal.area_refused"))]
    assert details == ["area=documents; handler=open", "area=documents; handler=share_document"]


async def test_health_summary_shows_the_open_chart(session):
    patient, root, state = await signed_in(session, SummaryState, routes.PORTAL_SUMMARY)
    patient.allergies = "Penicillin"
    patient.mobile_phone = "+12025550143"
    session.add(patient)
    session.commit()
    await run(state.load())
    assert state.ready and state.summary.name == "Maria Lopez" and state.summary.dob == "04/02/1980"
    assert state.summary.allergies == "Penicillin" and state.summary.mobile_phone == "(202) 555-0143"


async def test_health_summary_needs_its_area(session):
    patient, root, state = await signed_in(session, SummaryState, routes.PORTAL_SUMMARY, areas="forms")
    target = await run(state.load())
    assert redirect_path(target[0]) == routes.PORTAL_HOME and state.summary.name == ""


# ---- staff: the chart's documents section -------------------------------------------------

async def test_staff_share_a_document_and_it_is_audited(session, admin):
    patient = make_patient(session, enabled=True)
    sid = sign_in_admin(session)
    root, state = await state_for(ChartDocumentsState, session_id=sid, path=routes.patient_chart(patient.id))
    await run(state.load())
    assert state.loaded and state.total == 0
    state.set_note("Your results")
    await run(state.share([upload_file("results.pdf", PDF)]))
    assert state.notice and state.file_error == "" and state.total == 1
    assert state.rows[0].from_practice and state.rows[0].note == "Your results"
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "document.share")).one()
    assert event.patient_id == patient.id and event.staff_user_id == admin.id
    await run(state.share([upload_file("results.png", PDF)]))
    assert ".pdf" in state.file_error


async def test_staff_with_read_only_cannot_share(session, admin):
    patient = make_patient(session, enabled=True)
    sid = staff_with(session, "reader", {Permission.PORTAL_ADMIN: Level.READ})
    root, state = await state_for(ChartDocumentsState, session_id=sid, path=routes.patient_chart(patient.id))
    await run(state.load())
    assert state.loaded
    await run(state.share([upload_file("results.pdf", PDF)]))
    assert "permission" in state.error
    assert session.exec(select(PortalDocument)).all() == []


async def test_staff_without_a_session_see_nothing(session):
    patient = make_patient(session, enabled=True)
    root, state = await state_for(ChartDocumentsState, session_id="", path=routes.patient_chart(patient.id))
    await run(state.load())
    assert not state.loaded
    assert redirect_path(await run(state.share([upload_file("results.pdf", PDF)]))) == routes.STAFF_LOGIN


async def test_both_document_lists_page_on_the_server(session, admin):
    """The portal page and the staff chart section page through the same chart's documents."""
    patient, root, state = await signed_in(session, DocumentsState, routes.PORTAL_DOCUMENTS)
    for n in range(documents.PAGE_SIZE + 5):
        documents.share_with_patient(session=session, patient_id=patient.id, filename=f"r{n:02d}.pdf", data=PDF,
                                     note="", actor=audit.Actor.staff(admin.id))
    await run(state.load())
    assert (len(state.rows), state.total, state.has_previous, state.has_next) == (documents.PAGE_SIZE, 25, False, True)
    await run(state.next_page())
    assert (len(state.rows), state.offset, state.page_label, state.has_next) == (5, 20, "21–25 of 25", False)
    await run(state.previous_page())
    assert state.offset == 0 and len(state.rows) == documents.PAGE_SIZE

    sid = sign_in_admin(session)
    _, staff = await state_for(ChartDocumentsState, session_id=sid, path=routes.patient_chart(patient.id))
    await run(staff.load())
    await run(staff.next_page())
    assert (len(staff.rows), staff.offset) == (5, 20)
    await run(staff.previous_page())
    assert staff.offset == 0 and len(staff.rows) == documents.PAGE_SIZE
