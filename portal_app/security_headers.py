"""Security headers on every HTTP response of the app (an ASGI middleware on Reflex's app).

`reflex run --env prod --single-port` (the README's `make run`, and the browser tests) serves
the built pages, the websocket, `/_upload`, `/ping` and our routes (api.py,
session_cookies.py) from one Starlette app; `App(api_transformer=[..., security_headers])` wraps
all of it, so each answer carries:

- `Content-Security-Policy`: scripts only from this origin, plus the inline scripts of the
  built pages by their SHA-256 (read once from the build folder; nothing else inline runs) and
  `'unsafe-eval'`, which Reflex's `rx.call_script` needs (it evaluates the script text the
  server sends); styles from this origin and inline (Radix and Emotion write style elements);
  images and fonts from this origin and `data:`; connections (the websocket) to this origin;
  `<object>` only from this origin (document previews); no `<base>`; forms post here only;
  `frame-ancestors 'none'`: no other page can frame ours.
- `X-Frame-Options: DENY` (older browsers), `Referrer-Policy: no-referrer`,
  `X-Content-Type-Options: nosniff`, and `Strict-Transport-Security` when the portal is https.

A response that sets a header itself keeps its own value: a document preview
(`/files/tasks/...`) is shown in an `<object>` of our own page, so it says `frame-ancestors
'self'` and `SAMEORIGIN`. Not covered: the CORS preflight answers Reflex's outer CORS
middleware gives before our app runs (no body, nothing to frame), and a development server
(`reflex run` without `--env prod`), where Vite serves the pages on its own port.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# An inline script: a <script> element without a src attribute.
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
HSTS = "max-age=31536000; includeSubDomains"


def inline_script_hashes(html: str) -> set[str]:
    """The CSP source expressions ('sha256-...') of every inline script in `html`."""
    return {"'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
            for body in _INLINE_SCRIPT.findall(html) if body.strip()}


def _build_folder() -> Path | None:
    """Where `reflex run --env prod` serves the built pages from (None when not built)."""
    try:
        from reflex.utils import prerequisites
        from reflex_base import constants
    except ImportError:
        return None
    folder = prerequisites.get_web_dir() / constants.Dirs.STATIC
    return folder if folder.is_dir() else None


@cache
def built_page_hashes() -> frozenset[str]:
    """The hashes of every inline script of every built page (the build does not change while
    the server runs)."""
    folder = _build_folder()
    if folder is None:
        return frozenset()
    found: set[str] = set()
    for page in folder.rglob("*.html"):
        found |= inline_script_hashes(page.read_text(errors="replace"))
    return frozenset(found)


@lru_cache(maxsize=8)
def content_security_policy(script_hashes: frozenset[str]) -> str:
    scripts = " ".join(["'self'", *sorted(script_hashes), "'unsafe-eval'"])
    return "; ".join([
        "default-src 'self'",
        f"script-src {scripts}",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'self'",
        "frame-src 'self'",
        "worker-src 'self' blob:",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def _portal_is_https(scope: Scope) -> bool:
    return scope.get("scheme") == "https" or os.environ.get("PORTAL_BASE_URL", "").startswith("https://")


def security_headers(app: ASGIApp, hashes: Callable[[], frozenset[str]] = built_page_hashes) -> ASGIApp:
    """Wrap `app` so every HTTP response carries the headers above (websockets pass untouched)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        https = _portal_is_https(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                wanted = [
                    (b"content-security-policy", content_security_policy(hashes()).encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-content-type-options", b"nosniff"),
                ]
                if https:
                    wanted.append((b"strict-transport-security", HSTS.encode()))
                headers.extend((name, value) for name, value in wanted if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return wrapped
