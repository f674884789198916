"""The request body cap at the ASGI layer (issue 11, item 11): 413 before the body is read."""

from __future__ import annotations

import httpx
import pytest

from portal_app import body_limit
from portal_app.body_limit import DEFAULT_LIMIT, IMPORT_LIMIT, BodyLimit
from portal_app.services.permissions import Level, Permission
from tests.unit.state_support import staff_with

IMPORT_HANDLER = "state.patient_import_state.upload"
MB = 1024 * 1024


class Reader:
    """A backend that reads the whole body (as Reflex's upload does) and says how much it read."""

    def __init__(self) -> None:
        self.calls = 0
        self.read = 0

    async def __call__(self, scope, receive, send):
        self.calls += 1
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"client went away"})
                return
            self.read += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(self.read).encode()})


async def _post(app, *, size: int = 0, chunked: bool = False, handler: str = "", session_id: str = "",
                declared: int | None = None, path: str = "/_upload") -> httpx.Response:
    headers = {"reflex-event-handler": handler} if handler else {}
    if session_id:
        headers["cookie"] = f"portal_staff_session={session_id}"
    if declared is not None:
        headers["content-length"] = str(declared)

    async def pieces():
        sent = 0
        while sent < size:
            piece = min(MB, size - sent)
            sent += piece
            yield b"x" * piece

    content = pieces() if chunked else (b"" if declared is not None else b"x" * size)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.post(path, content=content, headers=headers)


async def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read():
    inner = Reader()
    response = await _post(BodyLimit(inner, import_handler=IMPORT_HANDLER), declared=60 * MB)
    assert response.status_code == 413
    assert inner.calls == 0  # Reflex never saw the request


async def test_a_chunked_body_is_cut_off_at_the_limit():
    inner = Reader()
    response = await _post(BodyLimit(inner), size=30 * MB, chunked=True)
    assert response.status_code == 413 and response.json() == {"detail": body_limit.TOO_LARGE}
    assert inner.read <= DEFAULT_LIMIT  # never more than the limit reached the app


async def test_a_body_within_the_limit_passes():
    inner = Reader()
    response = await _post(BodyLimit(inner), size=5 * MB)
    assert (response.status_code, response.text) == (200, str(5 * MB))
    chunked = await _post(BodyLimit(Reader()), size=5 * MB, chunked=True)
    assert (chunked.status_code, chunked.text) == (200, str(5 * MB))


async def test_a_length_that_is_not_a_number_is_refused():
    inner = Reader()
    response = await _post(BodyLimit(inner), declared=-1)
    assert response.status_code == 400 and inner.calls == 0


async def test_only_the_import_upload_of_staff_allowed_to_import_may_send_more():
    asked: list[str | None] = []

    def allowed(session_id):
        asked.append(session_id)
        return session_id == "importer"

    def app():
        return BodyLimit(Reader(), import_handler=IMPORT_HANDLER, allowed=allowed)

    big = 60 * MB
    assert (await _post(app(), declared=big, handler=IMPORT_HANDLER)).status_code == 413  # no session
    assert (await _post(app(), declared=big, handler=IMPORT_HANDLER, session_id="viewer")).status_code == 413
    # Another handler (a document share) stays at 10 MB even for an importer.
    assert (await _post(app(), declared=big, handler="state.documents.share", session_id="importer")
            ).status_code == 413
    assert (await _post(app(), declared=big, handler=IMPORT_HANDLER, session_id="importer",
                        path="/files/x")).status_code == 413
    assert (await _post(app(), declared=IMPORT_LIMIT + 1, handler=IMPORT_HANDLER, session_id="importer")
            ).status_code == 413
    passed = await _post(app(), size=12 * MB, handler=IMPORT_HANDLER, session_id="importer")
    assert (passed.status_code, passed.text) == (200, str(12 * MB))
    assert asked == [None, "viewer", "importer", "importer"]


@pytest.mark.parametrize("levels,expected", [({Permission.PATIENT_IMPORT: Level.UPDATE}, True),
                                             ({Permission.PATIENT_IMPORT: Level.READ}, False),
                                             ({Permission.PORTAL_ADMIN: Level.WRITE}, False)])
def test_may_import_needs_a_live_staff_session_with_patient_import_update(session, levels, expected):
    sid = staff_with(session, "importer", levels)
    assert body_limit.may_import(sid) is expected
    assert body_limit.may_import(None) is False
    assert body_limit.may_import("not-a-session") is False
