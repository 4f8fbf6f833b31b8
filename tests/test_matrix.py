"""The matrix (POST /api/matrix, GET /api/matrix/<id>, matrix.updated) against the real server.

Test providers: ``instant`` (free, 1:1 and 16:9), ``priced`` ($0.04 an image, 1:1 and
3:2: a 16:9 request is adjusted), ``gated`` (held until the test opens the gate),
``keyless`` (never available).
"""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from tests.support.server import ServerProcess
from tests.support.sio import EventRecorder
from tests.test_job_events import _documented_fields

MAX_CELLS = 12


def wait_matrix(server: ServerProcess, matrix_id: str, status: str = "done", timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = server.get(f"/api/matrix/{matrix_id}")
        assert r.status_code == 200, r.text
        matrix = r.json()["matrix"]
        if matrix["status"] == status:
            return matrix
        if time.monotonic() > deadline:
            raise TimeoutError(f"matrix still {matrix['status']}: {matrix['cells']}")
        time.sleep(0.05)


def job_count(server: ServerProcess) -> int:
    return len(server.get("/api/jobs", params={"limit": 200}).json()["items"])


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("matrix"), ATELIER_MATRIX_MAX_CELLS=str(MAX_CELLS)).start()
    yield proc
    proc.stop()


def test_every_cell_is_a_job_and_the_grid_links_every_cell_image(studio):
    body = {
        "base": {"prompt": "a lighthouse at dusk", "aspect_ratio": "16:9"},
        "axes": [{"field": "provider", "values": ["instant", "priced"]}, {"field": "seed", "values": [1, 2, 3]}],
    }
    r = studio.post("/api/matrix", json=body)
    assert r.status_code == 202, r.text
    answer = r.json()
    matrix = answer["matrix"]
    assert [c["coords"] for c in matrix["cells"]] == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    assert all(c["job_id"] for c in matrix["cells"])
    assert answer["estimate"] == {"cells": 6, "jobs": 6, "skipped": 0, "cost_usd": 0.12, "unpriced_jobs": 3}

    # priced cannot make 16:9: each of its cells says so, by name; instant's are untouched
    adjusted = [w for w in answer["warnings"] if w["field"] == "aspect_ratio"]
    assert sorted(w["label"] for w in adjusted) == [f"provider=priced, seed={s}" for s in (1, 2, 3)]
    assert all(w["requested"] == "16:9" and w["used"] == "3:2" for w in adjusted)
    assert all(w["message"].startswith(w["label"] + ": ") for w in adjusted)

    # each cell is an ordinary job, with the cell's values
    for cell in matrix["cells"]:
        job = studio.wait_job(cell["job_id"])
        assert job["status"] == "succeeded"
        provider, seed = body["axes"][0]["values"][cell["coords"][0]], body["axes"][1]["values"][cell["coords"][1]]
        assert job["provider"] == provider and job["request"]["seed"] == seed
        assert job["request"]["aspect_ratio"] == ("16:9" if provider == "instant" else "3:2")

    done = wait_matrix(studio, matrix["id"])
    assert all(c["status"] == "succeeded" and len(c["image_ids"]) == 1 for c in done["cells"])
    grid = done["grid_image"]
    assert grid is not None and grid["provider"] == "matrix"
    listed = studio.get("/api/images", params={"limit": 100}).json()["items"]
    assert grid["id"] in [i["id"] for i in listed]  # in the gallery, as GET /api/images shows it
    assert next(i for i in listed if i["id"] == grid["id"]) == grid

    detail = studio.get(f"/api/images/{grid['id']}").json()
    linked = detail["metadata"]["matrix"]
    assert linked["id"] == matrix["id"] and linked["axes"] == body["axes"]
    assert sorted(linked["image_ids"]) == sorted(i for c in done["cells"] for i in c["image_ids"])
    assert [c["image_ids"] for c in linked["cells"]] == [c["image_ids"] for c in done["cells"]]

    # two columns, three rows of 256-pixel tiles, with room for the labels
    with Image.open(io.BytesIO(studio.get(grid["url"]).content)) as im:
        assert im.width > 2 * 256 and im.height > 3 * 256


