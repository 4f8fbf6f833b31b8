"""Who sees what with accounts: every job and image has an owner, a member reaches nothing
of another member's by any route (404, as for what does not exist), boards share images
read-only, and the gallery and queue feeds reach only those who may see what they carry.

In process (the app factory and Flask's test client): the caller's Principal is set by a
test hook, as the accounts edge (web/auth) sets it for a signed-in user or an API key, so
what is tested here is the filtering itself. tests/test_accounts_isolation.py does the same
through the real server, real users, their cookies and a real Socket.IO client."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
from flask import g, request

from backend.config import load_settings
from backend.services.event_types import QueueUpdated
from backend.services.principal import Principal
from tests.support.providers import tiny_png

ALICE = Principal(user_id="u-alice", name="alice", role="member", via="session")
BOB = Principal(user_id="u-bob", name="bob", role="member", via="session")
ROOT = Principal(user_id="u-root", name="root", role="admin", via="session")
AS = {"alice": ALICE, "bob": BOB, "root": ROOT}


def _app(tmp: Path):
    from backend.app import create_app

    settings = load_settings(
        {
            "ATELIER_ASYNC_MODE": "threading",
            "ATELIER_GALLERY_DIR": str(tmp / "gallery"),
            "ATELIER_DATA_DIR": str(tmp / "data"),
            "ATELIER_ENV_FILE": str(tmp / "no.env"),
            "ATELIER_PROVIDER_MODULES": "tests.support.providers",
            "ATELIER_TEST_GATE": str(tmp / "gate"),
        }
    )
    app, _ = create_app(settings)

    @app.before_request
    def act_as() -> None:  # the accounts edge's job, done here by a header
        name = request.headers.get("X-Test-As")
        if name:
            g.principal = AS[name]

    studio = app.extensions["atelier"]
    studio.set_user_names(lambda: frozenset(AS))
    return app, studio


class As:
    """A test client that acts for one user (None: the studio itself, no accounts)."""

    def __init__(self, client, name: str | None) -> None:
        self.client, self.headers = client, {"X-Test-As": name} if name else {}

    def __getattr__(self, method: str):
        def call(url: str, **kw):
            return getattr(self.client, method)(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

        return call


@pytest.fixture
def studio_app(tmp_path):
    app, studio = _app(tmp_path)
    client = app.test_client()
    return studio, {name: As(client, name) for name in AS} | {"studio": As(client, None)}, tmp_path


def _generate(c: As, prompt: str = "a red fox") -> dict:
    r = c.post("/api/jobs", json={"prompt": prompt, "provider": "instant"})
    assert r.status_code == 202, r.get_json()
    job_id = r.get_json()["job"]["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = c.get(f"/api/jobs/{job_id}").get_json()["job"]
        if job["status"] not in ("queued", "running"):
            assert job["status"] == "succeeded", job
            return job
        time.sleep(0.02)
    raise TimeoutError(job_id)


def test_a_members_work_is_theirs_and_lands_in_their_folder(studio_app):
    studio, c, tmp = studio_app
    job = _generate(c["alice"])
    image = job["images"][0]
    assert job["owner"] == "alice" and image["owner"] == "alice"
    assert image["path"].startswith("alice/")
    assert (tmp / "gallery" / image["path"]).is_file()
    # the admin sees who made it; the member sees their own name
    assert c["root"].get(f"/api/jobs/{job['id']}").get_json()["job"]["owner"] == "alice"
    assert c["root"].get(f"/api/images/{image['id']}").get_json()["image"]["owner"] == "alice"
    assert [i["id"] for i in c["alice"].get("/api/images").get_json()["items"]] == [image["id"]]
    # the prompt history is each user's own
    assert [p["prompt"] for p in c["alice"].get("/api/prompts").get_json()["items"]] == ["a red fox"]
    assert c["bob"].get("/api/prompts").get_json()["items"] == []


def test_another_members_job_is_not_found_by_any_route(studio_app):
    studio, c, _ = studio_app
    job = _generate(c["alice"])
    bob = c["bob"]
    assert bob.get(f"/api/jobs/{job['id']}").status_code == 404
    assert bob.get("/api/jobs").get_json()["items"] == []
    assert bob.post(f"/api/jobs/{job['id']}/cancel").status_code == 404
    retried = bob.post(f"/api/jobs/{job['id']}/retry")
    assert retried.status_code == 404 and retried.get_json()["error"]["code"] == "not_found"
    unknown = bob.get("/api/jobs/0123456789abcdef0123456789abcdef").get_json()
    assert bob.get(f"/api/jobs/{job['id']}").get_json() == unknown  # not a word more than for none
    assert [j["id"] for j in c["alice"].get("/api/jobs").get_json()["items"]] == [job["id"]]
    assert [j["id"] for j in c["root"].get("/api/jobs").get_json()["items"]] == [job["id"]]


def test_another_members_image_is_not_found_by_id_path_thumbnail_or_export(studio_app):
    studio, c, _ = studio_app
    image = _generate(c["alice"])["images"][0]
    bob = c["bob"]
    assert bob.get(f"/api/images/{image['id']}").status_code == 404
    assert bob.get(image["url"]).status_code == 404
    assert bob.get(image["thumb_url"]).status_code == 404
    assert bob.get("/api/images").get_json() == {"items": [], "next_cursor": None, "total": 0}
    assert bob.get(f"/api/images?ids={image['id']}").get_json()["items"] == []
    export = bob.get(f"/api/export.zip?ids={image['id']}")
    assert export.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(export.data)).namelist()
    assert image["path"] not in names
    assert image["path"] in zipfile.ZipFile(io.BytesIO(c["alice"].get("/api/export.zip").data)).namelist()
    # the same through the POST form and the streamed listing
    assert bob.post("/api/export.zip", json={"ids": [image["id"]]}).status_code == 404
    own = _generate(bob, "a grey heron")["images"][0]
    mixed = bob.post("/api/export.zip", json={"ids": [image["id"], own["id"]]})
    assert mixed.status_code == 200 and mixed.headers["X-Not-Found-Count"] == "1"
    names = zipfile.ZipFile(io.BytesIO(mixed.data)).namelist()
    assert image["path"] not in names and own["path"] in names
    assert image["id"] not in bob.get("/api/images.ndjson").get_data(as_text=True)
    # nor can it be changed, trashed or used as a tool's source
    assert bob.patch(f"/api/images/{image['id']}", json={"favorite": True}).status_code == 404
    assert bob.delete(f"/api/images/{image['id']}").status_code == 404
    bulk = bob.post("/api/images/delete", json={"ids": [image["id"]]}).get_json()
    assert bulk["deleted"] == [] and bulk["not_found"] == [image["id"]]
    upscale = bob.post("/api/upscale", json={"image_id": image["id"], "mode": "fast", "scale": 2})
    assert upscale.status_code == 422 and "no gallery image" in upscale.get_json()["error"]["message"]
    # all still there for its owner
    assert c["alice"].get(image["url"]).status_code == 200
    assert c["alice"].get(image["thumb_url"]).status_code == 200


def test_another_members_trash_is_not_theirs(studio_app):
    studio, c, _ = studio_app
    image = _generate(c["alice"])["images"][0]
    assert c["alice"].delete(f"/api/images/{image['id']}").status_code == 200
    assert [e["id"] for e in c["alice"].get("/api/trash").get_json()["items"]] == [image["id"]]
    assert c["bob"].get("/api/trash").get_json()["items"] == []
    assert c["bob"].post(f"/api/images/{image['id']}/restore").status_code == 404
    assert c["alice"].post(f"/api/images/{image['id']}/restore").status_code == 200


def test_a_hand_placed_file_belongs_to_the_folder_it_is_in(studio_app):
    studio, c, tmp = studio_app
    gallery = tmp / "gallery"
    (gallery / "bob" / "holiday").mkdir(parents=True)
    (gallery / "bob" / "holiday" / "beach.png").write_bytes(tiny_png((1, 2, 3)))
    (gallery / "top.png").write_bytes(tiny_png((4, 5, 6)))
    (gallery / "stranger").mkdir()
    (gallery / "stranger" / "x.png").write_bytes(tiny_png((7, 8, 9)))  # no such user: the studio's
    studio.gallery.reconcile()
    paths = {i["path"]: i["owner"] for i in c["root"].get("/api/images").get_json()["items"]}
    assert paths == {"bob/holiday/beach.png": "bob", "top.png": None, "stranger/x.png": None}
    assert [i["path"] for i in c["bob"].get("/api/images").get_json()["items"]] == ["bob/holiday/beach.png"]
    assert c["alice"].get("/api/images").get_json()["items"] == []
    assert c["alice"].get("/images/top.png").status_code == 404
    assert c["root"].get("/images/top.png").status_code == 200


def test_a_shared_board_is_seen_by_all_and_changed_only_by_its_owner(studio_app):
    studio, c, _ = studio_app
    image = _generate(c["alice"])["images"][0]
    alice, bob = c["alice"], c["bob"]
    made = alice.post("/api/boards", json={"name": "Foxes", "visibility": "shared"})
    assert made.status_code == 201
    board = made.get_json()["board"]
    assert board["owner"] == "alice" and board["writable"] and board["count"] == 0
    added = alice.post(f"/api/boards/{board['id']}/images", json={"ids": [image["id"]]}).get_json()["board"]
    assert added["count"] == 1
    seen = bob.get("/api/boards").get_json()["boards"]
    assert [(b["id"], b["writable"], b["count"]) for b in seen] == [(board["id"], False, 1)]
    listed = bob.get(f"/api/images?board={board['id']}").get_json()
    assert [i["id"] for i in listed["items"]] == [image["id"]] and listed["items"][0]["owner"] == "alice"
    assert bob.get(f"/api/images/{image['id']}").status_code == 200
    assert bob.get(image["thumb_url"]).status_code == 200 and bob.get(image["url"]).status_code == 200
    export = bob.get(f"/api/export.zip?board={board['id']}")
    assert image["path"] in zipfile.ZipFile(io.BytesIO(export.data)).namelist()
    # read-only for bob: nothing he tries changes it, and the image stays alice's
    assert bob.post(f"/api/boards/{board['id']}/images", json={"ids": [image["id"]]}).status_code == 403
    assert bob.delete(f"/api/boards/{board['id']}/images", json={"ids": [image["id"]]}).status_code == 403
    assert bob.patch(f"/api/boards/{board['id']}", json={"name": "Mine"}).status_code == 403
    assert bob.delete(f"/api/boards/{board['id']}").status_code == 403
    assert bob.delete(f"/api/images/{image['id']}").status_code == 403
    assert bob.patch(f"/api/images/{image['id']}", json={"favorite": True}).status_code == 403
    assert alice.get("/api/boards").get_json()["boards"][0]["name"] == "Foxes"
    # unshared: gone for bob again, as if it never existed
    alice.patch(f"/api/boards/{board['id']}", json={"visibility": "private", "cover_id": image["id"]})
    assert bob.get("/api/boards").get_json()["boards"] == []
    assert bob.get(f"/api/images?board={board['id']}").status_code == 404
    assert bob.get(f"/api/export.zip?board={board['id']}").status_code == 404
    assert bob.get(f"/api/images/{image['id']}").status_code == 404
    assert bob.patch(f"/api/boards/{board['id']}", json={"name": "x"}).status_code == 404
    assert bob.delete(f"/api/boards/{board['id']}").status_code == 404
    # bob cannot put alice's image on his own board either
    own = bob.post("/api/boards", json={"name": "Mine"}).get_json()["board"]
    assert own["visibility"] == "private"
    assert bob.post(f"/api/boards/{own['id']}/images", json={"ids": [image["id"]]}).status_code == 404
    got = alice.get("/api/boards").get_json()["boards"]
    assert [(b["name"], b["cover_id"]) for b in got] == [("Foxes", image["id"])]
    assert {b["owner"] for b in c["root"].get("/api/boards").get_json()["boards"]} == {"alice", "bob"}


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": 3}, "name"),
        ({"name": "ok", "visibility": "public"}, "visibility"),
        ({"name": "ok", "colour": "red"}, "colour"),
    ],
)
def test_bad_board_bodies_are_refused_naming_the_field(studio_app, body, field):
    _, c, _ = studio_app
    r = c["alice"].post("/api/boards", json=body)
    assert r.status_code == 422 and r.get_json()["error"]["field"] == field
    assert c["alice"].get("/api/boards").get_json()["boards"] == []


def test_bad_board_image_lists_are_refused(studio_app):
    _, c, _ = studio_app
    board = c["alice"].post("/api/boards", json={"name": "b"}).get_json()["board"]
    for body in ({}, {"ids": []}, {"ids": "abc"}, {"ids": [1]}, {"ids": ["../x"]}, {"ids": ["a"] * 1001}):
        r = c["alice"].post(f"/api/boards/{board['id']}/images", json=body)
        assert r.status_code == 422 and r.get_json()["error"]["field"] == "ids", body
    r = c["alice"].patch(f"/api/boards/{board['id']}", json={"cover_id": "nothere"})
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "cover_id"


def test_board_membership_survives_an_index_rebuild(tmp_path):
    app, studio = _app(tmp_path)
    alice = As(app.test_client(), "alice")
    image = _generate(alice)["images"][0]
    board = alice.post("/api/boards", json={"name": "Keep", "visibility": "shared"}).get_json()["board"]
    alice.post(f"/api/boards/{board['id']}/images", json={"ids": [image["id"]]})
    studio.gallery.index.db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{studio.gallery.index.path}{suffix}").unlink(missing_ok=True)

    app, studio = _app(tmp_path)  # a new index, built from the files
    studio.gallery.reconcile()
    alice, bob = As(app.test_client(), "alice"), As(app.test_client(), "bob")
    assert [b["count"] for b in alice.get("/api/boards").get_json()["boards"]] == [1]
    assert [i["id"] for i in bob.get(f"/api/images?board={board['id']}").get_json()["items"]] == [image["id"]]


def test_without_accounts_the_studio_is_unchanged(tmp_path):
    app, studio = _app(tmp_path)
    studio.set_user_names(lambda: frozenset())
    c = As(app.test_client(), None)
    job = _generate(c)
    image = job["images"][0]
    assert job["owner"] is None and image["owner"] is None
    assert not image["path"].startswith(("alice/", "studio/"))
    assert image["path"].count("/") == 1  # YYYY-MM-DD/<file>, as always
    board = c.post("/api/boards", json={"name": "All"}).get_json()["board"]
    assert board["owner"] is None and board["writable"]


class FeedRecorder:
    def __init__(self) -> None:
        self.sent: list[tuple[object, list[str] | None]] = []

    def __call__(self, event, rooms=None) -> None:
        self.sent.append((event, rooms))


def test_gallery_events_reach_only_those_who_may_see_the_image(studio_app):
    studio, c, _ = studio_app
    feed = FeedRecorder()
    studio.gallery.feed = feed
    image = _generate(c["alice"])["images"][0]
    added = [(e.name, rooms) for e, rooms in feed.sent if e.name == "gallery.added"]
    assert added == [("gallery.added", ["gallery", "gallery@alice"])]
    board = c["alice"].post("/api/boards", json={"name": "s", "visibility": "shared"}).get_json()["board"]
    c["alice"].post(f"/api/boards/{board['id']}/images", json={"ids": [image["id"]]})
    feed.sent.clear()
    c["alice"].patch(f"/api/images/{image['id']}", json={"favorite": True})
    assert [(e.name, rooms) for e, rooms in feed.sent] == [
        ("gallery.updated", ["gallery", "gallery@alice", "gallery@shared"])
    ]


def test_the_queue_feed_shows_others_jobs_as_anonymous_places(studio_app):
    studio, c, _ = studio_app
    assert c["alice"].post("/api/queue/pause").status_code == 403  # everyone's queue: an admin's call
    assert c["root"].post("/api/queue/pause").status_code == 200
    sent = FeedRecorder()
    studio.bus.feed = sent  # the service's bus: where queue.updated goes
    a = c["alice"].post("/api/jobs", json={"prompt": "a", "provider": "instant"}).get_json()["job"]["id"]
    time.sleep(0.3)  # past the coalescing interval: the second submit's snapshot goes out whole
    b = c["bob"].post("/api/jobs", json={"prompt": "b", "provider": "instant"}).get_json()["job"]["id"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        last = {rooms[0]: e for e, rooms in sent.sent if isinstance(e, QueueUpdated) and len(e.queued) == 2}
        if len(last) == 4:
            break
        time.sleep(0.05)
    assert last["queue"].queued == [a, b]
    assert last["queue@alice"].queued == [a, None]
    assert last["queue@bob"].queued == [None, b]
    assert last["queue@root"].queued == [None, None]
    # GET /api/health: the same places
    assert c["bob"].get("/api/health").get_json()["queue"]["queued"] == [None, b]
    assert c["root"].get("/api/health").get_json()["queue"]["queued"] == [a, b]
    # GET /api/queue: a member sees their own job at its true place, nothing of the other's
    items = c["bob"].get("/api/queue").get_json()["items"]
    assert [(i["job_id"], i["position"]) for i in items] == [(b, 2)]
    assert c["bob"].post(f"/api/jobs/{a}/move", json={"to": "back"}).status_code == 404
    assert c["bob"].post("/api/queue/cancel").get_json()["cancelled"] == [b]
    assert c["root"].get(f"/api/jobs/{a}").get_json()["job"]["status"] == "queued"


class SocketAs:
    """A Socket.IO test client acting for one user: who the socket is (the accounts
    handshake's job) is set by the test around each call."""

    def __init__(self, socketio, app, current: list[Principal], name: str) -> None:
        self.client, self.current, self.principal = socketio.test_client(app), current, AS[name]

    def emit(self, event: str, payload: dict) -> dict:
        self.current[0] = self.principal
        return self.client.emit(event, payload, callback=True)

    def events(self, name: str) -> list[dict]:
        return [e["args"][0] for e in self.client.get_received() if e["name"] == name]


@pytest.fixture
def sockets(tmp_path, monkeypatch):
    from backend.web import socket_handlers

    app, studio = _app(tmp_path)
    current: list[Principal] = [ROOT]
    monkeypatch.setattr(socket_handlers, "_socket_principal", lambda sid: current[0])
    socketio = app.extensions["socketio"]
    return app, studio, lambda name: SocketAs(socketio, app, current, name)


def test_subscribing_to_another_members_job_or_matrix_is_refused_as_unknown(sockets):
    app, studio, connect = sockets
    client = app.test_client()
    job = _generate(As(client, "alice"))
    bob, alice = connect("bob"), connect("alice")
    refused = bob.emit("subscribe", {"job_id": job["id"]})
    unknown = bob.emit("subscribe", {"job_id": "f" * 32})
    assert (
        refused
        == unknown
        == {
            "ok": False,
            "error": {"code": "not_found", "message": "no job with this id", "field": "job_id"},
        }
    )
    assert bob.events("job.succeeded") == []
    ok = alice.emit("subscribe", {"job_id": job["id"]})
    assert ok["ok"] and ok["job"]["owner"] == "alice"
    body = {"base": {"prompt": "m", "provider": "instant"}, "axes": [{"field": "seed", "values": [1, 2]}]}
    matrix = As(client, "alice").post("/api/matrix", json=body)
    assert matrix.status_code == 202, matrix.get_json()
    matrix_id = matrix.get_json()["matrix"]["id"]
    assert bob.emit("subscribe", {"matrix_id": matrix_id})["error"]["code"] == "not_found"
    assert As(client, "bob").get(f"/api/matrix/{matrix_id}").status_code == 404
    assert alice.emit("subscribe", {"matrix_id": matrix_id})["ok"]


def test_the_gallery_feed_reaches_the_owner_and_admins_only(sockets):
    app, studio, connect = sockets
    alice, bob, root = connect("alice"), connect("bob"), connect("root")
    for sock in (alice, bob, root):
        assert sock.emit("subscribe", {"topic": "gallery"})["ok"]
    image = _generate(As(app.test_client(), "alice"))["images"][0]
    assert [e["image"]["id"] for e in alice.events("gallery.added")] == [image["id"]]
    assert [e["image"]["id"] for e in root.events("gallery.added")] == [image["id"]]
    assert bob.events("gallery.added") == []
    # in a shared board, its changes reach every user, once each
    c = As(app.test_client(), "alice")
    board = c.post("/api/boards", json={"name": "s", "visibility": "shared"}).get_json()["board"]
    c.post(f"/api/boards/{board['id']}/images", json={"ids": [image["id"]]})
    c.patch(f"/api/images/{image['id']}", json={"favorite": True})
    for sock in (alice, bob, root):
        assert [e["image"]["favorite"] for e in sock.events("gallery.updated")] == [True]


def test_a_hand_edited_boards_file_is_read_as_far_as_it_makes_sense(tmp_path):
    from backend.storage.boards import BoardStore

    path = tmp_path / "gallery" / ".atelier" / "boards.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert BoardStore(path).all() == []  # unreadable: none, and the studio starts
    path.write_text(
        '{"boards": [7, {"name": "no id"}, {"id": "b1", "name": "ok", "visibility": "public",'
        ' "paths": ["a/x.png", 3, "a/x.png"], "cover": 5, "owner": ["alice"]}]}'
    )
    (board,) = BoardStore(path).all()
    assert (board.id, board.visibility, board.paths, board.cover, board.owner) == (
        "b1",
        "private",
        ["a/x.png"],
        None,
        None,
    )
    assert BoardStore(path).shared_paths() == frozenset()
