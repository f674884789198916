"""Issue 11, item 11 against the running app: upload bodies capped before they are read (a raw
socket, as an attacker sends them), an over-size file refused in the browser, a big import still
taken from staff who may import, a right-to-left override removed from a shared file's name, and
an Enable and invite job whose worker died picked up by the server without inviting anyone twice."""

from __future__ import annotations

import select as io_select
import socket
import time
from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlmodel import select

from portal_app import db
from portal_app.models import BulkJob, OutboxMessage, StaffUser
from portal_app.services import audit, bulk, clock
from portal_app.state.chart_documents import ChartDocumentsState
from portal_app.state.patient_import import PatientImportState
from tests.e2e.conftest import ADMIN_USERNAME, AppServer, goto
from tests.e2e.helpers import create_patient, staff_sign_in, unique_tag, wait_until

MB = 1024 * 1024
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
IMPORT_HANDLER = f"{PatientImportState.get_full_name()}.upload"
SHARE_HANDLER = f"{ChartDocumentsState.get_full_name()}.share"


def _raw_post(app_server: AppServer, head: dict[str, str], body_pieces=()) -> str:
    """POST /_upload over a plain socket; the status line of the answer ("" if none in 20 s)."""
    lines = ["POST /_upload HTTP/1.1", f"Host: localhost:{app_server.port}",
             "Content-Type: multipart/form-data; boundary=XyZ", "Reflex-Client-Token: e2e-probe",
             *(f"{name}: {value}" for name, value in head.items())]
    with socket.create_connection(("127.0.0.1", app_server.port), timeout=20) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            for piece in body_pieces:
                if io_select.select([conn], [], [], 0)[0]:
                    break  # the server answered before the body ended: stop sending, read it
                conn.sendall(piece)
        except OSError:
            pass  # the server stopped reading and closed: its answer is already waiting
        try:
            answer = conn.recv(4096).decode("latin-1")
        except (TimeoutError, OSError):
            return ""
    return answer.split("\r\n", 1)[0]


def test_a_60_mb_upload_is_refused_before_its_body_is_read(app_server: AppServer) -> None:
    # No body is sent at all: an answer can only come from refusing at the declared length.
    started = time.monotonic()
    status = _raw_post(app_server, {"Reflex-Event-Handler": IMPORT_HANDLER, "Content-Length": str(60 * MB)})
    assert status.startswith("HTTP/1.1 413"), status
    assert time.monotonic() - started < 15
    other = _raw_post(app_server, {"Reflex-Event-Handler": "state.anything.upload", "Content-Length": str(30 * MB)})
    assert other.startswith("HTTP/1.1 413"), other


def test_a_chunked_upload_is_cut_off_at_the_limit(app_server: AppServer) -> None:
    # A document share (Reflex reads such an upload whole before the handler runs), without a
    # length: the server must stop reading at its limit, not after 40 MB.
    part = (b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="scan.pdf"\r\n'
            b"Content-Type: application/pdf\r\n\r\n")
    chunk = b"x" * MB
    pieces = [part, *([chunk] * 40)]
    framed = (f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for piece in pieces)
    status = _raw_post(app_server, {"Reflex-Event-Handler": SHARE_HANDLER, "Transfer-Encoding": "chunked"}, framed)
    assert status.startswith("HTTP/1.1 413"), status


def test_an_over_size_file_is_refused_in_the_browser(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Bertil", last_name=f"Bigfile-{unique_tag()}",
                             portal_enabled=True)
    staff_sign_in(page)
    goto(page, f"/staff/patients/{patient.id}")
    section = page.get_by_role("region", name="Documents shared with the patient")
    section.get_by_label("File", exact=True).set_input_files(
        files=[{"name": "scan.pdf", "mimeType": "application/pdf", "buffer": PDF + b"0" * (11 * MB)}])
    expect(page.get_by_text("That file was not accepted: choose one file of at most 10 MB.")).to_be_visible()
    expect(section.get_by_text("No file chosen.")).to_be_visible()


def test_staff_who_may_import_still_upload_a_file_over_10_mb(app_server: AppServer, page: Page) -> None:
    header = "Patient ID,First Name,Last Name,DOB,Email\n"
    row = "E2E-BIG-{n:07d},Ida,Bigimport,01/02/1980,\n"
    rows = "".join(row.format(n=n) for n in range(12 * MB // len(row.format(n=0)) + 1))
    staff_sign_in(page)
    goto(page, "/staff/setup/import")
    another = page.get_by_role("button", name="Import another file")
    expect(page.get_by_label("File", exact=True).or_(another)).to_be_visible()
    if another.count():
        another.click()
    page.get_by_label("File", exact=True).set_input_files(
        files=[{"name": "big_export.csv", "mimeType": "text/csv", "buffer": (header + rows).encode()}])
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_text("File: big_export.csv")).to_be_visible(timeout=60_000)


def test_a_right_to_left_override_is_removed_from_a_shared_file_name(app_server: AppServer, page: Page) -> None:
    patient = create_patient(app_server, first_name="Rania", last_name=f"Override-{unique_tag()}",
                             portal_enabled=True)
    staff_sign_in(page)
    goto(page, f"/staff/patients/{patient.id}")
    section = page.get_by_role("region", name="Documents shared with the patient")
    # Shown with the override, "invoice\u202egpj.pdf" reads "invoicefdp.jpg".
    section.get_by_label("File", exact=True).set_input_files(
        files=[{"name": "invoice\u202egpj.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    section.get_by_role("button", name="Share with patient").click()
    expect(section.get_by_role("rowheader", name="invoicegpj.pdf", exact=True)).to_be_visible()


def test_a_job_whose_worker_died_is_picked_up_by_the_server_and_invites_each_patient_once(
        app_server: AppServer, page: Page) -> None:
    tag = unique_tag()
    patients = [create_patient(app_server, first_name=f"Rhea{n}", last_name=f"Resume-{tag}") for n in range(3)]
    with db.session_scope(app_server.db_url) as session:
        admin_id = session.exec(select(StaffUser.id).where(StaffUser.username == ADMIN_USERNAME)).one()
        actor = audit.Actor.staff(admin_id)
        job = bulk.start_job(session=session, actor=actor, patient_ids=[p.id for p in patients])
        # Its worker died at once: the lease it held ran out (nobody renews it).
        row = session.get(BulkJob, job.id)
        assert row is not None
        row.lease_owner, row.lease_expires_at = "dead-worker", clock.now() - timedelta(seconds=1)
        session.add(row)
        session.commit()

    staff_sign_in(page)
    panel = page.get_by_role("region", name="Enable and invite")
    # The server looks for such jobs every few seconds and goes on with it: no Resume needed.
    expect(panel.get_by_role("status")).to_have_text("Done. Invited 3", timeout=60_000)
    expect(panel.get_by_role("button", name="Resume: invite the rest")).to_have_count(0)

    def sent() -> list[str]:
        with db.session_scope(app_server.db_url) as session:
            return [m.to_address for m in session.exec(select(OutboxMessage).where(
                OutboxMessage.to_address.in_([p.email for p in patients])))]  # type: ignore[attr-defined]

    assert sorted(wait_until(sent, what="the invitations")) == sorted(p.email for p in patients)
    with db.session_scope(app_server.db_url) as session:
        assert bulk.job_view(session=session, job_id=job.id, staff_user_id=admin_id).invited == 3
