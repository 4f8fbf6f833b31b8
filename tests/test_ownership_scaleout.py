"""Two web instances sharing Redis: a gallery event sent by one reaches, through the other,
only those who may see the image (its owner and the admins; everyone once it is in a shared
board), each once."""

from __future__ import annotations

import time

import pytest

from tests.support.accounts import Browser, add_user, setup_admin, wait_until
from tests.support.providers import tiny_png
from tests.support.redis_server import RedisServer, require_redis_server
from tests.support.server import ServerProcess
from tests.support.sio import EventRecorder


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    require_redis_server()
    tmp = tmp_path_factory.mktemp("ownership-pair")
    redis = RedisServer(tmp).start()
    shared = {
        "ATELIER_REDIS_URL": redis.url,
        "ATELIER_GALLERY_DIR": str(tmp / "gallery"),
        "ATELIER_DATA_DIR": str(tmp / "data"),
        "ATELIER_TRUST_PROXY": "1",
    }
    a = ServerProcess(tmp, "eventlet", **shared).start()
    b = ServerProcess(tmp, "threading", **shared).start()
    yield a, b
    a.stop()
    b.stop()
    redis.stop()


def test_gallery_events_through_redis_reach_only_those_who_may_see(pair):
    a, b = pair
    root = setup_admin(a, "root")
    add_user(root, "alice")
    add_user(root, "bob")
    alice_a, alice_b, bob_b = Browser(a).sign_in("alice"), Browser(b).sign_in("alice"), Browser(b).sign_in("bob")
    sockets = {
        name: EventRecorder(b.url, headers={"Cookie": f"atelier_session={browser.cookie}"}).connect()
        for name, browser in (("root", root), ("alice", alice_b), ("bob", bob_b))
    }
    try:
        for client in sockets.values():
            assert client.subscribe(topic="gallery")["ok"]
        r = alice_a.post("/api/images/import", files={"file": ("mine.png", tiny_png((3, 4, 5)), "image/png")})
        assert r.status_code == 201, r.text
        image = r.json()["images"][0]
        assert image["path"].startswith("alice/imported/") and image["owner"] == "alice"
        for name in ("root", "alice"):
            added = sockets[name].wait_event("gallery.added")
            assert added["image"]["id"] == image["id"]
        board = alice_a.post("/api/boards", json={"name": "s", "visibility": "shared"}).json()["board"]
        alice_a.post(f"/api/boards/{board['id']}/images", json={"ids": [image["id"]]})
        alice_a.patch(f"/api/images/{image['id']}", json={"favorite": True})
        for name in ("root", "alice", "bob"):
            assert sockets[name].wait_event("gallery.updated")["image"]["favorite"] is True
        time.sleep(0.5)  # a duplicate or a stray event would be here by now
        counts = {n: [e for e, _ in c.events].count("gallery.updated") for n, c in sockets.items()}
        assert counts == {"root": 1, "alice": 1, "bob": 1}
        assert [e for e, _ in sockets["bob"].events if e == "gallery.added"] == []
        assert wait_until(lambda: bob_b.get(f"/api/images/{image['id']}").status_code == 200)
    finally:
        for client in sockets.values():
            client.close()
