"""Reading and exporting the gallery in bulk, on a real server: pages of up to 1,000, the
streamed NDJSON listing, and the ZIP export of a selection of thousands of ids by POST."""

from __future__ import annotations

import io
import json
import random
import zipfile

import pytest
import requests

from tests.support.images import plain_png, write_atelier_image
from tests.support.server import ServerProcess

COUNT = 5000


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("bulk"), "eventlet")
    for i in range(COUNT):
        write_atelier_image(
            proc.gallery, f"bulk prompt {i}", i, provider="instant" if i % 4 == 0 else "offline", seed=i
        )
    proc.start()
    yield proc
    proc.stop()


def pages(srv, limit: int, **params) -> tuple[list[dict], int]:
    items, cursor, requests_made = [], None, 0
    while True:
        r = srv.get("/api/images", params={"limit": limit, **params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        requests_made += 1
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return items, requests_made


def ndjson(srv, **params) -> tuple[list[dict], requests.Response]:
    r = requests.get(srv.url + "/api/images.ndjson", params=params, timeout=60, stream=True)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in r.iter_lines() if line]
    return lines, r


def read_zip(r: requests.Response) -> zipfile.ZipFile:
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert archive.testzip() is None
    return archive


# --- the listing ---------------------------------------------------------------------------
def test_pages_of_1000_list_everything_once_in_5_requests(big):
    items, made = pages(big, 1000)
    assert made == 5 and len(items) == COUNT and len({i["id"] for i in items}) == COUNT
    assert [i["seed"] for i in items] == list(range(COUNT - 1, -1, -1))  # newest first
    r = big.get("/api/images", params={"limit": 1001})
    assert r.status_code == 422 and r.json()["error"]["field"] == "limit"


@pytest.mark.parametrize("params", [{}, {"provider": "instant", "order": "oldest"}, {"q": "prompt 12"}])
def test_ndjson_streams_what_paging_lists(big, params):
    lines, r = ndjson(big, **params)
    paged, _ = pages(big, 1000, **params)
    assert lines == paged and len(lines) == int(r.headers["X-Total-Count"])
    assert len(lines) > 0


def test_ndjson_refuses_bad_parameters_naming_them(big):
    for params, field in (
        ({"limit": "10"}, "limit"),  # the stream has no pages
        ({"cursor": "x"}, "cursor"),
        ({"provider": "nope"}, "provider"),
        ({"from": "yesterday"}, "from"),
        ({"order": "random"}, "order"),
        ({"ids": "a;b"}, "ids"),
    ):
        r = big.get("/api/images.ndjson", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["field"] == field


# --- export of a selection by POST -------------------------------------------------------------
def test_post_export_of_5000_ids_keeps_their_order(big):
    items, _ = pages(big, 1000)
    chosen = list(items)
    random.Random(7).shuffle(chosen)
    r = requests.post(big.url + "/api/export.zip", json={"ids": [i["id"] for i in chosen]}, timeout=120)
    archive = read_zip(r)
    names = [n for n in archive.namelist() if not n.startswith("metadata.")]
    assert names == [i["path"] for i in chosen]
    meta = json.loads(archive.read("metadata.json"))
    assert meta["count"] == COUNT and meta["not_found"] == [] and r.headers["X-Not-Found-Count"] == "0"
    assert [m["id"] for m in meta["images"]] == [i["id"] for i in chosen]
    assert archive.read(chosen[0]["path"]) == big.get(chosen[0]["url"]).content


def test_post_export_skips_and_lists_unknown_ids_and_repeats_once(big):
    items, _ = pages(big, 3, order="oldest")
    first = items[:3]
    ids = [first[2]["id"], "not-an-image", first[0]["id"], first[2]["id"], "gone0000"]
    r = requests.post(big.url + "/api/export.zip", json={"ids": ids}, timeout=60)
    archive = read_zip(r)
    assert [n for n in archive.namelist() if not n.startswith("metadata.")] == [first[2]["path"], first[0]["path"]]
    assert json.loads(archive.read("metadata.json"))["not_found"] == ["not-an-image", "gone0000"]
    assert r.headers["X-Not-Found-Count"] == "2"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"ids": []}, "ids"),
        ({}, "ids"),
        ({"ids": None}, "ids"),
        ({"ids": "abc"}, "ids"),
        ({"ids": "a,b"}, "ids"),
        ({"ids": [1, 2]}, "ids"),
        ({"ids": [None]}, "ids"),
        ({"ids": [["x"]]}, "ids"),
        ({"ids": ["../etc/passwd"]}, "ids"),
        ({"ids": ["x" * 65]}, "ids"),
        ({"ids": ["a"] * 50_001}, "ids"),
        ({"ids": ["a"], "q": "all"}, "q"),
    ],
)
def test_post_export_refuses_bad_ids_with_a_422_naming_them(big, body, field):
    r = requests.post(big.url + "/api/export.zip", json=body, timeout=30)
    assert r.status_code == 422, r.text[:300]
    error = r.json()["error"]
    assert error["field"] == field
    if body.get("ids") == []:
        assert "empty selection exports nothing" in error["message"]


def test_post_export_answers_clearly_when_nothing_can_be_exported(big):
    r = requests.post(big.url + "/api/export.zip", json={"ids": ["nothere1", "nothere2"]}, timeout=30)
    assert r.status_code == 404 and r.json()["error"]["field"] == "ids"
    r = requests.post(big.url + "/api/export.zip", data=b"ids=1,2", timeout=30)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"


def test_the_get_form_keeps_working(big):
    items, _ = pages(big, 4)
    archive = read_zip(big.get("/api/export.zip", params={"ids": ",".join(i["id"] for i in items[:4])}))
    names = sorted(n for n in archive.namelist() if not n.startswith("metadata."))
    assert names == sorted(i["path"] for i in items[:4])


# --- paging stays exact while the gallery changes ------------------------------------------------
def test_paging_by_1000_is_exact_while_images_are_added_and_removed(tmp_path):
    srv = ServerProcess(tmp_path, "eventlet")
    for i in range(1500):
        write_atelier_image(srv.gallery, f"moving prompt {i}", i, seed=i)
    srv.start()
    try:
        for order in ("newest", "oldest"):
            first = srv.get("/api/images", params={"limit": 1000, "order": order}).json()
            seen = first["items"]
            everything, _ = pages(srv, 1000, order=order)
            unseen = everything[1000:]
            # between the two requests: some not yet listed and some already listed are deleted,
            # and new images arrive (newest of all)
            gone = [i["id"] for i in unseen[::50]] + [i["id"] for i in seen[:3]]
            r = srv.post("/api/images/delete", json={"ids": gone})
            assert sorted(r.json()["deleted"]) == sorted(gone)
            added = [
                srv.post(
                    "/api/images/import", files={"file": (f"new{k}.png", plain_png((k, 1, 2)), "image/png")}
                ).json()["images"][0]["id"]
                for k in range(3)
            ]
            second = srv.get("/api/images", params={"limit": 1000, "order": order, "cursor": first["next_cursor"]})
            rest = second.json()["items"]
            expected = [i["id"] for i in unseen if i["id"] not in gone]
            # nothing seen twice, nothing skipped; new images come where the order puts them
            assert [i["id"] for i in rest] == (expected if order == "newest" else expected + added)
            for image_id in gone:
                srv.post(f"/api/images/{image_id}/restore")
            srv.post("/api/images/delete", json={"ids": added})
    finally:
        srv.stop()
