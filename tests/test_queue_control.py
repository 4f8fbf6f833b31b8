"""Queue control against the real server: the order (priorities, moves), pause and resume
(kept across a restart), cancel all, the queue feed, and every bad input refused."""

from __future__ import annotations

import pytest

from backend.services.queue_order import insert_index, move_index, rank_between

TERMINAL = ("job.succeeded", "job.failed", "job.cancelled")


def _order(server) -> list[str]:
    return [item["job_id"] for item in server.get("/api/queue").json()["items"]]


def _submit(server, prompt: str, priority: str | None = None, provider: str = "instant") -> str:
    body = {"prompt": prompt, "provider": provider}
    if priority:
        body["priority"] = priority
    return server.submit(**body)["id"]


def _move(server, job_id: str, to):
    return server.post(f"/api/jobs/{job_id}/move", json={"to": to})


def _started_order(client) -> list[str]:
    return [d["job_id"] for e, d in client.events if e == "job.started"]


# --- the order, in process ----------------------------------------------------------------
def test_a_new_job_goes_behind_the_last_of_its_priority_or_higher():
    assert insert_index([], "normal") == 0
    assert insert_index(["high", "normal", "low"], "high") == 1
    assert insert_index(["high", "normal", "low"], "normal") == 2
    assert insert_index(["high", "normal", "low"], "low") == 3
    # a low job someone moved to the front keeps its place: a high one goes behind the last high
    assert insert_index(["low", "high", "normal"], "high") == 2
    assert insert_index(["low", "high", "normal"], "normal") == 3
    assert insert_index(["normal", "low"], "high") == 0


def test_ranks_split_neighbours_until_too_close_and_moves_land_where_asked():
    assert rank_between(None, None) == 1.0
    assert rank_between(None, 1.0) == 0.0 and rank_between(3.0, None) == 4.0
    assert rank_between(1.0, 2.0) == 1.5
    assert rank_between(1.0, 1.0 + 1e-12) is None, "too close: the queue is ranked again"
    assert move_index("front", 5) == 0 and move_index("back", 5) == 4 and move_index(3, 5) == 2


# --- the real server ------------------------------------------------------------------------
def test_priorities_and_moves_set_the_order_and_jobs_run_in_it(server, sio):
    client = sio()
    assert client.subscribe(topic="queue")["ok"]
    r = server.post("/api/queue/pause")
    assert r.status_code == 200 and r.json() == {"paused": True, "changed": True}

    low = _submit(server, "low one", "low", provider="gated")
    normal1 = _submit(server, "normal one", provider="gated")
    high = _submit(server, "high one", "high", provider="gated")
    normal2 = _submit(server, "normal two", "normal", provider="gated")
    for job_id in (low, normal1, high, normal2):
        assert client.subscribe(job_id=job_id)["ok"]
    queue = server.get("/api/queue").json()
    assert queue["paused"] is True
    assert [i["job_id"] for i in queue["items"]] == [high, normal1, normal2, low]
    assert [i["position"] for i in queue["items"]] == [1, 2, 3, 4]
    assert [i["priority"] for i in queue["items"]] == ["high", "normal", "normal", "low"]
    assert all(i["status"] == "queued" and i["id"] == i["job_id"] for i in queue["items"])

    # moves: the low one to the front, the high one to the back, normal2 to place 2
    r = _move(server, low, "front")
    assert r.status_code == 200 and r.json()["job"]["position"] == 1
    assert _move(server, high, "back").json()["job"]["position"] == 4
    assert _move(server, normal2, 2).status_code == 200
    assert _order(server) == [low, normal2, normal1, high]
    # a moved job keeps its place: a new high job goes behind the last high one, here the back
    late_high = _submit(server, "late high", "high", provider="gated")
    assert client.subscribe(job_id=late_high)["ok"]
    assert _order(server) == [low, normal2, normal1, high, late_high]
    # the moved job's card is told its new place
    client.wait_for(lambda ev: any(e == "job.queued" and d.get("job_id") == high and d["position"] == 4 for e, d in ev))
    # the queue feed says paused, and the order
    client.wait_for(
        lambda ev: any(
            e == "queue.updated" and d["paused"] and d["queued"] == [low, normal2, normal1, high, late_high]
            for e, d in ev
        )
    )

    expected = [low, normal2, normal1, high, late_high]
    assert _started_order(client) == [], "nothing starts while paused"
    r = server.post("/api/queue/resume")
    assert r.status_code == 200 and r.json() == {"paused": False, "changed": True}
    server.open_gate()
    client.wait_for(lambda ev: sum(1 for e, _ in ev if e in TERMINAL) == len(expected))
    assert _started_order(client) == expected
    assert all(server.get(f"/api/jobs/{j}").json()["job"]["status"] == "succeeded" for j in expected)
    client.wait_for(lambda ev: any(e == "queue.updated" and d["paused"] is False for e, d in ev))