def test_a_cell_its_provider_cannot_serve_is_skipped_with_its_reason(studio):
    body = {
        "base": {"prompt": "a red kite"},
        "axes": [
            {"field": "provider", "values": ["instant", "priced", "keyless"]},
            {"field": "model", "values": ["test", "priced-1"]},
        ],
    }
    r = studio.post("/api/matrix", json=body)
    assert r.status_code == 202, r.text
    answer = r.json()
    cells = {tuple(c["coords"]): c for c in answer["matrix"]["cells"]}
    runs = {(0, 0), (1, 1)}  # instant/test and priced/priced-1
    assert {k for k, c in cells.items() if c["job_id"]} == runs
    for coords, cell in cells.items():
        if coords not in runs:
            assert cell["status"] == "skipped" and cell["reason"]
    skipped = {tuple(w["cell"]): w for w in answer["warnings"] if w.get("skipped")}
    assert set(skipped) == set(cells) - runs
    assert "keyless" in skipped[(2, 0)]["message"] and "unavailable" in skipped[(2, 0)]["message"]
    assert "priced-1" in skipped[(0, 1)]["message"]
    assert answer["estimate"]["skipped"] == 4 and answer["estimate"]["jobs"] == 2
    done = wait_matrix(studio, answer["matrix"]["id"])
    assert done["grid_image"] is not None


def test_prompt_axis_replaces_words_or_takes_whole_prompts(studio):
    r = studio.post(
        "/api/matrix",
        json={
            "base": {"prompt": "a cat on a wall", "provider": "instant"},
            "axes": [{"field": "prompt", "replace": "cat", "values": ["cat", "dog"]}],
        },
    )
    assert r.status_code == 202, r.text
    prompts = [studio.wait_job(c["job_id"])["request"]["prompt"] for c in r.json()["matrix"]["cells"]]
    assert prompts == ["a cat on a wall", "a dog on a wall"]
    r = studio.post(
        "/api/matrix",
        json={
            "base": {"prompt": "unused", "provider": "instant"},
            "axes": [{"field": "prompt", "values": ["sun", "moon"]}],
        },
    )
    assert r.status_code == 202, r.text
    prompts = [studio.wait_job(c["job_id"])["request"]["prompt"] for c in r.json()["matrix"]["cells"]]
    assert prompts == ["sun", "moon"]


def test_matrix_updated_events_follow_the_cells_to_the_grid(studio):
    r = studio.post(
        "/api/matrix",
        json={"base": {"prompt": "slow one", "provider": "gated"}, "axes": [{"field": "seed", "values": [7, 8]}]},
    )
    assert r.status_code == 202, r.text
    matrix_id = r.json()["matrix"]["id"]
    client = EventRecorder(studio.url).connect()
    try:
        ack = client.subscribe(matrix_id=matrix_id)
        assert ack["ok"] is True and ack["matrix"]["id"] == matrix_id and ack["matrix"]["status"] == "running"
        assert client.subscribe(matrix_id="nope")["error"]["field"] == "matrix_id"
        studio.open_gate()
        client.wait_for(lambda ev: any(e == "matrix.updated" and d["status"] == "done" for e, d in ev))
        updates = [d for e, d in client.events if e == "matrix.updated"]
        assert all(d["matrix_id"] == matrix_id and d["total"] == 2 for d in updates)
        ended = [d["cell"] for d in updates if d.get("cell") and d["cell"]["status"] == "succeeded"]
        assert sorted(c["coords"] for c in ended) == [[0], [1]]
        assert all(len(c["image_ids"]) == 1 for c in ended)
        last = updates[-1]
        assert last["status"] == "done" and last["done"] == 2 and last["grid_image"]["provider"] == "matrix"
        assert [d["done"] for d in updates] == sorted(d["done"] for d in updates)
        required, optional = _documented_fields()["matrix.updated"]  # docs/events.md
        for payload in updates:
            assert required <= set(payload) <= required | optional, sorted(payload)
    finally:
        client.close()


