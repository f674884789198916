"""A throwaway redis-server for tests: in a temp dir, on a free port, on 127.0.0.1 only.

Debian's `redis-server` package provides the binary (`apt-get install -y redis-server`; CI's
`make servers` installs it). Nothing is persisted (no RDB snapshot, no AOF) and no password is
set: it listens on 127.0.0.1 only and holds only test data.

    python -m tests.redis_server start [--dir DIR] [--port PORT]   # prints the redis:// URL
    python -m tests.redis_server stop DIR                           # stops it and deletes DIR

`start` prints the URL on stdout and the folder on stderr;
`export REFLEX_REDIS_URL=$(python -m tests.redis_server start --dir /tmp/rs)` works.
From Python: `with throwaway() as url: ...`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path

from tests.pg_cluster import cli, free_port, running

START_TIMEOUT_S = 20.0


def installed() -> str | None:
    """The redis-server executable, or None (tests skip then, saying how to install it)."""
    return shutil.which("redis-server") or next(
        (path for path in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.path.exists(path)), None)


NOT_INSTALLED = "redis-server is not installed: apt-get install -y redis-server"


def binary() -> str:
    """The redis-server executable, or SystemExit saying how to install it."""
    found = installed()
    if not found:
        raise SystemExit(NOT_INSTALLED)
    return found


def url_for(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


def _answers(port: int) -> bool:
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        with Redis(host="127.0.0.1", port=port, socket_connect_timeout=1, socket_timeout=1) as client:
            return bool(client.ping())
    except RedisError:
        return False


def start(folder: Path | None = None, port: int | None = None) -> tuple[str, Path]:
    """Start redis-server with its files in `folder` (a new temp dir by default); (url, folder)."""
    folder = Path(folder or tempfile.mkdtemp(prefix="portal-redis-"))
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    pidfile, log = folder / "redis.pid", folder / "redis.log"
    subprocess.run([binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                    "--save", "", "--appendonly", "no", "--daemonize", "yes",
                    "--pidfile", str(pidfile), "--logfile", str(log)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    (folder / "port").write_text(str(port))
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _answers(port):
        if time.monotonic() > deadline:
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            stop(folder, remove=False)
            raise SystemExit(f"redis-server did not answer on port {port} in {START_TIMEOUT_S:.0f} s:\n{detail}")
        time.sleep(0.05)
    return url_for(port), folder


def _pid(folder: Path) -> int | None:
    try:
        return int((Path(folder) / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def stop(folder: Path, *, remove: bool = True) -> None:
    """Stop the server whose files are in `folder` (waits until it is gone) and delete the folder."""
    pid = _pid(folder)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                os.kill(pid, 0)  # raises once the process is gone
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if remove:
        shutil.rmtree(folder, ignore_errors=True)


def restart(folder: Path) -> str:
    """Stop the server in `folder` and start a new, empty one on the same port; its URL."""
    port = int((Path(folder) / "port").read_text())
    stop(folder, remove=False)
    url, _ = start(folder, port)
    return url


def throwaway() -> AbstractContextManager[str]:
    """A redis-server for the duration of the block; yields its URL."""
    return running(start, stop)


def main(argv: list[str] | None = None) -> int:
    return cli(argv, what="redis-server", command="python -m tests.redis_server", start=start, stop=stop)

if __name__ == "__main__":
    sys.exit(main())