def test_pause_and_the_order_survive_a_restart(server):
    assert server.post("/api/queue/pause").json()["paused"] is True
    first = _submit(server, "first")
    second = _submit(server, "second")
    assert _move(server, second, "front").status_code == 200
    server.restart()
    queue = server.get("/api/queue").json()
    assert queue["paused"] is True
    assert [i["job_id"] for i in queue["items"]] == [second, first]
    assert server.get(f"/api/jobs/{first}").json()["job"]["status"] == "queued"
    assert server.post("/api/queue/resume").json() == {"paused": False, "changed": True}
    assert server.wait_job(first)["status"] == "succeeded"
    assert server.wait_job(second)["status"] == "succeeded"
    server.restart()
    assert server.get("/api/queue").json() == {"paused": False, "items": []}


def test_many_moves_into_the_same_gap_keep_the_order_across_a_restart(server):
    """Each move to place 2 halves the gap between two ranks; past what a float splits, the
    queue is ranked again, and the order stays what the moves made."""
    server.post("/api/queue/pause")
    a, b, c = _submit(server, "a"), _submit(server, "b"), _submit(server, "c")
    expected = [a, b, c]
    for i in range(70):
        mover = expected[2]
        assert _move(server, mover, 2).status_code == 200
        expected = [expected[0], mover, expected[1]]
        assert _order(server) == expected, f"after move {i + 1}"
    server.restart()
    assert _order(server) == expected


def test_cancel_all_cancels_the_queued_jobs_and_leaves_the_running_one(server):
    running = _submit(server, "running", provider="gated")
    server.wait_job(running, statuses=("running",))
    queued = [_submit(server, f"queued {i}", provider="gated") for i in range(3)]
    r = server.post("/api/queue/cancel")
    assert r.status_code == 200 and r.json() == {"cancelled": queued}
    assert all(server.get(f"/api/jobs/{j}").json()["job"]["status"] == "cancelled" for j in queued)
    assert server.get("/api/queue").json()["items"] == []
    assert server.post("/api/queue/cancel").json() == {"cancelled": []}, "nothing queued: nothing to cancel"
    server.open_gate()
    assert server.wait_job(running)["status"] == "succeeded"


def test_pausing_lets_the_running_job_finish_and_starts_nothing_new(server):
    running = _submit(server, "running", provider="gated")
    server.wait_job(running, statuses=("running",))
    assert server.post("/api/queue/pause").json()["changed"] is True
    waiting = _submit(server, "waiting", provider="gated")
    server.open_gate()
    assert server.wait_job(running)["status"] == "succeeded"
    job = server.get(f"/api/jobs/{waiting}").json()["job"]
    assert job["status"] == "queued" and job["position"] == 1
    server.post("/api/queue/resume")
    assert server.wait_job(waiting)["status"] == "succeeded"


