"""A job end to end through the real server and a real Socket.IO client, in both async modes."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from PIL import Image

from backend.services.gallery import image_id_for
from backend.storage.infotext import parse_infotext
from tests.support.providers import tiny_png
from tests.support.sio import EventRecorder

pytestmark = pytest.mark.both_modes  # sockets, scheduling, watcher, crash recovery differ per mode

TERMINAL = {"job.succeeded", "job.failed", "job.cancelled"}


def _done(job_id):
    return lambda events: any(e in TERMINAL and d.get("job_id") == job_id for e, d in events if isinstance(d, dict))


def test_offline_job_streams_every_event_in_order_and_saves_the_image(server, sio):
    client = sio()
    job = server.submit(prompt="serene mountain lake at sunset", style="fantasy", aspect_ratio="16:9", seed=1234, n=2)
    ack = client.subscribe(job_id=job["id"])
    assert ack["ok"] is True and ack["job"]["id"] == job["id"]
    client.wait_for(_done(job["id"]))

    events = client.job_events(job["id"])
    names = [e for e, _ in events]
    seqs = [d["seq"] for _, d in events]
    assert seqs == list(range(1, len(seqs) + 1)), "seq starts at 1 and rises by one, in arrival order"
    assert names[0] == "job.queued" and events[0][1]["position"] >= 1
    assert names[1] == "job.started"
    assert names[-1] == "job.succeeded"
    # the ack came before any replayed event
    order = [e for e, _ in client.events]
    assert order.index("ack:subscribe") < order.index("job.queued")

    steps = [d for e, d in events if e == "job.progress"]
    assert [d["step"] for d in steps if d["index"] == 0] == list(range(1, 9)), "eight real steps per image"
    assert all(0 <= d["progress"] <= 1 for d in steps)
    assert [d["progress"] for d in steps] == sorted(d["progress"] for d in steps)

    previews = [d for e, d in events if e == "job.preview"]
    assert previews, "at least one preview"
    assert isinstance(previews[0]["data"], bytes), "previews arrive as binary, not base64"
    assert max(previews[0]["width"], previews[0]["height"]) <= 512
    assert previews[0]["mime"] == "image/jpeg" and previews[0]["data"][:2] == b"\xff\xd8"

    images = [d for e, d in events if e == "job.image"]
    assert sorted(d["index"] for d in images) == [0, 1]
    final = events[-1][1]["images"]
    assert {i["seed"] for i in final} == {1234, 1235}
    for image in final:
        path = server.gallery / image["path"]
        assert path.is_file() and path.name.endswith(f"_offline_serene-mountain-lake-at-sunset_{image['seed']}.png")
        assert path.parent.name == image["created_at"][:10]
        with Image.open(path) as im:
            assert im.size == (1344, 768) == (image["width"], image["height"])
            assert "parameters" in im.text and "atelier" in im.text
            info = parse_infotext(im.text["parameters"])
        assert info["prompt"].startswith("cinematic film still of serene mountain lake at sunset")
        assert info["params"]["Seed"] == str(image["seed"]) and info["params"]["Size"] == "1344x768"
        assert "Negative prompt" not in info["params"]
        # the file is served, byte for byte
        served = server.get(image["url"])
        assert served.status_code == 200 and served.content == path.read_bytes()
        assert served.headers["Content-Type"] == "image/png"

    listing = server.get("/api/images").json()["items"]
    assert {i["id"] for i in listing} >= {i["id"] for i in final}
    stored = server.get(f"/api/jobs/{job['id']}").json()["job"]
    assert stored["status"] == "succeeded" and stored["progress"] == 1.0 and len(stored["images"]) == 2


def test_cancel_a_running_job(server, sio):
    client = sio()
    job = server.submit(prompt="a gate that never opens", provider="gated")
    client.subscribe(job_id=job["id"])
    client.wait_event("job.progress", job["id"])
    r = server.post(f"/api/jobs/{job['id']}/cancel")
    assert r.status_code == 202 and r.json()["job"]["cancel_requested"] is True
    client.wait_event("job.cancelled", job["id"])
    assert server.get(f"/api/jobs/{job['id']}").json()["job"]["status"] == "cancelled"
    again = server.post(f"/api/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert not list(server.gallery.rglob("*.png")), "a cancelled job leaves no image"


def test_cancel_a_queued_job(server, sio):
    client = sio()
    blocker = server.submit(prompt="holds the only slot", provider="gated")
    queued = server.submit(prompt="waits behind it", provider="gated")
    assert server.get(f"/api/jobs/{queued['id']}").json()["job"]["position"] == 1
    r = server.post(f"/api/jobs/{queued['id']}/cancel")
    assert r.status_code == 200 and r.json()["job"]["status"] == "cancelled"
    ack = client.subscribe(job_id=queued["id"])
    assert ack["job"]["status"] == "cancelled"
    client.wait_event("job.cancelled", queued["id"])
    server.open_gate()
    assert server.wait_job(blocker["id"])["status"] == "succeeded"


def test_reconnect_with_after_seq_misses_nothing(server, sio):
    first = sio()
    job = server.submit(prompt="reconnect me", provider="gated", n=2)
    first.subscribe(job_id=job["id"])
    first.wait_event("job.progress", job["id"])
    seen = first.job_events(job["id"])
    last_seen = seen[-1][1]["seq"]
    first.disconnect()

    server.open_gate()  # the job goes on while nobody listens
    server.wait_job(job["id"])

    second = sio()
    ack = second.subscribe(job_id=job["id"], after_seq=last_seen)
    assert ack["ok"] and ack["job"]["status"] == "succeeded"
    second.wait_for(_done(job["id"]))
    replayed = second.job_events(job["id"])
    seqs = [d["seq"] for _, d in seen] + [d["seq"] for _, d in replayed]
    assert seqs == list(range(1, ack["last_seq"] + 1)), "together the two connections saw every seq once"
    assert [e for e, _ in replayed].count("job.image") == 2


def test_queue_and_gallery_feeds(server, sio):
    client = sio()
    assert client.subscribe(topic="gallery") == {"ok": True, "topic": "gallery"}
    assert client.subscribe(topic="queue")["ok"]
    running = server.submit(prompt="holds the gated slot", provider="gated")
    waiting = server.submit(prompt="waits for it", provider="gated")

    def latest_queue(events):
        snapshots = [d for e, d in events if e == "queue.updated"]
        return snapshots[-1] if snapshots else {"running": None, "queued": None}

    # the feed is a coalesced snapshot: transient states may be skipped, the latest one never is
    client.wait_for(
        lambda ev: (latest_queue(ev)["running"], latest_queue(ev)["queued"]) == ([running["id"]], [waiting["id"]])
    )
    server.open_gate()
    added = client.wait_event("gallery.added")
    assert added["image"]["job_id"] in (running["id"], waiting["id"]) and "ts" in added
    client.wait_for(lambda ev: sum(e == "gallery.added" for e, _ in ev) == 2)
    client.wait_for(lambda ev: latest_queue(ev)["running"] == [] and latest_queue(ev)["queued"] == [])
    assert client.call("unsubscribe", {"topic": "gallery"}) == {"ok": True}


def test_subscribe_errors(server, sio):
    client = sio()
    assert client.subscribe(job_id="no-such-job")["error"]["field"] == "job_id"
    assert client.subscribe(topic="weather")["ok"] is False
    assert client.call("subscribe", "just a string")["ok"] is False
    assert client.subscribe(job_id="x", after_seq=-1)["ok"] is False


def test_failing_providers_fail_their_job_and_the_server_goes_on(server, sio):
    client = sio()
    crash = server.submit(prompt="crash", provider="broken")
    garbage = server.submit(prompt="garbage", provider="garbage")
    refused = server.submit(prompt="refused", provider="refusing")
    for job in (crash, garbage, refused):
        client.subscribe(job_id=job["id"])
    errors = {j["id"]: client.wait_event("job.failed", j["id"])["error"] for j in (crash, garbage, refused)}
    assert errors[crash["id"]]["code"] == "provider_error"
    assert "simulated crash" in errors[crash["id"]]["message"]
    assert errors[garbage["id"]]["code"] == "bad_response"
    assert "not a readable image" in errors[garbage["id"]]["message"]
    assert errors[refused["id"]] == {
        "code": "moderation_blocked",
        "message": "the provider refused this prompt; rephrase it",
        "retryable": False,
    }
    assert not [p for p in Path(server.gallery).rglob("*") if p.is_file() and ".atelier" not in p.parts]
    ok = server.submit(prompt="still serving", provider="instant")
    assert server.wait_job(ok["id"])["status"] == "succeeded"


def test_retry_a_failed_job(server):
    failed = server.submit(prompt="crash", provider="broken")
    assert server.wait_job(failed["id"])["status"] == "failed"
    r = server.post(f"/api/jobs/{failed['id']}/retry")
    assert r.status_code == 202 and r.json()["job"]["retry_of"] == failed["id"]
    done = server.submit(prompt="fine", provider="instant")
    server.wait_job(done["id"])
    assert server.post(f"/api/jobs/{done['id']}/retry").status_code == 409


def _documented_fields() -> dict[str, tuple[set[str], set[str]]]:
    """event -> (fields always sent, optional fields), read from docs/events.md's tables,
    with the envelope each table names (job events: job_id, seq, ts; feed events: ts)."""
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "events.md").read_text(encoding="utf-8")
    out: dict[str, tuple[set[str], set[str]]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.replace("\\|", "/").strip().strip("|").split("|")]
        match = re.fullmatch(r"`([a-z]+\.[a-z]+)`", cells[0])
        if not match or len(cells) < 3:
            continue
        name, cell = match.group(1), cells[-2]
        required = {"job_id", "seq", "ts"} if name.startswith("job.") else {"ts"}
        optional: set[str] = set()
        for part in cell.split("<br>") if cell != "—" else []:
            field = re.match(r"`(\w+)`", part)
            assert field, f"docs/events.md: no field name in {part!r}"
            (optional if "(optional)" in part else required).add(field.group(1))
        out[name] = (required, optional)
    return out


def test_every_event_a_studio_sends_carries_exactly_the_fields_docs_events_md_lists(make_server, async_mode):
    """A recorded stream (a job's life, a favourite, a trash and restore, a hand-added file,
    a cancel, a failure), checked against the reference tables a client is written from;
    each job image is announced on the gallery feed once, after the job's own job.image."""
    documented = _documented_fields()
    assert len(documented) == 16, sorted(documented)
    server = make_server(async_mode, ATELIER_WATCH_INTERVAL_SECONDS="0.05")
    client = EventRecorder(server.url).connect()
    try:
        assert client.subscribe(topic="gallery")["ok"] and client.subscribe(topic="queue")["ok"]
        assert client.subscribe(topic="providers")["ok"]
        job = server.submit(prompt="a harbour", provider="gated", n=2)
        assert client.subscribe(job_id=job["id"])["ok"]
        queued = server.submit(prompt="cancelled while queued", provider="gated")
        assert client.subscribe(job_id=queued["id"])["ok"]
        assert server.post(f"/api/jobs/{queued['id']}/cancel").status_code == 200
        server.open_gate()
        client.wait_for(_done(job["id"]))
        failed = server.submit(prompt="refused", provider="refusing")
        assert client.subscribe(job_id=failed["id"])["ok"]
        client.wait_for(_done(failed["id"]))

        first, second = (d["image"] for e, d in client.job_events(job["id"]) if e == "job.image")
        assert requests.patch(f"{server.url}/api/images/{first['id']}", json={"favorite": True}).status_code == 200
        assert server.post("/api/images/delete", json={"ids": [second["id"]]}).status_code == 200
        assert server.post(f"/api/images/{second['id']}/restore").status_code == 200
        (server.gallery / "by-hand.png").write_bytes(tiny_png((1, 2, 3)))
        client.wait_for(lambda ev: any(e == "gallery.added" and d["image"]["path"] == "by-hand.png" for e, d in ev))
        saved = requests.put(f"{server.url}/api/providers/offline/settings", json={"concurrency": 2}, timeout=30)
        assert saved.status_code == 200, saved.text
        client.wait_for(lambda ev: any(e == "providers.changed" for e, _ in ev))
        # the queue feed is coalesced: its latest snapshot, an empty queue, always follows
        client.wait_for(lambda ev: any(e == "queue.updated" and d["queued"] == d["running"] == [] for e, d in ev))
        events = [(e, d) for e, d in client.events if not e.startswith("ack:")]
    finally:
        client.close()

    names = {e for e, _ in events}
    # every event but job.interrupted (Redis mode: a worker that stops answering),
    # matrix.updated (tests/test_matrix.py checks its fields against the same tables) and
    # gallery.indexing (a big folder's background index: tests/test_gallery_indexing.py)
    not_here = {"job.interrupted", "matrix.updated", "gallery.indexing"}
    assert names == set(documented) - not_here, [e for e, _ in events]
    for name, payload in events:
        required, optional = documented[name]
        assert required <= set(payload) <= required | optional, (name, sorted(payload))
        assert all(payload[f] is not None for f in optional & set(payload)), (name, payload)
    added = [d["image"]["id"] for e, d in events if e == "gallery.added"]
    assert sorted(added) == sorted([first["id"], second["id"], second["id"], image_id_for("by-hand.png")])
    for image in (first, second):
        order = [e for e, d in events if (d.get("image") or {}).get("id") == image["id"]]
        assert order[:2] == ["job.image", "gallery.added"], order
