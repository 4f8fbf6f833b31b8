"""Each provider-backed tool end to end: the real server, a local fake API, and the exact
multipart (or JSON) request the provider received; usage sums, estimates and the budget."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from backend.storage.metadata import read_embedded
from tests.fakes.gemini_api import FakeGemini
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.stability_api import FakeStability
from tests.support.cloud import FAST_SETTINGS
from tests.support.tools import data_url, error_of, gradient, import_image, mask_png, run_tool

STABILITY_KEY = "sk-tools-SECRET-stab"
OPENAI_KEY = "sk-tools-SECRET-openai"
GEMINI_KEY = "AIza-tools-SECRET-gem"


@pytest.fixture
def fakes():
    with FakeStability(STABILITY_KEY) as stab, FakeOpenAI(OPENAI_KEY) as oai, FakeGemini(GEMINI_KEY) as gem:
        yield stab, oai, gem


def _server(make_server, fakes, **env):
    stab, oai, gem = fakes
    return make_server(
        "eventlet",
        STABILITY_BASE_URL=stab.url,
        STABILITY_API_KEY=STABILITY_KEY,
        OPENAI_BASE_URL=oai.url + "/v1",
        OPENAI_API_KEY=OPENAI_KEY,
        GEMINI_BASE_URL=gem.url,
        GEMINI_API_KEY=GEMINI_KEY,
        **FAST_SETTINGS,
        **env,
    )


def _parts(recorded):
    return {p.name: p for p in recorded.parts()}


# operation -> (route, body fields, expected text parts)
STABILITY_CASES = {
    "inpaint": (
        "edit/inpaint",
        {"prompt": "a red door", "seed": 11},
        {"prompt": "a red door", "seed": "11", "output_format": "png"},
    ),
    "outpaint": (
        "edit/outpaint",
        {"left": 64, "down": 32, "prompt": "more sky", "seed": 5},
        {
            "left": "64",
            "right": "0",
            "up": "0",
            "down": "32",
            "prompt": "more sky",
            "seed": "5",
            "output_format": "png",
        },
    ),
    "remove-background": ("edit/remove-background", {}, {"output_format": "png"}),
    "search-replace": (
        "edit/search-and-replace",
        {"prompt": "a cat", "search_prompt": "dog", "seed": 3},
        {"prompt": "a cat", "search_prompt": "dog", "seed": "3", "output_format": "png"},
    ),
    "search-recolor": (
        "edit/search-and-recolor",
        {"prompt": "bright green", "select_prompt": "the car", "seed": 4},
        {"prompt": "bright green", "select_prompt": "the car", "seed": "4", "output_format": "png"},
    ),
}


@pytest.mark.parametrize("operation", list(STABILITY_CASES))
def test_stability_edit_operations_send_the_exact_multipart(make_server, fakes, operation):
    stab = fakes[0]
    srv = _server(make_server, fakes)
    source_bytes = gradient((256, 192))
    source = import_image(srv, source_bytes)
    route, fields, expected = STABILITY_CASES[operation]
    body = {"operation": operation, "provider": "stability", "image_id": source["id"], **fields}
    mask = mask_png((256, 192), (40, 40, 120, 100))
    if operation == "inpaint":
        body["mask"] = data_url(mask)
    job = run_tool(srv, "/api/edit", **body)
    assert job["status"] == "succeeded", job["error"]
    [sent] = stab.requests_to(route)
    parts = _parts(sent)
    assert sent.headers["authorization"] == f"Bearer {STABILITY_KEY}" and sent.headers["accept"] == "image/*"
    assert parts["image"].filename == "image.png" and parts["image"].content_type == "image/png"
    assert parts["image"].data == (srv.gallery / source["path"]).read_bytes()
    assert sent.form() == expected
    if operation == "inpaint":
        with Image.open(io.BytesIO(parts["mask"].data)) as m:
            assert m.size == (256, 192) and m.getpixel((80, 70)) == 255 and m.getpixel((5, 5)) == 0
    else:
        assert "mask" not in parts
    [image] = job["images"]
    with Image.open(srv.gallery / image["path"]) as im:
        _, atelier = read_embedded(im)
        size = im.size
    assert atelier["source"] == {"image_id": source["id"], "path": source["path"], "operation": operation}
    if operation == "outpaint":
        assert size == (256 + 64, 192 + 32)
    assert job["cost_usd"] == {"inpaint": 0.05, "outpaint": 0.04, "remove-background": 0.02}.get(
        operation, job["cost_usd"]
    )
    assert job["cost_actual_usd"] == job["cost_usd"]


def test_stability_upscales_conservative_and_creative_polled(make_server, fakes):
    stab = fakes[0]
    srv = _server(make_server, fakes)
    source = import_image(srv, gradient((256, 256)))
    job = run_tool(srv, "/api/upscale", image_id=source["id"], mode="conservative", prompt="crisp", creativity=0.3)
    assert job["status"] == "succeeded", job["error"]
    [sent] = stab.requests_to("upscale/conservative")
    assert sent.form() == {"prompt": "crisp", "creativity": "0.3", "output_format": "png"}
    assert job["images"][0]["width"] == 1024 and job["cost_usd"] == 0.4

    job = run_tool(srv, "/api/upscale", image_id=source["id"], mode="creative", prompt="crisp")
    assert job["status"] == "succeeded", job["error"]
    [sent] = stab.requests_to("upscale/creative")
    assert sent.form() == {"prompt": "crisp", "creativity": "0.3", "output_format": "png"}
    polls = stab.requests_to("/v2beta/results/")
    assert len(polls) == FakeStability.pending_polls + 1 and all(p.method == "GET" for p in polls)
    assert polls[0].headers["authorization"] == f"Bearer {STABILITY_KEY}"
    assert (job["images"][0]["width"], job["images"][0]["height"]) == (1024, 1024)
    assert job["cost_usd"] == 0.6
    with Image.open(srv.gallery / job["images"][0]["path"]) as im:
        _, atelier = read_embedded(im)
    assert atelier["source"]["operation"] == "upscale-creative" and atelier["source"]["image_id"] == source["id"]


def test_openai_general_with_references_and_inpaint_with_mask(make_server, fakes):
    oai = fakes[1]
    srv = _server(make_server, fakes)
    source = import_image(srv, gradient((300, 200)))
    reference = import_image(srv, gradient((64, 64)), "ref.png")
    job = run_tool(
        srv, "/api/edit", operation="general", provider="openai", image_id=source["id"],
        references=[reference["id"]], prompt="make it blue", quality="low",
    )  # fmt: skip
    assert job["status"] == "succeeded", job["error"]
    [sent] = oai.requests_to("/images/edits")
    assert sent.form() == {
        "prompt": "make it blue", "model": "gpt-image-1", "n": "1", "size": "1536x1024",
        "output_format": "png", "quality": "low",
    }  # fmt: skip
    images = [p for p in sent.parts() if p.name == "image[]"]
    assert [p.filename for p in images] == ["image.png", "reference-1.png"]
    assert images[1].data == (srv.gallery / reference["path"]).read_bytes()
    assert job["cost_usd"] == 0.016

    job = run_tool(
        srv, "/api/edit", operation="inpaint", provider="openai", image_id=source["id"], prompt="a window",
        mask=data_url(mask_png((300, 200), (10, 10, 50, 50))),
    )  # fmt: skip
    assert job["status"] == "succeeded", job["error"]
    sent = oai.requests_to("/images/edits")[-1]
    parts = _parts(sent)
    assert [p.name for p in sent.parts() if p.filename] == ["image", "mask"]
    with Image.open(io.BytesIO(parts["mask"].data)) as m:
        assert m.mode == "RGBA" and m.size == (300, 200)
        assert m.getpixel((30, 30))[3] == 0 and m.getpixel((200, 150))[3] == 255  # transparent = change


def test_gemini_general_sends_inline_parts(make_server, fakes):
    gem = fakes[2]
    srv = _server(make_server, fakes)
    source = import_image(srv, gradient((200, 200)))
    job = run_tool(srv, "/api/edit", operation="general", provider="gemini", image_id=source["id"], prompt="snow")
    assert job["status"] == "succeeded", job["error"]
    [sent] = gem.requests_to(":generateContent")
    parts = sent.json()["contents"][0]["parts"]
    assert parts[0] == {"text": "snow"}
    assert parts[1]["inlineData"]["mimeType"] == "image/png"
    assert base64.b64decode(parts[1]["inlineData"]["data"]) == (srv.gallery / source["path"]).read_bytes()


def test_operations_listing(make_server, fakes):
    srv = _server(make_server, fakes)
    ops = {o["id"]: o for o in srv.get("/api/edit/operations").json()["operations"]}
    assert set(ops) == {"general", "inpaint", "outpaint", "remove-background", "search-replace", "search-recolor"}
    assert {p["id"] for p in ops["general"]["providers"]} == {"openai", "gemini"}
    assert {p["id"] for p in ops["inpaint"]["providers"]} == {"openai", "stability"}
    outpaint = ops["outpaint"]["providers"][0]
    assert outpaint["id"] == "stability" and outpaint["limits"]["max_expand"] == 2000
    assert "mask" in ops["inpaint"]["fields"] and "search_prompt" in ops["search-replace"]["fields"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"operation": "inpaint", "provider": "stability", "prompt": "x", "_mask": (100, 100)}, "mask"),
        ({"operation": "inpaint", "provider": "stability", "prompt": "x"}, "mask"),
        ({"operation": "outpaint", "provider": "openai", "left": 10}, "operation"),
        ({"operation": "outpaint", "provider": "stability", "left": 2500}, "left"),
        ({"operation": "outpaint", "provider": "stability"}, "left"),
        ({"operation": "search-replace", "provider": "stability", "prompt": "cat"}, "search_prompt"),
        ({"operation": "inpaint", "provider": "stability", "_mask": (256, 192)}, "prompt"),
        ({"operation": "paint", "provider": "stability"}, "operation"),
        ({"operation": "general", "provider": "gemini", "prompt": "x", "references": ["a", "b", "c"]}, "references"),
        ({"mode": "creative", "_big": True}, "image_id"),
    ],
)
def test_bad_edit_input_is_422_naming_the_field(make_server, fakes, body, field):
    srv = _server(make_server, fakes)
    big = body.pop("_big", False)
    source = import_image(srv, gradient((1100, 1000) if big else (256, 192)))
    if "_mask" in body:
        body["mask"] = data_url(mask_png(body.pop("_mask"), (1, 1, 20, 20)))
    route = "/api/upscale" if "mode" in body else "/api/edit"
    status, error = error_of(srv, route, image_id=source["id"], **body)
    assert status == 422 and error["field"] == field, error
    assert not fakes[0].requests and not fakes[1].requests


def test_usage_sums_estimates_and_the_monthly_budget(make_server, fakes):
    stab = fakes[0]
    srv = _server(make_server, fakes, ATELIER_MONTHLY_BUDGET_USD="0.12")
    source = import_image(srv, gradient((256, 192)))
    edit = {"operation": "search-replace", "provider": "stability", "image_id": source["id"], "prompt": "a cat",
            "search_prompt": "dog"}  # fmt: skip
    estimate = srv.post("/api/estimate", json={"kind": "edit", **edit}).json()
    assert estimate["cost_usd"] == 0.04 and estimate["within_budget"] is True

    assert run_tool(srv, "/api/edit", **edit)["status"] == "succeeded"
    stab.script("search-and-replace", "moderation")
    failed = run_tool(srv, "/api/edit", **edit)
    assert failed["status"] == "failed" and failed["cost_actual_usd"] == 0.0
    assert run_tool(srv, "/api/upscale", image_id=source["id"], scale=2)["status"] == "succeeded"
    assert run_tool(srv, "/api/edit", **edit)["status"] == "succeeded"

    usage = srv.get("/api/usage", params={"group_by": "provider"}).json()
    groups = {g["key"]: g for g in usage["groups"]}
    assert groups["stability"]["jobs"] == 3 and groups["stability"]["images"] == 2
    assert groups["stability"]["failures"] == 1 and groups["stability"]["cost_usd"] == 0.08
    assert groups["local"] == {**groups["local"], "jobs": 1, "images": 1, "failures": 0, "cost_usd": 0.0}
    assert usage["totals"]["jobs"] == 4 and usage["totals"]["cost_usd"] == 0.08
    assert usage["budget"]["month_spend_usd"] == 0.08 and usage["budget"]["remaining_usd"] == 0.04
    by_model = {g["key"]: g for g in srv.get("/api/usage?group_by=model").json()["groups"]}
    assert by_model["search-replace"]["jobs"] == 3
    days = srv.get("/api/usage?group_by=day").json()["groups"]
    assert len(days) == 1 and days[0]["jobs"] == 4
    assert srv.get("/api/usage?group_by=color").json()["error"]["field"] == "group_by"
    assert srv.get("/api/usage?from=2000-01-01&to=2000-01-02").json()["totals"]["jobs"] == 0

    # 0.08 + 0.05 > 0.12: refused before it runs; free local tools still run
    inpaint = {k: v for k, v in edit.items() if k != "search_prompt"}
    r = srv.post(
        "/api/edit", json={**inpaint, "operation": "inpaint", "mask": data_url(mask_png((256, 192), (1, 1, 9, 9)))}
    )
    assert r.status_code == 402 and r.json()["error"]["code"] == "budget_exceeded"
    assert "ATELIER_MONTHLY_BUDGET_USD" in r.json()["error"]["message"]
    assert srv.post("/api/estimate", json={"kind": "edit", **edit}).json()["within_budget"] is True
    assert run_tool(srv, "/api/upscale", image_id=source["id"], scale=2)["status"] == "succeeded"

    # a retry is a paid job too: 0.08 spent + 0.04 fits the budget, then the month is full
    retried = srv.post(f"/api/jobs/{failed['id']}/retry")
    assert retried.status_code == 202
    assert srv.wait_job(retried.json()["job"]["id"])["status"] == "succeeded"
    again = srv.post(f"/api/jobs/{failed['id']}/retry")
    assert again.status_code == 402 and again.json()["error"]["code"] == "budget_exceeded"
    srv.stop()
    assert STABILITY_KEY not in srv.output()
