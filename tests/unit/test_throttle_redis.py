"""The sign-in throttles counted in Redis: shared by every worker, one key per flow and window,
and counting on in the worker's memory while Redis is away."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from portal_app.services import throttle
from tests import redis_server

pytestmark = pytest.mark.skipif(redis_server.installed() is None, reason=redis_server.NOT_INSTALLED)


@pytest.fixture(scope="module")
def redis_run() -> Iterator[tuple[str, Path]]:
    url, folder = redis_server.start()
    yield url, folder
    redis_server.stop(folder)


@pytest.fixture
def url(redis_run) -> str:
    Redis.from_url(redis_run[0]).flushdb()
    return redis_run[0]


def test_two_workers_share_one_count(url):
    worker_a, worker_b = throttle.redis_counters(url), throttle.redis_counters(url)  # two clients
    a, b = worker_a(60.0, "sign_in:ip"), worker_b(60.0, "sign_in:ip")
    assert a.add("10.0.0.5", 1000.0) == 1
    assert b.add("10.0.0.5", 1000.0) == 2  # the same instant on another worker counts too
    assert a.count("10.0.0.5", 1001.0) == b.count("10.0.0.5", 1001.0) == 2
    assert a.count("10.0.0.6", 1001.0) == 0


def test_the_window_slides_and_idle_keys_expire(url):
    counter = throttle.redis_counters(url)(60.0, "forgot:ip")
    counter.add("ip", 1000.0)
    counter.add("ip", 1030.0)
    assert counter.count("ip", 1059.0) == 2
    assert counter.count("ip", 1060.0) == 1  # the hit at 1000 has left the 60 s window
    assert counter.add("ip", 1095.0) == 1  # ... and adding drops what left it
    ttl = Redis.from_url(url).ttl(f"{throttle.REDIS_PREFIX}forgot:ip:ip")
    assert 0 < ttl <= 61


def test_each_flow_and_window_has_its_own_keys(url, monkeypatch):
    throttle.use(throttle.redis_counters(url))
    throttle.record(throttle.Flow.SIGN_IN, "10.0.0.9")
    keys = sorted(key.decode() for key in Redis.from_url(url).keys(f"{throttle.REDIS_PREFIX}*"))
    assert keys == [f"{throttle.REDIS_PREFIX}sign_in:all:*", f"{throttle.REDIS_PREFIX}sign_in:ip:10.0.0.9"]


def test_sign_ins_on_two_workers_reach_the_refusal_once(url):
    """Two workers' throttles, one Redis: the per-IP limit is reached by the tries of both."""
    worker_a = throttle.Throttle(counter_factory=throttle.redis_counters(url))
    worker_b = throttle.Throttle(counter_factory=throttle.redis_counters(url))
    limit = throttle.POLICIES[throttle.Flow.SIGN_IN].refuse_at
    for n in range(limit):
        (worker_a if n % 2 else worker_b).record(throttle.Flow.SIGN_IN, "203.0.113.7")
    assert not worker_a.check(throttle.Flow.SIGN_IN, "203.0.113.7").allowed
    assert not worker_b.check(throttle.Flow.SIGN_IN, "203.0.113.7").allowed
    assert worker_b.check(throttle.Flow.SIGN_IN, "203.0.113.8").allowed


def test_redis_away_counts_in_memory_then_shares_again(redis_run, url, caplog):
    counter = throttle.redis_counters(url)(60.0, "setup:ip")
    assert counter.add("ip", 1000.0) == 1
    redis_server.stop(redis_run[1], remove=False)
    try:
        # Not fail-open: hits while Redis is away are still counted (in this worker).
        assert counter.add("ip", 1001.0) == 1
        assert counter.add("ip", 1002.0) == 2
        assert counter.count("ip", 1003.0) == 2
        assert sum("Redis failed" in record.message for record in caplog.records) == 1  # logged once
    finally:
        assert redis_server.restart(redis_run[1]) == url
    assert counter.add("ip", 1004.0) == 1  # Redis restarted empty: shared counting again
    assert any("answers again" in record.message for record in caplog.records)
