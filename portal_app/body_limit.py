"""A cap on every request body, at the ASGI layer, before Reflex reads a byte of it.

Reflex's `/_upload` route parses the whole multipart body (to temporary files) before the event
handler runs and can refuse it, so a 60 MB post was read in full, with or without a session. This
middleware wraps the backend app (`App(api_transformer=...)`) and answers 413 at once when the
declared Content-Length is over the limit; a chunked body (no length) is counted as it streams and
cut off at the limit (the app below sees the client go away, and the caller gets the 413).

The limit: 10 MB (the largest document a patient or the practice shares) for every request, and
200 MB for the patient import's upload, only when the request names the import's upload handler
and carries the session cookie of a staff user allowed to import (Patient Import: Update). Both
leave room for the multipart framing around the file; the services refuse a file over its own
limit with a message beside the field, and the file pickers refuse one before sending it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

from portal_app import db
from portal_app.api import STAFF_COOKIE
from portal_app.services import documents, import_files, staff_auth
from portal_app.services.permissions import Level, Permission

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Multipart boundaries, part headers and Reflex's small args field around the one file.
FRAMING = 1024 * 1024
DEFAULT_LIMIT = documents.MAX_BYTES + FRAMING
IMPORT_LIMIT = import_files.MAX_BYTES + FRAMING
UPLOAD_PATH = "/_upload"
HANDLER_HEADER = b"reflex-event-handler"
TOO_LARGE = "The request is too large."


def may_import(session_id: str | None) -> bool:
    """The staff session `session_id` may upload an import file (Patient Import: Update)."""
    if not session_id:
        return False
    with db.session_scope() as session:
        principal = staff_auth.principal_for(session=session, session_id=session_id)
        return principal is not None and not principal.must_change_password and \
            principal.can(Permission.PATIENT_IMPORT, Level.UPDATE)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


class BodyLimit:
    """ASGI middleware: 413 for a body over the request's limit (see the module's docstring).

    Args:
        app: the backend app.
        import_handler: the full name of the import page's upload handler (the header Reflex's
            upload sends), the one request that may carry up to IMPORT_LIMIT.
        allowed: whether a staff session cookie may import (run in a worker thread).
    """

    def __init__(self, app: ASGIApp, *, import_handler: str = "",
                 allowed: Callable[[str | None], bool] = may_import) -> None:
        self.app = app
        self.import_handler = import_handler
        self.allowed = allowed

    async def limit_for(self, scope: Scope) -> int:
        path = str(scope.get("path", "")).rstrip("/")
        if self.import_handler and path.endswith(UPLOAD_PATH) and \
                _header(scope, HANDLER_HEADER) == self.import_handler and \
                await asyncio.to_thread(self.allowed, _cookie(scope, STAFF_COOKIE)):
            return IMPORT_LIMIT
        return DEFAULT_LIMIT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and not declared.strip().isdigit():
            await _refuse(send, 400, "The request's Content-Length is not a number.")
            return
        if declared is None and _header(scope, b"transfer-encoding") is None:
            await self.app(scope, receive, send)  # no body (a GET)
            return
        limit = await self.limit_for(scope)
        if declared is not None and int(declared) > limit:
            await _refuse(send, 413, TOO_LARGE)  # before a byte of the body is read
            return
        await _Counted(self.app, limit).run(scope, receive, send)


class _Counted:
    """One request whose body is counted as the app reads it; past the limit the app is told the
    client went away, its answer is dropped and the caller gets 413 instead."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit
        self.seen = 0
        self.over = False
        self.started = False

    async def run(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted_receive() -> Message:
            if self.over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                self.seen += len(message.get("body", b""))
                if self.seen > self.limit:
                    self.over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if self.over and not self.started:
                return  # the app's answer to a "disconnect": ours goes instead
            if message["type"] == "http.response.start":
                self.started = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)
        if self.over and not self.started:
            await _refuse(send, 413, TOO_LARGE)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
