"""Plain HTTP routes beside the Reflex app: file bytes that should not travel through state.

A document preview is loaded by the browser from here (an <object> or <img> source), so the
file never sits in a state var. Every request is checked like an event: the staff session
cookie, the user's queue access and the item's own documents (services.tasks decides).
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from portal_app import db, routes
from portal_app.services import audit, staff_auth, tasks
from portal_app.services.errors import DomainError

STAFF_COOKIE = "portal_staff_session"


def _task_document(session_id: str | None, task_id: int, document_id: int, ip: str = ""):
    with db.session_scope() as session:
        principal = staff_auth.principal_for(session=session, session_id=session_id)
        if principal is None or principal.must_change_password:
            return None
        try:
            return tasks.item_document_content(session=session, staff_user_id=principal.id,
                                               task_id=task_id, document_id=document_id,
                                               actor=audit.Actor.staff(principal.id, ip))
        except DomainError:
            return None


async def task_document(request: Request) -> Response:
    """A queue item's document, inline, for the staff user who may open that item."""
    content = await asyncio.to_thread(_task_document, request.cookies.get(STAFF_COOKIE),
                                      request.path_params["task_id"], request.path_params["document_id"],
                                      request.client.host if request.client else "")
    if content is None:
        return PlainTextResponse("This document is not available.", status_code=404,
                                 headers={"Cache-Control": "no-store"})
    return Response(content.data, media_type=content.content_type, headers={
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(content.filename)}",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    })


files_api = Starlette(routes=[
    Route(routes.TASK_DOCUMENT_FILE, task_document, methods=["GET"]),
])