BAD = [
    (
        {"base": {"prompt": "x"}, "axes": [{"field": f, "values": [1]} for f in ("seed", "steps", "style", "quality")]},
        "axes",
        "at most 3 axes",
    ),
    (
        {"base": {"prompt": "x"}, "axes": [{"field": "seed", "values": list(range(MAX_CELLS + 1))}]},
        "axes",
        f"more than {MAX_CELLS} cells",
    ),
    (
        {
            "base": {"prompt": "x"},
            "axes": [{"field": "seed", "values": [1, 2, 3]}, {"field": "steps", "values": [1, 2, 3, 4, 5]}],
        },
        "axes",
        f"more than {MAX_CELLS} cells",
    ),
    ({"base": {"prompt": "x"}, "axes": [{"field": "sampler", "values": ["euler"]}]}, "axes[0].field", "sampler"),
    ({"base": {"prompt": "x"}, "axes": [{"field": "seed", "values": []}]}, "axes[0].values", "at least one"),
    (
        {"base": {"prompt": "x"}, "axes": [{"field": "provider", "values": ["instant", "nowhere"]}]},
        "axes[0].values[1]",
        "nowhere",
    ),
    ({"base": {"prompt": "x"}, "axes": [{"field": "seed", "values": [1, "two"]}]}, "axes[0].values[1]", "integer"),
    ({"base": {"prompt": "x"}, "axes": [{"field": "seed", "values": [1, 1]}]}, "axes[0].values[1]", "twice"),
    (
        {"base": {"prompt": "x"}, "axes": [{"field": "seed", "values": [1]}, {"field": "seed", "values": [2]}]},
        "axes[1].field",
        "two axes",
    ),
    (
        {"base": {"prompt": "a cat"}, "axes": [{"field": "prompt", "replace": "dog", "values": ["fox"]}]},
        "axes[0].replace",
        "does not contain",
    ),
    (
        {"base": {"prompt": "x"}, "axes": [{"field": "seed", "replace": "x", "values": [1]}]},
        "axes[0].replace",
        "prompt axis only",
    ),
    ({"base": {"prompt": "x"}, "axes": []}, "axes", "at least one axis"),
    (
        {"base": {"prompt": "x"}, "axes": [{"field": "prompt", "replace": "", "values": ["y"]}]},
        "axes[0].replace",
        "at least 1",
    ),
    (
        {"base": {"prompt": "x"}, "axes": [{"field": "prompt", "replace": 3, "values": ["y"]}]},
        "axes[0].replace",
        "string",
    ),
    ({"base": {"prompt": "x"}, "axes": [{"field": "prompt", "values": ["ok", " "]}]}, "axes[0].values[1]", "form"),
    ({"base": {"prompt": "x"}, "axes": [{"field": "seed", "values": [True]}]}, "axes[0].values[0]", "integer"),
    ({"base": {"prompt": "x"}, "axes": [{"field": "seed", "values": [None]}]}, "axes[0].values[0]", "null"),
    ({"base": {"prompt": "x"}, "axes": [{"field": "seed", "values": [1], "step": 2}]}, "axes[0].step", "step"),
    ({"base": {"prompt": "x"}, "axes": "seed"}, "axes", "list"),
    ({"base": {"prompt": "x", "colour": "red"}, "axes": [{"field": "seed", "values": [1]}]}, "base.colour", "colour"),
    ({"base": {"prompt": "   "}, "axes": [{"field": "seed", "values": [1]}]}, "base.prompt", "prompt"),
    ({"base": "a cat", "axes": [{"field": "seed", "values": [1]}]}, "base", "object"),
    ({"base": {"prompt": "x"}, "axes": [{"field": "seed", "values": [1]}], "extra": 1}, "extra", "extra"),
    (
        {"base": {"prompt": "x", "provider": "keyless"}, "axes": [{"field": "seed", "values": [1, 2]}]},
        "base.provider",
        "unavailable",
    ),
    ({"base": {"prompt": "x"}, "axes": [{"field": "provider", "values": ["keyless"]}]}, "axes", "no cell"),
]


