"""A raw client for Reflex's event websocket, for probe and regression tests.

Reflex 0.10 talks socket.io (protocol 5) over engine.io (protocol 4) on the websocket at
`/_event/`. A browser tab is known by its token (sessionStorage "token"); whoever has the
token can connect as that tab and send any event by name. This client does exactly that,
with no browser (a blocking client on wsproto): it connects with a token and cookies, sends crafted events, and returns
every frame the server sent, so a test can assert what a crafted or stale client receives.

    from tests.wsclient import ReflexSocket, hydrate_event, event

    with ReflexSocket(base_url, token, cookies={"portal_patient_session": sid}) as sock:
        sock.send(hydrate_event("/portal", cookie_vars={...}))
        frames = sock.collect(until_final=1)          # the hydrate snapshot (and what follows)
        assert "Maria" not in sock.text()             # every frame so far, as one string

    frames = exchange(base_url, token, [event("reflex___state____state.<...>.send", {"form_data": {}})])

API (all blocking; timeouts in seconds):
- `ReflexSocket(base_url, token, *, cookies=None, origin=None, timeout=10.0)`: context
  manager; `connect(boot_event=None)` happens on enter (a boot event rides in the socket.io
  CONNECT packet, as the browser sends its hydrate; without one, send it yourself).
- `send(event)`: emit one event dict (see `event()` / `hydrate_event()`).
- `collect(*, until_final=1, timeout=None)`: read frames until `until_final` updates marked
  `final` have arrived (Reflex marks the last update of each event) or the timeout passes;
  returns the frames read by this call. `frames` holds everything received so far.
- `text()`: every frame received so far, as one JSON string (for "no PHI in any frame").
- `exchange(base_url, token, events, ...)`: connect, send each event, collect, close.
- `state_var(state_full_name, var)`: the key Reflex uses for a var in `vars`/deltas.

Frames are the decoded socket.io EVENT packets of the `/_event` namespace: `["event",
{"delta": ..., "events": ..., "final": ...}]`; engine.io pings are answered and not recorded.
"""

from __future__ import annotations

import json
import socket
import time
from collections import deque
from typing import Any
from urllib.parse import urlencode, urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

FIELD_MARKER = "_rx_state_"
ROOT_STATE = "reflex___state____state"
# Reflex registers its socket.io namespace at the event endpoint's path.
NAMESPACE = "/_event"


def state_var(state_full_name: str, var: str) -> str:
    """The key of a state var in a hydrate's `vars` and in deltas."""
    return f"{state_full_name}.{var}{FIELD_MARKER}"


def event(name: str, payload: dict[str, Any] | None = None, *, path: str = "/",
          query: dict[str, str] | None = None) -> dict[str, Any]:
    """An event as the browser sends it: the handler's full name, its arguments, and where the tab is."""
    router_data: dict[str, Any] = {"pathname": path, "asPath": path + (f"?{urlencode(query)}" if query else "")}
    if query:
        router_data["query"] = dict(query)
    return {"name": name, "payload": payload or {}, "router_data": router_data}


def hydrate_event(path: str = "/", *, cookie_vars: dict[str, str] | None = None,
                  query: dict[str, str] | None = None) -> dict[str, Any]:
    """The event a (re)connecting tab sends first: `hydrate_and_load`, with the client
    storage (cookies) the browser could read, keyed by `state_var(...)`."""
    payload: dict[str, Any] = {}
    if cookie_vars:
        payload["vars"] = dict(cookie_vars)
    return event(f"{ROOT_STATE}.hydrate_and_load", payload, path=path, query=query)