# --- bad input ------------------------------------------------------------------------------
def _error(r, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    if field is not None:
        assert error.get("field") == field, error
    return error


def test_resume_and_pause_again_are_no_ops_not_errors(server):
    assert server.post("/api/queue/resume").json() == {"paused": False, "changed": False}
    assert server.post("/api/queue/pause").json() == {"paused": True, "changed": True}
    assert server.post("/api/queue/pause").json() == {"paused": True, "changed": False}


def test_moving_a_running_or_finished_job_is_a_conflict_naming_why(server):
    running = _submit(server, "running", provider="gated")
    server.wait_job(running, statuses=("running",))
    error = _error(_move(server, running, "front"), 409)
    assert "running" in error["message"] and "only queued jobs" in error["message"]
    server.open_gate()
    server.wait_job(running)
    error = _error(_move(server, running, 1), 409)
    assert "succeeded" in error["message"]
    _error(_move(server, "0" * 32, "front"), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": 0}, "to"),
        ({"to": 3}, "to"),
        ({"to": -1}, "to"),
        ({"to": "sideways"}, "to"),
        ({"to": True}, "to"),
        ({"to": 1.5}, "to"),
        ({"to": None}, "to"),
        ({}, "to"),
        ({"to": "front", "extra": 1}, "extra"),
        ([], None),
    ],
)
def test_a_bad_move_is_refused_and_changes_nothing(server, body, field):
    server.post("/api/queue/pause")
    a, b = _submit(server, "a"), _submit(server, "b")
    r = server.post(f"/api/jobs/{b}/move", json=body)
    _error(r, 422, field)
    assert _order(server) == [a, b]


def test_a_move_body_that_is_not_json_is_a_400(server):
    server.post("/api/queue/pause")
    job = _submit(server, "a")
    r = server.post(f"/api/jobs/{job}/move", data=b"{not json", headers={"Content-Type": "application/json"})
    _error(r, 400)


@pytest.mark.parametrize("priority", ["urgent", 1, True, ""])
def test_an_unknown_priority_is_refused_naming_it(server, priority):
    r = server.post("/api/jobs", json={"prompt": "x", "provider": "instant", "priority": priority})
    _error(r, 422, "priority")
    assert server.get("/api/jobs").json()["items"] == []


def test_a_retry_keeps_its_priority(server):
    server.post("/api/queue/pause")
    job = _submit(server, "again", "low")
    server.post(f"/api/jobs/{job}/cancel")
    r = server.post(f"/api/jobs/{job}/retry")
    assert r.status_code == 202 and r.json()["job"]["priority"] == "low"


# --- with Redis: the studio hands nothing to the workers while paused --------------------------
def test_with_redis_a_paused_queue_hands_nothing_to_the_workers_and_resume_runs_it(tmp_path):
    from redis import Redis
    from rq import Queue

    from tests.support.cluster import Cluster

    cluster = Cluster(tmp_path)
    try:
        redis = Redis.from_url(cluster.redis.url)

        def in_rq(job_id: str, provider: str) -> bool:
            return Queue(f"atelier:{provider}", connection=redis).get_job_position(job_id) is not None

        # a job no worker serves waits in its RQ queue; pausing takes it back out
        waiting = cluster.a.submit(prompt="nobody serves me", provider="broken")["id"]
        assert in_rq(waiting, "broken")
        assert cluster.b.post("/api/queue/pause").json() == {"paused": True, "changed": True}
        assert not in_rq(waiting, "broken")
        # both instances share the state, and a job submitted while paused stays with the studio
        assert cluster.a.get("/api/queue").json()["paused"] is True
        held = cluster.a.submit(prompt="held while paused", provider="instant")["id"]
        assert not in_rq(held, "instant")
        assert [i["job_id"] for i in cluster.b.get("/api/queue").json()["items"]] == [waiting, held]
        assert cluster.a.post(f"/api/jobs/{held}/move", json={"to": "front"}).json()["job"]["position"] == 1
        # resume: handed on in queue order, and a worker runs it
        assert cluster.a.post("/api/queue/resume").json() == {"paused": False, "changed": True}
        assert cluster.a.wait_job(held)["status"] == "succeeded"
        assert in_rq(waiting, "broken")
        assert cluster.b.post("/api/queue/cancel").json() == {"cancelled": [waiting]}
    finally:
        cluster.close()
