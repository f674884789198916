"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl in a temp dir, on a free port.

Debian's `postgresql` package (15) provides the binaries (`apt-get install -y postgresql`); the
cluster belongs to the user running this, or to `postgres` when run as root (PostgreSQL refuses
to run as root): its folder is handed to that user and the commands run through `runuser`.
It listens on 127.0.0.1 only, with `trust` authentication for the one superuser `portal`
(nothing outside this machine can reach it, and it holds only test data).

    python tests/pg_cluster.py start [--dir DIR] [--port PORT]   # prints the SQLAlchemy URL
    python tests/pg_cluster.py stop DIR                           # stops it and deletes DIR

`start` prints the URL on stdout (`postgresql+psycopg://portal@127.0.0.1:PORT/postgres`) and the
folder on stderr; `export REFLEX_DB_URL=$(python tests/pg_cluster.py start --dir /tmp/pg)` works.
From Python: `with throwaway() as url: ...` (the unit tests' conftest does this when
`PORTAL_TEST_DATABASE=postgresql` and no `PORTAL_TEST_POSTGRES_URL` is given).
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

SUPERUSER = "portal"
# Settings for a disposable cluster: no durability (tests never survive a crash), small memory.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "'64MB'",
    "max_connections": "100",
    "TimeZone": "'UTC'",
    "log_min_messages": "warning",
    "logging_collector": "off",
}


def bin_dir() -> Path:
    """The newest installed PostgreSQL's bin folder (Debian keeps them out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise SystemExit("PostgreSQL is not installed: apt-get install -y postgresql")


def _owner() -> str | None:
    """The user the cluster runs as: None for the current user, `postgres` when we are root."""
    return "postgres" if os.geteuid() == 0 else None


def _run(args: list[str], *, owner: str | None) -> None:
    command = ["runuser", "-u", owner, "--", *args] if owner else args
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def url_for(port: int, database: str = "postgres") -> str:
    return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{database}"


def start(folder: Path | None = None, port: int | None = None,
          settings: dict[str, str] | None = None) -> tuple[str, Path]:
    """initdb a new cluster in `folder` (a new temp dir by default), start it; (url, folder).

    A folder that already holds a cluster (a benchmark's, kept with `stop(..., remove=False)`)
    is started again as it is, on the port it was made with. `settings` add to or override
    SETTINGS (a benchmark gives the server the memory a real one would have)."""
    folder = Path(folder or tempfile.mkdtemp(prefix="portal-pg-"))
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    if (data / "PG_VERSION").exists():
        return _restart(folder)
    port = port or free_port()
    owner = _owner()
    if owner:
        entry = pwd.getpwnam(owner)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    tools = bin_dir()
    try:
        _run([str(tools / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust",
              "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], owner=owner)
        with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# tests/pg_cluster.py\n")
            conf.write(f"port = {port}\nunix_socket_directories = '{folder}'\n")
            conf.writelines(f"{name} = {value}\n" for name, value in {**SETTINGS, **(settings or {})}.items())
        _run([str(tools / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
              "-w", "-t", "60", "start"], owner=owner)
    except subprocess.CalledProcessError as error:
        log = folder / "server.log"
        detail = (error.stderr or b"").decode(errors="replace")
        if log.exists():
            detail += log.read_text(errors="replace")[-2000:]
        raise SystemExit(f"Could not start PostgreSQL in {folder}:\n{detail}") from None
    return url_for(port), folder


def _restart(folder: Path) -> tuple[str, Path]:
    data = folder / "data"
    conf = (data / "postgresql.conf").read_text(encoding="utf-8")
    port = int(next(line.split("=", 1)[1] for line in reversed(conf.splitlines())
                    if line.startswith("port = ")))
    try:
        _run([str(bin_dir() / "pg_ctl"), "-D", str(data), "status"], owner=_owner())
        up = True
    except subprocess.CalledProcessError:
        up = False
    if not up:  # stopped (a postmaster.pid left by a machine that went down is stale)
        _run([str(bin_dir() / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
              "-w", "-t", "60", "start"], owner=_owner())
    return url_for(port), folder


def stop(folder: Path, *, remove: bool = True) -> None:
    """Stop the cluster in `folder` (fast shutdown) and delete the folder."""
    data = Path(folder) / "data"
    if (data / "postmaster.pid").exists():
        _run([str(bin_dir() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], owner=_owner())
    if remove:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def running(start: Callable[[], tuple[str, Path]], stop: Callable[[Path], None]) -> Iterator[str]:
    """A server started by `start` for the duration of the block, then `stop`ped; yields its URL."""
    url, folder = start()
    try:
        yield url
    finally:
        stop(folder)


def throwaway() -> AbstractContextManager[str]:
    """A cluster for the duration of the block; yields its URL (database `postgres`)."""
    return running(start, stop)


def cli(argv: list[str] | None, *, what: str, command: str,
        start: Callable[[Path | None, int | None], tuple[str, Path]],
        stop: Callable[..., None]) -> int:
    """The `start` / `stop DIR` command line shared by this file and tests/redis_server.py."""
    parser = argparse.ArgumentParser(description=f"A throwaway {what} for tests.")
    commands = parser.add_subparsers(dest="command", required=True)
    begin = commands.add_parser("start", help=f"start a {what}; print its URL")
    begin.add_argument("--dir", type=Path, help="its folder (default: a new temp dir)")
    begin.add_argument("--port", type=int, help="port (default: a free one)")
    end = commands.add_parser("stop", help=f"stop the {what} in DIR and delete DIR")
    end.add_argument("dir", type=Path)
    end.add_argument("--keep", action="store_true", help="stop it but keep the folder")
    args = parser.parse_args(argv)
    if args.command == "start":
        url, folder = start(args.dir, args.port)
        print(f"{what} running in {folder} (stop: {command} stop {folder})", file=sys.stderr)
        print(url)
    else:
        stop(args.dir, remove=not args.keep)
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli(argv, what="PostgreSQL cluster", command="python tests/pg_cluster.py", start=start, stop=stop)

if __name__ == "__main__":
    sys.exit(main())
