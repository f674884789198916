"""Plain HTTP routes beside the Reflex app: file bytes that should not travel through state.

A document preview is loaded by the browser from here (an <object> or <img> source), so the
file never sits in a state var. Every request is checked like an event: the staff session
cookie, the user's queue access and the item's own documents (services.tasks decides). Every
404 is audited ("access.object_refused": who, from where, which route and ids, why). "From
where" is the browser's address as the websocket's events see it: behind a reverse proxy
(REFLEX_TRUSTED_PROXY_HOPS), the X-Forwarded-For entry that proxy wrote, not the proxy's own.
An import's refused rows download from here as CSV, streamed a few rows at a time, for the
staff user who ran the import (Patient Import: Read); each download is audited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import quote

from reflex.config import get_config
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from portal_app import db, routes
from portal_app.services import audit, staff_auth, tasks
from portal_app.services.errors import DomainError
from portal_app.services.importing import jobs
from portal_app.services.permissions import Level, Permission
from portal_app.services.staff_auth import StaffPrincipal
from portal_app.session_cookies import STAFF_COOKIE, session_routes


def forwarded_client(peer: str, forwarded_for: str, trusted_hops: int) -> str:
    """The client's address: `peer`, or with `trusted_hops` proxies in front, the entry the
    outermost trusted proxy appended to X-Forwarded-For (what Reflex's websocket does, app.py
    `_get_static_router_data`). Entries further left are the client's own claims and never count;
    a header shorter than the proxy chain leaves the peer."""
    if trusted_hops > 0:
        entries = [entry.strip() for entry in forwarded_for.split(",") if entry.strip()]
        if len(entries) >= trusted_hops:
            return entries[-trusted_hops][:64]
    return peer


def client_ip(request: Request) -> str:
    """The address an audit row names for this request (see `forwarded_client`)."""
    return forwarded_client(request.client.host if request.client else "",
                            request.headers.get("x-forwarded-for", ""), get_config().trusted_proxy_hops)


def _refused(session: Session, principal: StaffPrincipal | None, ip: str, route: str, why: str) -> None:
    """Audit a file request answered 404 (no session, no permission, not this user's object)."""
    actor = audit.Actor.staff(principal.id, ip) if principal is not None else audit.Actor.anonymous("file route", ip)
    audit.record_object_refusal(session=session, actor=actor, detail=f"route={route}; {why}")


def _task_document(session_id: str | None, task_id: int, document_id: int, ip: str = ""):
    route = f"task document: item={task_id}; document={document_id}"
    with db.session_scope() as session:
        principal = staff_auth.principal_for(session=session, session_id=session_id)
        if principal is None or principal.must_change_password:
            _refused(session, principal, ip, route, "no session" if principal is None else "password must change")
            return None
        try:
            return tasks.item_document_content(session=session, staff_user_id=principal.id,
                                               task_id=task_id, document_id=document_id,
                                               actor=audit.Actor.staff(principal.id, ip))
        except DomainError as exc:
            if not exc.audited:
                _refused(session, principal, ip, route, type(exc).__name__)
            return None


async def task_document(request: Request) -> Response:
    """A queue item's document, inline, for the staff user who may open that item."""
    content = await asyncio.to_thread(_task_document, request.cookies.get(STAFF_COOKIE),
                                      request.path_params["task_id"], request.path_params["document_id"],
                                      client_ip(request))
    if content is None:
        return PlainTextResponse("This document is not available.", status_code=404,
                                 headers={"Cache-Control": "no-store"})
    return Response(content.data, media_type=content.content_type, headers={
        "Content-Disposition": f"inline; filename*=UTF-8''{quote(content.filename)}",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # Shown in an <object> of our own task page (security_headers.py: every other answer is DENY).
        "Content-Security-Policy": "frame-ancestors 'self'",
        "X-Frame-Options": "SAMEORIGIN",
    })


def _refusal_pieces(session_id: str | None, job_id: int, dry_run: bool, ip: str) -> Iterator[str | None]:
    """None first when the caller may not have the file; else "" (checked), then the CSV's pieces."""
    with db.session_scope() as session:
        principal = staff_auth.principal_for(session=session, session_id=session_id)
        route = f"import refusals: job={job_id}"
        if principal is None or principal.must_change_password or \
                not principal.can(Permission.PATIENT_IMPORT, Level.READ):
            _refused(session, principal, ip, route, "no session" if principal is None else
                     "password must change" if principal.must_change_password else "needs patient_import>=read")
            yield None
            return
        try:
            pieces = jobs.refusals_csv(session=session, job_id=job_id, dry_run=dry_run,
                                       actor=audit.Actor.staff(principal.id, ip))
        except DomainError as exc:
            _refused(session, principal, ip, route, type(exc).__name__)
            yield None
            return
        yield ""
        yield from pieces


async def import_refusals(request: Request) -> Response:
    """An import's refused rows (Line, Chart number, Reason) as a CSV download."""
    dry_run = request.query_params.get("dry_run") == "1"
    job_id = request.path_params["job_id"]
    pieces = _refusal_pieces(request.cookies.get(STAFF_COOKIE), job_id, dry_run, client_ip(request))
    if await asyncio.to_thread(next, pieces) is None:
        return PlainTextResponse("This file is not available.", status_code=404, headers={"Cache-Control": "no-store"})
    name = f"import-{job_id}-{'dry-run-' if dry_run else ''}refusals.csv"
    return StreamingResponse((piece or "" for piece in pieces), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f"attachment; filename={name}",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    })


def _unknown_file(ip: str, path: str) -> None:
    with db.session_scope() as session:
        _refused(session, None, ip, f"unknown: {path[:200]}", "no such file route")


async def unknown_file(request: Request) -> Response:
    """Any other address under /files/ (a guessed or mangled one): 404, audited."""
    await asyncio.to_thread(_unknown_file, client_ip(request), request.url.path)
    return PlainTextResponse("This file is not available.", status_code=404, headers={"Cache-Control": "no-store"})


files_api = Starlette(routes=[
    Route(routes.TASK_DOCUMENT_FILE, task_document, methods=["GET"]),
    Route(routes.IMPORT_REFUSALS_FILE, import_refusals, methods=["GET"]),
    *session_routes,
    Route(routes.ANY_FILE, unknown_file),
])
