"""tests/redis_server.py starts a private redis-server that answers, and stops it for good."""

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests import redis_server

pytestmark = pytest.mark.skipif(redis_server.installed() is None, reason=redis_server.NOT_INSTALLED)


def test_start_answers_and_stop_removes_it():
    url, folder = redis_server.start()
    try:
        client = Redis.from_url(url, socket_connect_timeout=2)
        assert client.set("k", "v") and client.get("k") == b"v"
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        assert client.config_get("save")["save"] == ""  # nothing persisted
    finally:
        redis_server.stop(folder)
    assert not folder.exists()
    with pytest.raises(RedisConnectionError):
        Redis.from_url(url, socket_connect_timeout=1).ping()


def test_restart_comes_back_empty_on_the_same_port():
    url, folder = redis_server.start()
    try:
        Redis.from_url(url).set("k", "v")
        assert redis_server.restart(folder) == url
        assert Redis.from_url(url).get("k") is None
    finally:
        redis_server.stop(folder)
