"""Every test, the way `make test` and CI run them: three pytest runs side by side.

- the end-to-end tests in Chromium (the app on SQLite), in the foreground, its output streaming;
- beside it, at a lower priority, the unit tests on SQLite and then the same unit tests on
  PostgreSQL (one throwaway cluster for the run, tests/pg_cluster.py), each spread over two
  processes (pytest-xdist). Their output goes to test-logs/unit-<database>.log and is printed
  when the end-to-end run is over.

The end-to-end tests wait on a browser and a server much of the time, so the unit runs fill the
cores they leave idle: the whole suite takes little longer than the end-to-end part alone.

    python tests/run_all.py [pytest arguments...]    # e.g. -x, or -k "sign_in"

PORTAL_TEST_SUITES (default "e2e,sqlite,postgresql") picks the runs. The exit status is 0 only
when every run passed (pytest's "no tests collected", status 5, counts as passed, so a -k that
matches one kind of test only still succeeds).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: `python tests/run_all.py`
    sys.path.insert(0, str(REPO_ROOT))

from tests import pg_cluster  # noqa: E402

SUITES = ("e2e", "sqlite", "postgresql")
UNIT_WORKERS = "2"  # CI has two cores
UNIT_NICENESS = 10  # the browser tests keep their pace; the unit runs take the rest
NO_TESTS_COLLECTED = 5
# Not test-results/: pytest-playwright empties that folder when a run starts.
LOG_DIR = REPO_ROOT / "test-logs"


@dataclass
class Run:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path | None = None  # None: streams to this terminal
    status: int | None = None
    seconds: float = 0.0
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return self.status in (0, NO_TESTS_COLLECTED)

    def __call__(self) -> None:
        started = time.monotonic()
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *self.args]
        if self.log is None:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=self.env)
            self.status = self.process.wait()
        else:
            with self.log.open("w") as out:
                self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=self.env, stdout=out,
                                                stderr=subprocess.STDOUT,
                                                preexec_fn=lambda: os.nice(UNIT_NICENESS))
                self.status = self.process.wait()
        self.seconds = time.monotonic() - started

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _one_after_another(runs: list[Run]) -> None:
    for run in runs:
        run()


def main(argv: list[str]) -> int:
    chosen = [s.strip() for s in os.environ.get("PORTAL_TEST_SUITES", ",".join(SUITES)).split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SUITES))
    if unknown:
        print(f"PORTAL_TEST_SUITES: unknown {', '.join(unknown)} (choose from {', '.join(SUITES)})")
        return 2
    LOG_DIR.mkdir(exist_ok=True)
    env = dict(os.environ)
    pg_folder: Path | None = None
    if "postgresql" in chosen and not env.get("PORTAL_TEST_POSTGRES_URL"):
        env["PORTAL_TEST_POSTGRES_URL"], pg_folder = pg_cluster.start()
    units = [Run(f"unit tests on {database}", ["-m", "not e2e", "-n", UNIT_WORKERS, *argv],
                 {**env, "PORTAL_TEST_DATABASE": database}, LOG_DIR / f"unit-{database}.log")
             for database in ("sqlite", "postgresql") if database in chosen]
    e2e = [Run("end-to-end tests in Chromium", ["-m", "e2e", *argv], env)] if "e2e" in chosen else []
    # A TERM (CI's time limit, a kill) unwinds like Ctrl-C, so the cluster below is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    beside = threading.Thread(target=_one_after_another, args=(units,), daemon=True)
    try:
        beside.start()
        _one_after_another(e2e)
        if beside.is_alive():
            print("\n[tests] the end-to-end run is over; waiting for the unit runs ...", flush=True)
        beside.join()
    finally:
        for run in e2e + units:
            run.stop()
        if pg_folder is not None:
            pg_cluster.stop(pg_folder)
    for run in units:
        print(f"\n======== {run.name} (test-logs/{run.log.name if run.log else ''}) ========", flush=True)
        if run.log is not None and run.log.exists():
            sys.stdout.write(run.log.read_text(errors="replace"))
    print(f"\n[tests] every run ended after {time.monotonic() - started:.0f} s:")
    for run in e2e + units:
        print(f"  {'passed' if run.passed else 'FAILED'}  {run.name}: {run.seconds:.0f} s (exit {run.status})")
    return 0 if all(run.passed for run in e2e + units) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
