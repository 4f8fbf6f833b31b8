"""Browsing the gallery: keyset paging, filters, full-text search, totals, bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.images import BASE_TIME, write_atelier_image
from tests.support.server import ServerProcess

PROMPTS = [
    "serene mountain lake at dawn",
    "cyberpunk street market in the rain",
    "portrait of an old fisherman",
    'a sign that says "open" (neon)',
    "mountain goat on a cliff",
    "bowl of ramen, steam rising",
]
COUNT = 60


# queries against one server: the async mode changes nothing here (tests/conftest.py)
@pytest.fixture(scope="module", params=["eventlet"])
def gallery_server(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"browse-{request.param}")
    proc = ServerProcess(tmp, request.param)
    for i in range(COUNT):
        write_atelier_image(
            proc.gallery,
            PROMPTS[i % len(PROMPTS)] + f" number{i}",
            i,
            negative="blurry" if i % 2 else "watermark, text",
            provider="offline" if i % 3 else "instant",
            model="renderer" if i % 4 else "sdxl-turbo",
            style="anime" if i % 5 == 0 else "none",
            aspect_ratio="16:9" if i % 2 else "1:1",
            session="tab-a" if i < 20 else "tab-b",
            job_id=f"job{i // 10}",
            seed=1000 + i,
        )
    proc.start()
    yield proc
    proc.stop()


def listing(srv, **params):
    r = srv.get("/api/images", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def all_pages(srv, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        page = listing(srv, **params, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def test_first_page_is_newest_with_total_and_new_fields(gallery_server):
    page = listing(gallery_server, limit=10)
    assert page["total"] == COUNT and len(page["items"]) == 10
    first = page["items"][0]
    assert first["seed"] == 1000 + COUNT - 1
    assert first["favorite"] is False
    assert first["thumb_url"].startswith(f"/thumbs/256/{first['id']}/") and first["thumb_512_url"]


@pytest.mark.parametrize("order", ["newest", "oldest"])
def test_cursor_paging_visits_every_image_once_in_order(gallery_server, order):
    items = all_pages(gallery_server, limit=7, order=order)
    assert len(items) == COUNT and len({i["id"] for i in items}) == COUNT
    times = [i["created_at"] for i in items]
    assert times == sorted(times, reverse=order == "newest")


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"provider": "instant"}, lambda i: i % 3 == 0),
        ({"model": "sdxl-turbo"}, lambda i: i % 4 == 0),
        ({"style": "anime"}, lambda i: i % 5 == 0),
        ({"aspect_ratio": "16:9"}, lambda i: i % 2 == 1),
        ({"session": "tab-a"}, lambda i: i < 20),
        ({"job": "job3"}, lambda i: 30 <= i < 40),
        ({"provider": "offline", "aspect_ratio": "1:1"}, lambda i: i % 3 and i % 2 == 0),
        ({"from": (BASE_TIME + timedelta(minutes=10)).isoformat()}, lambda i: i >= 10),
        (
            {"from": (BASE_TIME + timedelta(minutes=10)).isoformat(), "to": "2026-03-01T12:20:00Z"},
            lambda i: 10 <= i < 20,
        ),
        ({"to": "2026-03-01"}, lambda i: True),
        ({"to": "2026-02-28"}, lambda i: False),
        ({"q": "mountain"}, lambda i: i % 6 in (0, 4)),
        ({"q": "mount"}, lambda i: i % 6 in (0, 4)),  # prefix search
        ({"q": "MOUNTAIN lake"}, lambda i: i % 6 == 0),
        ({"q": "watermark"}, lambda i: i % 2 == 0),  # negative prompt too
        ({"q": "seed:1007"}, lambda i: i == 7),
        ({"q": "model:turbo"}, lambda i: i % 4 == 0),
        ({"q": "ramen model:sdxl"}, lambda i: i % 6 == 5 and i % 4 == 0),
        ({"q": "number12"}, lambda i: i == 12),
    ],
)
def test_filters_and_search_select_exactly_the_right_images(gallery_server, params, expected):
    items = all_pages(gallery_server, limit=200, **params)
    seeds = sorted(i["seed"] - 1000 for i in items)
    assert seeds == [i for i in range(COUNT) if expected(i)]
    assert listing(gallery_server, **params)["total"] == len(seeds)


@pytest.mark.parametrize(
    "q",
    [
        '"',
        '"open',
        "*",
        "open*",
        "NEAR(open neon)",
        "(neon",
        "neon)",
        "a AND OR NOT",
        "^open",
        "col:x",
        "'; DROP",
        "{}[]",
        "-",
        "“smart quotes”",
        "\\",
        "%",
        "_",
        "NEAR",
        "seed:",
        "model:",
    ],
)
def test_fts_syntax_in_q_is_searched_as_text_never_a_500(gallery_server, q):
    r = gallery_server.get("/api/images", params={"q": q})
    assert r.status_code == 200, r.text
    assert r.json()["total"] == len(r.json()["items"]) or r.json()["next_cursor"]


def test_quotes_and_parentheses_find_their_words(gallery_server):
    assert listing(gallery_server, q='"open" (neon)')["total"] == COUNT // len(PROMPTS)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"cursor": "%%%garbage"}, "cursor"),
        ({"cursor": "bm90LWpzb24"}, "cursor"),
        ({"cursor": "WzEsMl0"}, "cursor"),  # [1,2]: JSON, but not our shape
        ({"limit": "1001"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-45"}, "to"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
        ({"provider": "midjourney"}, "provider"),
        ({"style": "vaporwave"}, "style"),
        ({"aspect_ratio": "wide"}, "aspect_ratio"),
        ({"favorite": "maybe"}, "favorite"),
        ({"order": "sideways"}, "order"),
        ({"session": "../etc"}, "session"),
        ({"job": "a b"}, "job"),
        ({"colour": "red"}, "colour"),
        ({"q": "seed:abc"}, "q"),
    ],
)
def test_bad_listing_parameters_are_422_naming_the_parameter(gallery_server, params, field):
    r = gallery_server.get("/api/images", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field and r.json()["error"]["message"]