class ReflexSocket:
    """One websocket connection to Reflex's `/_event/` endpoint, as the tab `token`."""

    def __init__(self, base_url: str, token: str, *, cookies: dict[str, str] | None = None,
                 origin: str | None = None, timeout: float = 10.0, boot_event: dict | None = None):
        parts = urlsplit(base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = urlencode({"EIO": "4", "transport": "websocket", "token": token})
        self.url = f"{scheme}://{parts.netloc}/_event/?{query}"
        self.headers = {"Origin": origin or f"{parts.scheme}://{parts.netloc}"}
        if cookies:
            self.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self.timeout = timeout
        self.boot_event = boot_event
        self.frames: list[Any] = []
        self.refused: Any = None
        self._ws: _Websocket | None = None
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._target = f"/_event/?{query}"

    # ---- connection ----

    def connect(self, boot_event: dict | None = None) -> ReflexSocket:
        """Open the socket and the socket.io namespace (raises if the server refuses)."""
        self._ws = _Websocket(self._host, self._port, f"{self._host}:{self._port}", self._target,
                              self.headers, self.timeout)
        opened = self._receive(self.timeout)
        if not opened or not opened.startswith("0"):
            raise ConnectionError(f"no engine.io open packet: {opened!r}")
        boot = boot_event or self.boot_event
        self._ws.send(f"40{NAMESPACE}," + (json.dumps({"event": boot}) if boot else ""))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            packet = self._receive(deadline - time.monotonic())
            if packet is None:
                break
            if packet.startswith(f"40{NAMESPACE},"):
                return self
            if packet.startswith(f"44{NAMESPACE},"):
                self.refused = json.loads(packet[len(NAMESPACE) + 3:] or "null")
                raise ConnectionRefusedError(f"socket.io connect refused: {self.refused!r}")
            self._record(packet)
        raise TimeoutError("no socket.io connect answer")

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._ws.send(f"41{NAMESPACE},")
            except Exception:  # noqa: BLE001 - the server may have closed first
                pass
            self._ws.close()
            self._ws = None

    def __enter__(self) -> ReflexSocket:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- events and frames ----

    def send(self, event_dict: dict[str, Any]) -> None:
        """Emit one Reflex event (`["event", {...}]`)."""
        assert self._ws is not None, "connect first"
        self._ws.send(f"42{NAMESPACE}," + json.dumps(["event", event_dict]))

    def collect(self, *, until_final: int = 1, timeout: float | None = None) -> list[Any]:
        """Read frames until `until_final` final updates arrived or `timeout` passed (no error)."""
        assert self._ws is not None, "connect first"
        start = len(self.frames)
        finals = 0
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while finals < until_final:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            packet = self._receive(left)
            if packet is None:
                break
            frame = self._record(packet)
            if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], dict) and frame[1].get("final"):
                finals += 1
        return self.frames[start:]

    def text(self) -> str:
        """Every frame received so far, as one JSON string."""
        return json.dumps(self.frames)

    def deltas(self) -> list[dict[str, Any]]:
        """The `delta` of every update received so far."""
        return [f[1].get("delta") or {} for f in self.frames
                if isinstance(f, list) and len(f) > 1 and isinstance(f[1], dict)]

    # ---- engine.io / socket.io framing ----

    def _receive(self, timeout: float) -> str | None:
        """The next non-ping text packet (pings are answered), or None on timeout/close."""
        assert self._ws is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            data = self._ws.receive(left)
            if data is None:
                return None
            if data == "2":  # engine.io ping
                self._ws.send("3")
                continue
            return data

    def _record(self, packet: str) -> Any:
        """Keep a socket.io EVENT packet (`42[...]`); other packets are returned raw."""
        prefix = f"42{NAMESPACE},"
        if packet.startswith(prefix):
            frame = json.loads(packet[len(prefix):])
            self.frames.append(frame)
            return frame
        return packet


class _Websocket:
    """A blocking websocket client on wsproto (text frames in and out; pings answered)."""

    def __init__(self, host: str, port: int, host_header: str, target: str, headers: dict[str, str],
                 timeout: float):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.conn = WSConnection(ConnectionType.CLIENT)
        self.inbox: deque[str] = deque()
        self.closed = False
        self.sock.sendall(self.conn.send(Request(host=host_header, target=target,
                                                 extra_headers=[(k.encode(), v.encode())
                                                                for k, v in headers.items()])))
        deadline = time.monotonic() + timeout
        self.accepted = False
        self._parts: list[str] = []
        while not self.accepted:
            if self.closed or not self._pump(deadline - time.monotonic()):
                raise ConnectionError("the websocket handshake was not accepted")

    def _pump(self, timeout: float) -> bool:
        """Read once from the socket and handle the events; False on timeout or close."""
        if timeout <= 0:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, socket.timeout):
            return False
        except OSError:
            self.closed = True
            return False
        self.conn.receive_data(data or None)
        if not data:
            self.closed = True
        for ev in self.conn.events():
            if isinstance(ev, AcceptConnection):
                self.accepted = True
            elif isinstance(ev, RejectConnection):
                self.closed = True
                raise ConnectionRefusedError(f"websocket refused: HTTP {ev.status_code}")
            elif isinstance(ev, TextMessage | BytesMessage):
                self._collect(ev)
            elif isinstance(ev, Ping):
                self.sock.sendall(self.conn.send(ev.response()))
            elif isinstance(ev, CloseConnection):
                self.closed = True
        return not self.closed or bool(self.inbox)

    def _collect(self, ev: Message) -> None:
        data = ev.data if isinstance(ev.data, str) else ev.data.decode("utf-8", "replace")
        self._parts.append(data)
        if ev.message_finished:
            self.inbox.append("".join(self._parts))
            self._parts = []

    def receive(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while not self.inbox:
            if self.closed or not self._pump(deadline - time.monotonic()):
                if not self.inbox:
                    return None
        return self.inbox.popleft()

    def send(self, text: str) -> None:
        self.sock.sendall(self.conn.send(TextMessage(data=text)))

    def close(self) -> None:
        if not self.closed:
            try:
                self.sock.sendall(self.conn.send(CloseConnection(code=1000)))
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.closed = True
        self.sock.close()


def exchange(base_url: str, token: str, events: list[dict[str, Any]], *,
             cookies: dict[str, str] | None = None, finals_per_event: int = 1,
             timeout: float = 10.0) -> list[Any]:
    """Connect as `token`, send `events` one by one (collecting each one's answer), close;
    returns every frame received."""
    with ReflexSocket(base_url, token, cookies=cookies, timeout=timeout) as sock:
        for item in events:
            sock.send(item)
            sock.collect(until_final=finals_per_event, timeout=timeout)
        return list(sock.frames)
