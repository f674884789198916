import hashlib

import pytest
from sqlmodel import select

from portal_app.models import AuditEvent, PortalDocument, PortalTask, TaskKind
from portal_app.services import audit, documents
from portal_app.services.errors import InvalidInput, NotFound
from tests.unit.conftest import make_patient
from tests.unit.test_forms import account_for, chart_of

PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


def upload(session, patient, account, filename="scan.pdf", data=PDF, note="My lab results"):
    return documents.upload(session=session, account_id=account.id, chart=chart_of(patient), filename=filename,
                            data=data, note=note)


def refused(session, patient, account, **kwargs) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        upload(session, patient, account, **kwargs)
    assert session.exec(select(PortalDocument)).all() == []
    assert session.exec(select(PortalTask)).all() == []
    return caught.value


def test_upload_files_a_document_share_item(session):
    patient = make_patient(session, enabled=True)
    account = account_for(session)
    task_id = upload(session, patient, account)
    task = session.get(PortalTask, task_id)
    assert task.kind == TaskKind.DOCUMENT_SHARE and task.account_id == account.id
    assert task.subject == "Document: scan.pdf"
    rows = documents.documents_for_task(session=session, task_id=task_id)
    assert [(r.filename, r.content_type, r.note, r.from_practice) for r in rows] == [
        ("scan.pdf", "application/pdf", "My lab results", False)]
    stored = session.exec(select(PortalDocument)).one()
    assert stored.sha256 == hashlib.sha256(PDF).hexdigest() and stored.size == len(PDF)
    content = documents.document_content(session=session, document_id=stored.id, patient_id=patient.id)
    assert content.data == PDF and content.content_type == "application/pdf"


@pytest.mark.parametrize("filename,data,content_type", [("photo.PNG", PNG, "image/png"),
                                                        ("photo.jpeg", JPEG, "image/jpeg"),
                                                        ("photo.jpg", JPEG, "image/jpeg")])
def test_images_are_accepted(session, filename, data, content_type):
    patient = make_patient(session, enabled=True)
    task_id = upload(session, patient, account_for(session), filename=filename, data=data)
    assert documents.documents_for_task(session=session, task_id=task_id)[0].content_type == content_type


def test_empty_file_is_refused(session):
    patient = make_patient(session, enabled=True)
    error = refused(session, patient, account_for(session), data=b"")
    assert error.field == "file" and "empty" in error.message


def test_too_large_file_is_refused(session):
    patient = make_patient(session, enabled=True)
    error = refused(session, patient, account_for(session), data=PDF + b"0" * documents.MAX_BYTES)
    assert error.field == "file" and "10 MB" in error.message
    # Exactly the limit is fine.
    assert upload(session, patient, account_for(session, "x@example.com"),
                  data=PDF + b"0" * (documents.MAX_BYTES - len(PDF)))


@pytest.mark.parametrize("data", [b"MZ\x90\x00" + b"\x00" * 60, b"\x7fELF\x02\x01\x01" + b"\x00" * 20])
def test_renamed_executable_is_refused(session, data):
    patient = make_patient(session, enabled=True)
    error = refused(session, patient, account_for(session), filename="invoice.pdf", data=data)
    assert error.field == "file" and "program" in error.message


def test_unknown_content_is_refused(session):
    patient = make_patient(session, enabled=True)
    error = refused(session, patient, account_for(session), filename="notes.pdf", data=b"hello there")
    assert "PDF, PNG or JPEG" in error.message


@pytest.mark.parametrize("filename", ["scan.png", "scan.exe", "scan"])
def test_name_must_agree_with_content(session, filename):
    patient = make_patient(session, enabled=True)
    error = refused(session, patient, account_for(session), filename=filename, data=PDF)
    assert error.field == "file" and ".pdf" in error.message


def test_long_note_is_refused(session):
    patient = make_patient(session, enabled=True)
    error = refused(session, patient, account_for(session), note="x" * 1001)
    assert error.field == "note"


def test_folder_part_of_the_name_is_dropped(session):
    patient = make_patient(session, enabled=True)
    task_id = upload(session, patient, account_for(session), filename="..\\..\\etc/report.pdf")
    assert documents.documents_for_task(session=session, task_id=task_id)[0].filename == "report.pdf"


