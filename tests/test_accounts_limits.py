"""Budgets and limits against the real server (issue 13): two web instances (eventlet and
threading) that share one real Redis enforce one rate limit between them; with accounts,
real users and API keys over their budgets, rate limits and concurrent-job limits.
In-process checks of every rule: tests/test_budgets_limits.py.
"""

from __future__ import annotations

import pytest
import requests

from tests.support.redis_server import RedisServer, require_redis_server
from tests.support.server import ServerProcess

FREE = {"prompt": "a heron at dawn", "provider": "instant"}


@pytest.fixture
def two_instances(tmp_path):
    """Start A (eventlet) and B (threading) on one Redis, one gallery and one job database."""
    require_redis_server()
    redis = RedisServer(tmp_path).start()
    started: list[ServerProcess] = []

    def start(**env: str) -> tuple[ServerProcess, ServerProcess]:
        shared = {
            "ATELIER_REDIS_URL": redis.url,
            "ATELIER_GALLERY_DIR": str(tmp_path / "gallery"),
            "ATELIER_DATA_DIR": str(tmp_path / "data"),
            **env,
        }
        a = ServerProcess(tmp_path, "eventlet", **shared).start()
        started.append(a)
        b = ServerProcess(tmp_path, "threading", **shared).start()
        started.append(b)
        return a, b

    start.redis = redis  # type: ignore[attr-defined]
    yield start
    for server in started:
        server.stop()
    redis.stop()


def _post(server: ServerProcess, body: dict, **headers: str) -> requests.Response:
    return requests.post(f"{server.url}/api/jobs", json=body, headers=headers, timeout=30)


def test_two_instances_enforce_one_client_rate_limit_through_redis(two_instances) -> None:
    a, b = two_instances(ATELIER_RATE_LIMIT="3/hour")
    # no worker: the jobs wait in the Redis queue, which is all a submission needs
    assert [_post(server, FREE).status_code for server in (a, b, a)] == [202, 202, 202]
    for server in (b, a):  # each instance alone has seen fewer than 3: the window is shared
        refused = _post(server, FREE)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 3000 < int(refused.headers["Retry-After"]) <= 3600
    # reading is not limited
    assert requests.get(f"{b.url}/api/jobs", timeout=30).status_code == 200
    # Redis away: the window cannot be read, and the queue on it is down too: 503, not a 500
    two_instances.redis.stop()
    for server in (a, b):
        down = _post(server, FREE)
        assert down.status_code == 503 and down.json()["error"]["code"] == "queue_unavailable"
        assert down.headers["Retry-After"] == "5"
