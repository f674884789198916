"""The MLLP listener over a real socket: A04, A08, A40 and a deceased A08 with their ACKs and
charts; a frame without its end bytes; a silent connection; bad frames never stop it."""

from __future__ import annotations

import asyncio
import socket
import threading
from datetime import date

import hl7
import pytest
from sqlmodel import select

from portal_app import adt_listener
from portal_app.models import AuditEvent, Patient
from tests.unit.test_adt import PID_FULL, msg

VT, FS, CR = b"\x0b", b"\x1c", b"\r"


class Running:
    """The real listener on a free port, in its own event loop thread."""

    def __init__(self, db_url: str, idle_timeout: float) -> None:
        self.listener = adt_listener.Listener(idle_timeout=idle_timeout, db_url=db_url)
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.server = self.loop.run_until_complete(self.listener.start("127.0.0.1", 0))
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10)

    async def _shutdown(self) -> None:
        self.server.close()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.listener.close()


@pytest.fixture
def listener(db_url, frozen_clock):
    running = Running(db_url, idle_timeout=1.0)
    yield running
    running.stop()


def connect(listener: Running) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", listener.port), timeout=10)
    return sock


def read_frame(sock: socket.socket) -> hl7.Message:
    data = b""
    while not data.endswith(FS + CR):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a whole ACK: {data!r}"
        data += chunk
    assert data.startswith(VT)
    return hl7.parse(data[1:-2].decode("utf-8"))


def send(sock: socket.socket, text: str) -> hl7.Message:
    sock.sendall(VT + text.encode("utf-8") + FS + CR)
    return read_frame(sock)


def msa(ack: hl7.Message) -> tuple[str, str]:
    return ack.extract_field("MSA", 1, 1), ack.extract_field("MSA", 1, 2)


def closed_by_listener(sock: socket.socket) -> bool:
    sock.settimeout(10)
    return sock.recv(1) == b""


def test_a04_a08_a40_and_a_deceased_a08_over_one_mllp_connection(listener, session):
    other_pid = PID_FULL.replace("MRN-204", "MRN-999").replace("Zoë^Anh", "Zoe^Anh")
    deceased = PID_FULL[: PID_FULL.rindex("||N")] + "|20261118|Y"
    with connect(listener) as sock:
        assert msa(send(sock, msg("A04", control="M1"))) == ("AA", "M1")
        assert msa(send(sock, msg("A04", other_pid, control="M2"))) == ("AA", "M2")
        assert msa(send(sock, msg("A08", PID_FULL.replace("^Anh^", "^Ánh^"), control="M3"))) == ("AA", "M3")
        assert msa(send(sock, msg("A40", PID_FULL.replace("^Anh^", "^Ánh^"), "MRG|MRN-999", control="M4"))) == (
            "AA", "M4")
        survivor = session.exec(select(Patient).where(Patient.chart_number == "MRN-204")).one()
        survivor.portal_enabled = True  # staff turned access on
        session.add(survivor)
        session.commit()
        assert msa(send(sock, msg("A08", deceased.replace("^Anh^", "^Ánh^"), control="M5"))) == ("AA", "M5")
        refused = send(sock, msg("A08", PID_FULL.replace("19900228", "19900230"), control="M6"))
        assert msa(refused) == ("AE", "M6") and "is not a date" in refused.extract_field("MSA", 1, 3)
    session.expire_all()
    charts = {p.chart_number: p for p in session.exec(select(Patient))}
    survivor, merged = charts["MRN-204"], charts["MRN-999"]
    assert survivor.middle_name == "Ánh" and survivor.dob == date(1990, 2, 28)
    assert survivor.deceased is True and survivor.deceased_on == date(2026, 11, 18)
    assert survivor.portal_enabled is False and survivor.status_note == "Deceased"
    assert merged.merged_into_id == survivor.id and merged.status_note == "Merged into chart MRN-204"
    logged = session.exec(select(AuditEvent.detail).where(AuditEvent.action == "adt.message")).all()
    assert [d.split("; ")[0] for d in logged] == [f"control_id=M{n}" for n in range(1, 7)]


def test_a_frame_without_end_bytes_gets_an_ae_when_the_sender_closes_its_side(listener, session):
    with connect(listener) as sock:
        sock.sendall(VT + msg("A04", control="HALF").encode())
        sock.shutdown(socket.SHUT_WR)
        ack = read_frame(sock)
        assert msa(ack) == ("AE", "HALF") and "without its end bytes" in ack.extract_field("MSA", 1, 3)
        assert closed_by_listener(sock)
    session.expire_all()
    assert session.exec(select(Patient)).all() == []


def test_a_frame_followed_by_the_next_frames_start_gets_an_ae_and_the_next_is_applied(listener, session):
    with connect(listener) as sock:
        sock.sendall(VT + msg("A04", control="LOST").encode())
        ack = send(sock, msg("A04", control="NEXT"))
        assert msa(ack) == ("AE", "LOST")
        assert msa(read_frame(sock)) == ("AA", "NEXT")


def test_a_silent_connection_is_closed_and_a_frame_left_open_is_answered_first(listener):
    with connect(listener) as sock:
        assert closed_by_listener(sock)  # idle_timeout is 1 s here
    with connect(listener) as sock:
        sock.sendall(VT + msg("A04", control="OPEN").encode())
        assert msa(read_frame(sock)) == ("AE", "OPEN")
        assert closed_by_listener(sock)


def test_bad_frames_get_an_ae_and_the_listener_keeps_working(listener, session):
    with connect(listener) as sock:
        no_msh = send(sock, "EVN|A08\rPID|1||MRN-204\r")
        assert msa(no_msh) == ("AE", "")
        assert msa(send(sock, msg("A04", control="SEP").replace("|", ";")))[0] == "AE"
        sock.sendall(b"noise before a frame" + VT + msg("A04", control="AFTER").encode() + FS + CR)
        assert msa(read_frame(sock)) == ("AA", "AFTER")  # one ACK for the one frame sent
        sock.sendall(b"no frame at all" + FS + CR)
        assert msa(read_frame(sock)) == ("AE", "")
    with connect(listener) as sock:
        sock.sendall(b"\x00\xff\xfe garbage and a close")
    with connect(listener) as sock:  # the listener still answers
        assert msa(send(sock, msg("A04", control="OK"))) == ("AA", "OK")
