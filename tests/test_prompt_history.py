"""Prompt history (issue 15): ``GET /api/prompts`` lists the distinct prompts used, most
recent first, with how often and when last and the settings of their last job; ``q``
searches by words; ``DELETE /api/prompts/<id>`` removes one; it survives a restart.

Real server for the API, the restart and the bad inputs; in process for the store at
100,000 prompts (its own table, read through its index: the plan is asserted, not a time).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backend.storage.prompt_store import PromptStore


@pytest.fixture
def srv(make_server):
    return make_server("eventlet")


def _items(srv, query: str = "") -> list[dict]:
    r = srv.get("/api/prompts" + query)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_distinct_prompts_most_recent_first_with_uses_and_last_settings(srv):
    srv.wait_job(srv.submit(prompt="a red boat", provider="instant", seed=1, steps=2)["id"])
    srv.wait_job(srv.submit(prompt="a blue kite", provider="instant", seed=2)["id"])
    srv.wait_job(
        srv.submit(
            prompt="a red boat",
            negative_prompt="fog",
            provider="instant",
            seed=3,
            steps=4,
            n=2,
            aspect_ratio="16:9",
        )["id"]
    )
    items = _items(srv)
    assert [i["prompt"] for i in items] == ["a red boat", "a blue kite"]
    boat = items[0]
    assert boat["uses"] == 2 and boat["first_used"] <= boat["last_used"]
    assert boat["settings"] == {
        "negative_prompt": "fog",
        "provider": "instant",
        "model": "test",
        "style": "none",
        "aspect_ratio": "16:9",
        "n": 2,
        "seed": 3,
        "steps": 4,
        "quality": None,
    }
    assert items[1]["uses"] == 1 and items[1]["settings"]["seed"] == 2


def test_search_by_words_any_case_every_word_and_wildcards_are_text(srv):
    for prompt in ("A Red boat at dawn", "a red kite", "boat in the fog", "100% cotton_shirt"):
        srv.submit(prompt=prompt, provider="instant")
    assert [i["prompt"] for i in _items(srv, "?q=BOAT")] == ["boat in the fog", "A Red boat at dawn"]
    assert [i["prompt"] for i in _items(srv, "?q=red%20boat")] == ["A Red boat at dawn"]
    assert [i["prompt"] for i in _items(srv, "?q=100%25")] == ["100% cotton_shirt"]
    assert [i["prompt"] for i in _items(srv, "?q=n_s")] == ["100% cotton_shirt"]
    assert _items(srv, "?q=%25%25%25") == [] and _items(srv, "?q=_") == [i for i in _items(srv) if "_" in i["prompt"]]


def test_a_wildcard_template_is_kept_as_typed(make_server, tmp_path):
    srv = make_server("eventlet", ATELIER_WILDCARDS_DIR=str(tmp_path / "none"))
    srv.wait_job(srv.submit(prompt="a {red|blue} boat", provider="instant", seed=1, n=3)["id"])
    assert [i["prompt"] for i in _items(srv)] == ["a {red|blue} boat"]


def test_pages_follow_the_cursor_and_delete_removes_an_entry_for_good(srv):
    for i in range(5):
        srv.submit(prompt=f"prompt number {i}", provider="instant")
    first = srv.get("/api/prompts?limit=2").json()
    second = srv.get(f"/api/prompts?limit=2&cursor={first['next_cursor']}").json()
    third = srv.get(f"/api/prompts?limit=2&cursor={second['next_cursor']}").json()
    seen = [i["prompt"] for page in (first, second, third) for i in page["items"]]
    assert seen == [f"prompt number {i}" for i in (4, 3, 2, 1, 0)] and third["next_cursor"] is None

    gone = first["items"][0]
    r = requests_delete(srv, f"/api/prompts/{gone['id']}")
    assert r.status_code == 204
    assert requests_delete(srv, f"/api/prompts/{gone['id']}").status_code == 404
    assert gone["prompt"] not in [i["prompt"] for i in _items(srv)]
    srv.restart()
    assert [i["prompt"] for i in _items(srv)] == [f"prompt number {i}" for i in (3, 2, 1, 0)]
    srv.wait_job(srv.submit(prompt="prompt number 4", provider="instant")["id"])  # used again: back, once
    after = _items(srv)
    assert after[0]["prompt"] == "prompt number 4" and after[0]["uses"] == 1


def requests_delete(srv, path: str):
    import requests

    return requests.delete(srv.url + path, timeout=10)


def test_bad_queries_are_422_naming_the_parameter(srv):
    srv.submit(prompt="something", provider="instant")
    for query, field in (
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("q=" + "x" * 1001, "q"),
    ):
        r = srv.get(f"/api/prompts?{query}")
        assert r.status_code == 422, (query, r.text)
        assert r.json()["error"]["field"] == field
    for cursor in ("nonsense", "WyJhIiwiYiJd", "WyIyMDI2IiwiOTk5OTk5OTk5OTk5OTk5OTk5OTk5Il0"):
        r = srv.get(f"/api/prompts?cursor={cursor}")
        assert r.status_code == 422, (cursor, r.text)
        assert r.json()["error"]["field"] == "cursor"
    assert requests_delete(srv, "/api/prompts/123456").status_code == 404
    assert requests_delete(srv, "/api/prompts/abc").status_code == 404
    assert len(_items(srv)) == 1


def test_a_hundred_thousand_prompts_are_listed_and_searched_from_their_own_table(tmp_path: Path):
    store = PromptStore(tmp_path / "prompts.sqlite3")
    settings = json.dumps({"provider": "offline"})
    rows = [
        (
            "",
            f"prompt {i} of a {'harbour' if i % 1000 == 0 else 'meadow'}",
            f"2026-01-01T00:{i // 6000:02d}:{i % 60:02d}.{i:06d}Z",
        )
        for i in range(100_000)
    ]
    with store.db.transaction() as conn:
        conn.executemany(
            "INSERT INTO prompts (owner, prompt, uses, first_used, last_used, settings) VALUES (?, ?, 1, ?, ?, ?)",
            [(o, p, t, t, settings) for o, p, t in rows],
        )
    newest = sorted(rows, key=lambda r: r[2], reverse=True)
    page = store.page(50)
    assert [e.prompt for e in page] == [r[1] for r in newest[:50]]
    cursor = (page[-1].last_used, page[-1].id)
    assert [e.prompt for e in store.page(50, before=cursor)] == [r[1] for r in newest[50:100]]
    found = store.page(200, "HARBOUR")
    assert len(found) == 100 and all("harbour" in e.prompt for e in found)
    plan = " ".join(
        str(tuple(r))
        for r in store.db.query(
            "EXPLAIN QUERY PLAN SELECT id FROM prompts WHERE owner = ? AND (last_used, id) < (?, ?)"
            " ORDER BY last_used DESC, id DESC LIMIT 50",
            ("", "2026", 1),
        )
    )
    assert "prompts_recent" in plan and "TEMP B-TREE" not in plan  # the index gives the order: no sort
    store.record("prompt 7 of a meadow", {"provider": "instant"}, "2027-01-01T00:00:00Z")
    top = store.page(1)[0]
    assert (top.prompt, top.uses, top.settings) == ("prompt 7 of a meadow", 2, {"provider": "instant"})
    assert store.delete(top.id) and not store.delete(top.id)