def test_practice_shares_and_the_list_holds_both_newest_first(session, admin, frozen_clock):
    from datetime import timedelta

    from tests.unit.conftest import START

    patient = make_patient(session, enabled=True)
    upload(session, patient, account_for(session))
    frozen_clock(START + timedelta(hours=1))
    doc_id = documents.share_with_patient(session=session, patient_id=patient.id, filename="results.pdf",
                                          data=PDF, note="Your results", actor=audit.Actor.staff(admin.id))
    rows = documents.patient_documents(session=session, patient_id=patient.id)
    assert [(r.filename, r.from_practice) for r in rows] == [("results.pdf", True), ("scan.pdf", False)]
    assert documents.count_documents(session=session, patient_id=patient.id) == 2
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "document.share")).one()
    assert event.patient_id == patient.id and f"document={doc_id}" in event.detail
    assert session.get(PortalDocument, doc_id).staff_user_id == admin.id


def test_practice_share_checks_the_file_too(session, admin):
    patient = make_patient(session, enabled=True)
    with pytest.raises(InvalidInput):
        documents.share_with_patient(session=session, patient_id=patient.id, filename="a.pdf", data=b"MZ..",
                                     note="", actor=audit.Actor.staff(admin.id))
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "document.share")).all() == []


def test_another_charts_document_is_not_reachable(session):
    mine = make_patient(session, enabled=True)
    other = make_patient(session, first="Ann", last="Other", email="ann@example.com", enabled=True)
    upload(session, other, account_for(session, "ann@example.com"))
    theirs = session.exec(select(PortalDocument)).one()
    with pytest.raises(NotFound):
        documents.document_content(session=session, document_id=theirs.id, patient_id=mine.id)
    with pytest.raises(NotFound):
        documents.document_content(session=session, document_id=9999)
    assert documents.patient_documents(session=session, patient_id=mine.id) == []


def test_the_list_names_who_shared_each_file_for_its_reader(session, admin):
    """"You" for the reader's own upload, a name (and relationship) for another account's, never a user ID."""
    from portal_app.models import AccessType, PortalConnection

    patient = make_patient(session, first="Lucia", last="Lopez", enabled=True)
    parent = account_for(session)
    teen = account_for(session, user_id="lucia@example.com")
    session.add(PortalConnection(account_id=parent.id, patient_id=patient.id, permissions="documents",
                                 access_type=AccessType.REPRESENTATIVE, relationship="parent"))
    session.add(PortalConnection(account_id=teen.id, patient_id=patient.id, permissions="documents"))
    session.commit()
    documents.upload(session=session, account_id=parent.id, chart=chart_of(patient, "representative"),
                     filename="a.pdf", data=PDF, note="")
    documents.upload(session=session, account_id=teen.id, chart=chart_of(patient), filename="b.pdf", data=PDF,
                     note="")
    documents.share_with_patient(session=session, patient_id=patient.id, filename="c.pdf", data=PDF, note="",
                                 actor=audit.Actor.staff(admin.id))

    def labels(viewer):
        rows = documents.patient_documents(session=session, patient_id=patient.id, viewer_account_id=viewer)
        return sorted((r.filename, r.from_label) for r in rows)

    assert labels(parent.id) == [("a.pdf", "You"), ("b.pdf", "Lucia Lopez"), ("c.pdf", "The practice")]
    assert labels(teen.id) == [("a.pdf", "Maria Lopez (parent)"), ("b.pdf", "You"), ("c.pdf", "The practice")]


def test_bidi_controls_are_stripped_from_a_shared_file_name(session):
    # "invoice<RLO>gpj.pdf" shows as "invoicefdp.jpg": a PDF dressed as a picture.
    patient = make_patient(session, enabled=True)
    account = account_for(session)
    task_id = upload(session, patient, account, filename="invoice\u202egpj\u2066.pdf\u200f")
    assert session.get(PortalTask, task_id).subject == "Document: invoicegpj.pdf"
    assert session.exec(select(PortalDocument)).one().filename == "invoicegpj.pdf"
    assert documents.clean_filename("C:\\scans\\\u202dreport\u202c.pdf") == "report.pdf"