@pytest.mark.parametrize(("body", "field", "words"), BAD, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)])
def test_bad_matrix_is_refused_naming_the_problem_and_queues_nothing(studio, body, field, words):
    before = job_count(studio)
    r = studio.post("/api/matrix", json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == field and words in error["message"], error
    assert job_count(studio) == before


def test_unknown_matrix_is_404(studio):
    r = studio.get("/api/matrix/0123abcd")
    assert r.status_code == 404 and r.json()["error"]["field"] == "matrix_id"


def test_a_matrix_over_the_budget_is_refused_before_any_job(make_server):
    server = make_server(ATELIER_MONTHLY_BUDGET_USD="0.1")
    over = {"base": {"prompt": "gold", "provider": "priced"}, "axes": [{"field": "seed", "values": [1, 2, 3]}]}
    r = server.post("/api/matrix", json=over)  # 3 x $0.04 > $0.10, though each cell alone fits
    assert r.status_code == 402, r.text
    assert r.json()["error"]["field"] == "budget" and "0.120" in r.json()["error"]["message"]
    assert job_count(server) == 0
    fits = {**over, "axes": [{"field": "seed", "values": [1, 2]}]}
    r = server.post("/api/matrix", json=fits)
    assert r.status_code == 202, r.text
    assert r.json()["estimate"]["cost_usd"] == 0.08
    assert job_count(server) == 2


def test_a_matrix_lives_through_a_restart_and_follows_a_retried_cell(make_server):
    server = make_server()
    r = server.post(
        "/api/matrix",
        json={"base": {"prompt": "keep", "provider": "instant"}, "axes": [{"field": "seed", "values": [1, 2]}]},
    )
    finished = wait_matrix(server, r.json()["matrix"]["id"])
    r = server.post(
        "/api/matrix",
        json={"base": {"prompt": "held", "provider": "gated"}, "axes": [{"field": "seed", "values": [1, 2]}]},
    )
    held = r.json()["matrix"]
    first = held["cells"][0]["job_id"]
    server.wait_job(first, statuses=("running",))
    server.restart()  # the running cell is interrupted; the queued one runs again

    assert server.get(f"/api/matrix/{finished['id']}").json()["matrix"] == finished
    assert server.wait_job(first)["status"] == "interrupted"
    server.open_gate()
    ended = wait_matrix(server, held["id"])
    assert [c["status"] for c in ended["cells"]] == ["interrupted", "succeeded"]
    assert ended["grid_image"] is not None

    r = server.post(f"/api/jobs/{first}/retry")
    assert r.status_code == 202, r.text
    retried = r.json()["job"]["id"]
    server.wait_job(retried)
    deadline = time.monotonic() + 30
    while True:
        again = server.get(f"/api/matrix/{held['id']}").json()["matrix"]
        if again["status"] == "done" and again["cells"][0]["job_id"] == retried:
            break
        assert time.monotonic() < deadline, again
        time.sleep(0.05)
    assert [c["status"] for c in again["cells"]] == ["succeeded", "succeeded"]
    assert again["grid_image"]["id"] != ended["grid_image"]["id"]  # a new grid with the retried cell's image


def test_threading_mode_follows_cells_that_end_while_the_matrix_is_being_queued(make_server):
    """Under threading, instant cells may end before their matrix is saved: the matrix still
    sees every cell end and makes its grid."""
    server = make_server(async_mode="threading")
    body = {"base": {"prompt": "quick", "provider": "instant"}, "axes": [{"field": "seed", "values": list(range(8))}]}
    matrices = [server.post("/api/matrix", json=body).json()["matrix"]["id"] for _ in range(3)]
    for matrix_id in matrices:
        done = wait_matrix(server, matrix_id)
        assert [c["status"] for c in done["cells"]] == ["succeeded"] * 8
        assert done["grid_image"] is not None


def test_with_redis_cells_run_on_workers_and_one_grid_is_made_whichever_instance_sees_them_end(tmp_path):
    """Two web instances (eventlet and threading) and two workers: the cells' ends are
    reported to either instance; the matrix, in the shared data folder, gets one grid."""
    from tests.support.cluster import Cluster

    cluster = Cluster(tmp_path)
    try:
        body = {
            "base": {"prompt": "far away", "provider": "instant"},
            "axes": [{"field": "seed", "values": [1, 2, 3, 4]}],
        }
        r = cluster.b.post("/api/matrix", json=body)
        assert r.status_code == 202, r.text
        matrix_id = r.json()["matrix"]["id"]
        watcher = cluster.client(cluster.a)
        assert watcher.subscribe(matrix_id=matrix_id)["ok"]
        done = wait_matrix(cluster.a, matrix_id)
        assert [c["status"] for c in done["cells"]] == ["succeeded"] * 4
        assert cluster.b.get(f"/api/matrix/{matrix_id}").json()["matrix"] == done
        watcher.wait_for(lambda ev: any(e == "matrix.updated" and d["status"] == "done" for e, d in ev))
        grids = [
            i for i in cluster.a.get("/api/images", params={"limit": 100}).json()["items"] if i["provider"] == "matrix"
        ]
        assert [g["id"] for g in grids] == [done["grid_image"]["id"]]
    finally:
        cluster.close()
