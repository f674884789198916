"""Many staff tabs over several workers: does one tab's click stay quick? (issue 13, item 5; not a test)

The app in production mode with `GRANIAN_WORKERS` workers behind one port, its tabs' state in a
throwaway Redis (tests/redis_server.py), on the PostgreSQL database bench/onboarding.py builds
(`--postgres DIR`, 5,000,000 patients by default there). One Chromium tab on /staff/onboarding is
timed as bench/ui.py times it (a red rectangle -> green, click -> DOM), first alone and then while
`--tabs` - 1 more staff tabs click status rectangles too. Those are websocket clients
(tests/wsclient.py) that hydrate /staff/onboarding and send the browser's own events
(`toggle_access`, then `confirm_disable` when a green one asked), each every `--every` seconds
(jittered): a real Chromium per tab would spend the two cores on rendering, not on the server.
The timed tab works on the list's third page, the others on the first, so no click meets another's.

    python bench/workers.py [--postgres /tmp/portal_bench_pg] [--workers 4] [--tabs 200]
                            [--every 2.0] [--samples 60] [--port 39200]

Prints the timed tab's p50/p95 alone and under load, their ratio against the goal (p95 within 3x
of one idle tab), the load's clicks per second and its failures, and the machine's load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
for folder in (str(REPO_ROOT), str(BENCH_DIR)):
    if folder not in sys.path:
        sys.path.insert(0, folder)

import ui  # noqa: E402  (bench/ui.py: the server, the timed click)
from sqlalchemy.engine import make_url  # noqa: E402

from tests import pg_cluster, redis_server  # noqa: E402
from tests.wsclient import ReflexSocket, event, hydrate_event  # noqa: E402

STAFF_COOKIE = "portal_staff_session"
GOAL_RATIO = 3.0
LIST_PATH = "/staff/onboarding"


class LoadTab(threading.Thread):
    """One staff tab without a browser: hydrate the list, then flip a first-page rectangle now and then."""

    def __init__(self, base_url: str, session_id: str, state: str, ids: list[int], every: float,
                 stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.base_url, self.session_id, self.state = base_url, session_id, state
        self.ids, self.every, self.stop = ids, every, stop
        self.clicks = self.failures = 0
        self.error = ""
        self.ready = threading.Event()

    def run(self) -> None:
        try:
            with ReflexSocket(self.base_url, uuid.uuid4().hex, cookies={STAFF_COOKIE: self.session_id},
                              timeout=30) as sock:
                sock.send(hydrate_event(LIST_PATH))
                _answer(sock, timeout=60)
                self.ready.set()
                while not self.stop.wait(random.uniform(0.5, 1.5) * self.every):
                    self._flip(sock)
        except Exception as error:  # noqa: BLE001 (counted and shown: a tab the server dropped)
            self.failures += 1
            self.error = f"{type(error).__name__}: {error}"[:200]
        finally:
            self.ready.set()

    def _flip(self, sock: ReflexSocket) -> None:
        sock.send(event(f"{self.state}.toggle_access", {"patient_id": random.choice(self.ids)}, path=LIST_PATH))
        answered = _answer(sock)
        if "confirm_id" in str(answered):  # a green one asks first, as in the browser
            sock.send(event(f"{self.state}.confirm_disable", path=LIST_PATH))
            answered = _answer(sock)
        if answered:
            self.clicks += 1
        else:
            self.failures += 1


def _answer(sock: ReflexSocket, timeout: float = 10.0) -> list:
    """The frames up to the first one carrying a state delta (this Reflex marks no "final" on
    an event's last update), or [] when none came within `timeout`."""
    frames: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frames += sock.collect(until_final=1, timeout=0.05)
        if any(isinstance(f, list) and len(f) > 1 and isinstance(f[1], dict) and f[1].get("delta")
               for f in frames):
            return frames
    return []


def _first_page_ids(db_url: str) -> list[int]:
    from sqlmodel import col, select

    from portal_app import db
    from portal_app.models import Patient

    with db.session_scope(db_url) as session:
        return list(session.exec(select(Patient.id).order_by(col(Patient.sort_key), col(Patient.id)).limit(50)))


async def _samples(tab: ui.Tab, count: int) -> list[float]:
    totals = []
    for _ in range(count):
        sample = await ui.status_click(tab)
        if sample is not None:
            totals.append(sample.total)
        await asyncio.sleep(0.2)
    return totals


def _p95(values: list[float]) -> float:
    return ui.p95(values) or 0.0


async def _measure(args: argparse.Namespace, server: ui.Server, people: ui.People, ids: list[int]) -> None:
    from playwright.async_api import async_playwright

    from portal_app.state.onboarding import OnboardingState

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=ui.CHROMIUM, headless=True,
                                                   args=["--no-sandbox", "--disable-gpu"])
        context = await browser.new_context(base_url=server.base_url)
        await context.add_init_script(ui.INIT_JS)
        await context.add_cookies([{"name": STAFF_COOKIE, "value": people.admin_session, "url": server.base_url,
                                    "httpOnly": True, "sameSite": "Strict"}])
        tab = ui.Tab(await ui.open_list(context))
        for _ in range(2):  # to the third page: the load tabs click the first
            await ui.next_click(tab)
        await _samples(tab, 5)  # warm-up
        alone = await _samples(tab, args.samples)
        print(f"one tab alone: p50 {statistics.median(alone):.1f} ms, p95 {_p95(alone):.1f} ms", flush=True)

        stop = threading.Event()
        load = [LoadTab(server.base_url, people.admin_session, OnboardingState.get_full_name(), ids,
                        args.every, stop) for _ in range(args.tabs - 1)]
        opened = time.monotonic()
        for thread in load:
            thread.start()
        for thread in load:
            thread.ready.wait(120)
        print(f"{len(load)} more tabs open in {time.monotonic() - opened:.0f} s; clicking every "
              f"~{args.every:g} s each", flush=True)
        started = time.monotonic()
        clicks_before = sum(t.clicks for t in load)
        loaded = await _samples(tab, args.samples)
        seconds = time.monotonic() - started
        clicks = sum(t.clicks for t in load) - clicks_before
        stop.set()
        await browser.close()

    ratio = _p95(loaded) / _p95(alone) if alone and loaded else float("nan")
    print()
    print(f"{args.tabs} staff tabs over {args.workers} workers (Redis state, PostgreSQL), {args.samples} samples; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"  click -> DOM, one idle tab        p50 {statistics.median(alone):7.1f} ms   p95 {_p95(alone):7.1f} ms")
    print(f"  click -> DOM, with {len(load)} others   p50 {statistics.median(loaded):7.1f} ms   "
          f"p95 {_p95(loaded):7.1f} ms")
    print(f"  p95 ratio {ratio:.2f}x (goal <= {GOAL_RATIO:g}x): {'PASS' if ratio <= GOAL_RATIO else 'FAIL'}")
    print(f"  the other tabs: {clicks / seconds:.1f} clicks/s answered during the samples; "
          f"{sum(t.failures for t in load)} failed or dropped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", type=Path, default=Path("/tmp/portal_bench_pg"),
                        help="the cluster bench/onboarding.py --postgres built")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--tabs", type=int, default=200)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between one tab's clicks")
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--port", type=int, default=39200)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/portal_workers_bench"))
    args = parser.parse_args(argv)
    args.app_dir = REPO_ROOT
    args.dir.mkdir(parents=True, exist_ok=True)
    if not (args.postgres / "data" / "PG_VERSION").exists():
        raise SystemExit(f"No cluster in {args.postgres}: build it first with "
                         f"python bench/onboarding.py --postgres {args.postgres} --patients 5000000")

    url, _ = pg_cluster.start(args.postgres)
    db_url = make_url(url).set(database="portal_bench").render_as_string(hide_password=False)
    redis_url, redis_folder = redis_server.start()
    server = None
    try:
        from portal_app import db

        db.migrate(db_url)  # as a deployment does before it starts (README "Deploying")
        people = ui.prepare_people(db_url)
        ids = _first_page_ids(db_url)
        server = ui.app_server(args, db_url)
        server.env.update(REFLEX_REDIS_URL=redis_url, GRANIAN_WORKERS=str(args.workers),
                          REFLEX_WEB_WORKDIR=str(REPO_ROOT / ".web-bench-workers"))
        server.start()
        server.wait_ready()
        asyncio.run(_measure(args, server, people, ids))
    finally:
        if server is not None:
            server.stop()
        redis_server.stop(redis_folder)
        pg_cluster.stop(args.postgres, remove=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
