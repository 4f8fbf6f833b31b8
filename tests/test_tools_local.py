"""The local tools (upscale fast/auto, social formats) on real images through the real
server, their bad input, a source deleted before its job ran, templates and usage sums."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from backend.providers.registry import ProviderRegistry
from backend.services.templates import load_templates
from backend.services.tools.social import CropOptions, crop_box, find_format, load_formats
from tests.support.tools import (
    check_social_outputs,
    error_of,
    gallery_metadata,
    gradient,
    import_image,
    off_centre_subject,
    run_tool,
)


def _atelier(srv, image) -> dict:
    return gallery_metadata(srv.gallery, image)


def _inside(box, frame) -> bool:
    return frame[0] <= box[0] and frame[1] <= box[1] and box[2] <= frame[2] and box[3] <= frame[3]


def test_smart_crop_keeps_an_off_centre_subject_that_center_crop_cuts():
    data, subject = off_centre_subject()
    image = Image.open(io.BytesIO(data)).convert("RGB")
    for target in ("instagram/post", "instagram/story", "tiktok/cover", "pinterest/pin"):
        fmt = find_format(*target.split("/"))
        smart = crop_box(image, fmt.width, fmt.height, CropOptions("smart"))
        centre = crop_box(image, fmt.width, fmt.height, CropOptions("center"))
        assert _inside(subject, smart), (target, smart, subject)
        assert not _inside(subject, centre), (target, centre)
        ratio = (smart[2] - smart[0]) / (smart[3] - smart[1])
        assert abs(ratio - fmt.width / fmt.height) < 0.01


def test_focal_crop_centres_on_the_point_within_the_image():
    image = Image.new("RGB", (1000, 500))
    box = crop_box(image, 100, 100, CropOptions("focal", (0.9, 0.5)))
    assert box == (500, 0, 1000, 500)  # clamped at the right edge
    box = crop_box(image, 100, 100, CropOptions("focal", (0.4, 0.5)))
    assert box == (150, 0, 650, 500)


def test_social_job_meets_every_platform_limit_and_exports_as_one_zip(make_server):
    srv = make_server("eventlet")
    data, _ = off_centre_subject()
    source = import_image(srv, data)
    every = [f"{p}/{f}" for p, v in load_formats().items() for f in v["formats"]]
    job = run_tool(srv, "/api/social", image_id=source["id"], targets=every, crop="smart")
    assert job["status"] == "succeeded", job["error"]
    assert job["kind"] == "social" and job["cost_usd"] == 0.0 and len(job["images"]) == len(every)
    for atelier in check_social_outputs(srv.gallery, every, job["images"], source):
        assert atelier["tool"]["overlay"] is False

    r = srv.get(f"/api/export.zip?job={job['id']}")
    assert r.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert sorted(n for n in names if not n.startswith("metadata.")) == sorted(i["path"] for i in job["images"])


def test_fit_preview_and_byte_limit_squeeze(make_server):
    srv = make_server("threading")
    source = import_image(srv, off_centre_subject()[0])
    job = run_tool(
        srv, "/api/social", image_id=source["id"], targets=[{"platform": "x", "format": "header"}], crop="fit",
        fill="solid", fill_color="#102030", output_format="png",
    )  # fmt: skip
    assert job["status"] == "succeeded"
    with Image.open(srv.gallery / job["images"][0]["path"]) as im:
        assert im.size == (1500, 500) and im.getpixel((5, 250))[:3] == (16, 32, 48)  # solid fill at the side
    r = srv.get(
        "/api/social/preview",
        params={"image_id": source["id"], "platform": "youtube", "format": "thumbnail", "crop": "focal",
                "focal_x": "0.85", "focal_y": "0.5"},
    )  # fmt: skip
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(r.content)) as im:
        assert im.size == (540, 304)
    before = srv.get("/api/images").json()["total"]
    assert before == 2, "a preview is never saved"


def test_upscale_fast_and_auto_dimensions_are_exact(make_server):
    srv = make_server("eventlet")
    source = import_image(srv, gradient((200, 150)))
    for body, size in (
        ({"mode": "fast", "scale": 2}, (400, 300)),
        ({"mode": "fast", "scale": 4}, (800, 600)),
        ({"mode": "auto", "target_width": 500}, (500, 375)),
        ({"mode": "auto", "target_width": 300, "target_height": 300}, (300, 300)),
    ):
        job = run_tool(srv, "/api/upscale", image_id=source["id"], **body)
        assert job["status"] == "succeeded", job["error"]
        [image] = job["images"]
        assert (image["width"], image["height"]) == size
        atelier = _atelier(srv, image)
        assert atelier["source"]["image_id"] == source["id"] and atelier["source"]["operation"] == "upscale"
        assert atelier["source"]["path"] == source["path"]
    progress = srv.get(f"/api/jobs/{job['id']}").json()["job"]
    assert progress["provider"] == "local" and progress["cost_actual_usd"] == 0.0


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/api/upscale", {"mode": "fast", "scale": 3}, "scale"),
        ("/api/upscale", {"mode": "fast", "scale": 4, "_big": True}, "scale"),
        ("/api/upscale", {"mode": "auto", "target_width": 5000}, "target_width"),
        ("/api/upscale", {"mode": "turbo"}, "mode"),
        ("/api/upscale", {"mode": "creative"}, "mode"),  # no Stability key here
        ("/api/social", {"targets": ["myspace/post"]}, "targets[0].platform"),
        ("/api/social", {"targets": ["instagram/post", {"platform": "x", "format": "banner"}]}, "targets[1].format"),
        ("/api/social", {"targets": ["x/post"], "crop": "focal", "focal": {"x": 1.5, "y": 0.5}}, "focal.x"),
        ("/api/social", {"targets": ["x/post"], "crop": "focal", "focal": {"x": 0.5, "y": -0.1}}, "focal.y"),
        ("/api/social", {"targets": ["x/post"], "crop": "zoom"}, "crop"),
        ("/api/social", {"targets": []}, "targets"),
        # found fuzzing from the document: an object where a name goes was a 500 (unhashable)
        ("/api/social", {"targets": [{"platform": "instagram", "format": {}}]}, "targets[0].format"),
        ("/api/social", {"targets": [{"platform": ["x"], "format": "post"}]}, "targets[0].platform"),
        ("/api/upscale", {"mode": "fast", "scale": None, "session": "ok\n"}, "session"),
        ("/api/social", {"targets": ["x/post"], "image_id": "nope"}, "image_id"),
    ],
)
def test_bad_tool_input_is_422_naming_the_field(make_server, route, body, field):
    srv = make_server("eventlet")
    size = (2048, 1100) if body.pop("_big", False) else (64, 48)
    source = import_image(srv, gradient(size))
    body = {"image_id": source["id"], **body}
    status, error = error_of(srv, route, **body)
    assert status == 422 and error["field"] == field, error
    assert srv.get("/api/jobs").json()["items"] == []


def test_source_deleted_before_the_job_runs_fails_with_that_reason(make_server):
    srv = make_server("eventlet", ATELIER_MAX_CONCURRENT_JOBS="1")
    source = import_image(srv, gradient())
    blocker = srv.submit(prompt="hold the queue", provider="gated")
    srv.wait_job(blocker["id"], ("running",))
    r = srv.post("/api/upscale", json={"image_id": source["id"], "scale": 2})
    queued = r.json()["job"]
    assert queued["status"] == "queued"
    assert requests_delete(srv, f"/api/images/{source['id']}").status_code == 200
    srv.open_gate()
    job = srv.wait_job(queued["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "invalid_request"
    assert "deleted before this job ran" in job["error"]["message"] and source["path"] in job["error"]["message"]


def requests_delete(srv, path):
    import requests

    return requests.delete(srv.url + path, timeout=10)


def test_every_template_size_is_one_its_model_makes():
    registry = ProviderRegistry.discover({}, ())
    templates = load_templates()
    assert len(templates) >= 8
    for t in templates:
        provider = registry.get(t["provider"])
        assert provider is not None, t["id"]
        model = provider.model(t["model"])
        assert model is not None, (t["id"], t["model"])
        assert t["aspect_ratio"] in model.sizes, (t["id"], t["aspect_ratio"])
        assert "{subject}" in t["prompt"]
        if t["social_target"]:
            find_format(*t["social_target"].split("/"))


def test_templates_search(make_server):
    srv = make_server("threading")
    every = srv.get("/api/templates").json()["templates"]
    found = srv.get("/api/templates", params={"q": "youtube"}).json()["templates"]
    assert [t["id"] for t in found] == ["youtube-thumbnail"]
    assert found[0]["width"] == 1344 and found[0]["height"] == 768
    assert len(every) > len(found)
    offline = next(t for t in every if t["provider"] == "offline")
    assert offline["available"] is True


def _gallery_files(srv) -> set[str]:
    """Every file in the gallery folder but the studio's own (index, thumbnails)."""
    return {p.relative_to(srv.gallery).as_posix() for p in srv.gallery.rglob("*")
            if p.is_file() and ".atelier" not in p.relative_to(srv.gallery).parts}  # fmt: skip


def test_a_refused_tool_request_with_an_upload_writes_nothing_and_an_accepted_one_tells_every_tab(make_server):
    """Bad mask, no prompt, over the budget, too big, too large a body: each refused with the
    upload never imported (folder and index as before); an accepted upload is announced."""
    from tests.fakes.stability_api import FakeStability
    from tests.support.cloud import FAST_SETTINGS
    from tests.support.sio import EventRecorder
    from tests.support.tools import data_url, mask_png

    with FakeStability("sk-refusals") as stab:
        srv = make_server("eventlet", STABILITY_BASE_URL=stab.url, STABILITY_API_KEY="sk-refusals",
                          ATELIER_MONTHLY_BUDGET_USD="0.01", **FAST_SETTINGS)  # fmt: skip
        small, big = data_url(gradient((256, 192))), data_url(gradient((2048, 1100)))
        inpaint = {"operation": "inpaint", "provider": "stability", "image": small, "prompt": "a cat"}
        refusals = [
            ("/api/edit", {**inpaint, "mask": data_url(mask_png((100, 100), (1, 1, 20, 20)))}, 422, "mask"),
            ("/api/edit", {**inpaint, "mask": data_url(mask_png((256, 192), (0, 0, 0, 0)))[:40]}, 422, "mask"),
            ("/api/edit", {**inpaint, "prompt": " ", "mask": data_url(mask_png((256, 192), (1, 1, 20, 20)))}, 422,
             "prompt"),
            ("/api/edit", {"operation": "search-replace", "provider": "stability", "image": small, "prompt": "a cat",
                           "search_prompt": "dog"}, 402, "budget"),
            ("/api/upscale", {"image": big, "mode": "fast", "scale": 4}, 422, "scale"),
            ("/api/upscale", {"image": small, "mode": "auto", "target_width": 5000}, 422, "target_width"),
            ("/api/social", {"image": small, "targets": ["myspace/post"]}, 422, "targets[0].platform"),
            # an upload and a gallery id: which was meant cannot be guessed, and neither is dropped
            ("/api/upscale", {"image": small, "image_id": "a" * 16, "mode": "fast", "scale": 2}, 422, "image"),
            ("/api/upscale", {"image": "data:image/png;base64," + "A" * (25 * 1024 * 1024)}, 413, None),
        ]  # fmt: skip
        before = _gallery_files(srv)
        wrote = []
        for route, body, status, field in refusals:
            files, indexed = _gallery_files(srv), srv.get("/api/images").json()["total"]
            r = srv.post(route, json=body)
            assert r.status_code == status, (route, field, r.text[:300])
            if field:
                assert r.json()["error"]["field"] == field, r.text
            if _gallery_files(srv) != files or srv.get("/api/images").json()["total"] != indexed:
                wrote.append(f"{route} ({field or status})")
        assert wrote == [], f"refused, yet the upload went into the gallery: {wrote}"
        assert _gallery_files(srv) == before and srv.get("/api/images").json()["total"] == 0
        assert srv.get("/api/jobs").json()["items"] == [] and not stab.requests

        feed = EventRecorder(srv.url).connect()
        try:
            assert feed.subscribe(topic="gallery")["ok"]
            job = run_tool(srv, "/api/upscale", image=small, mode="fast", scale=2)
            added = feed.wait_for(lambda ev: sum(e == "gallery.added" for e, _ in ev) == 2)
        finally:
            feed.close()
        assert job["status"] == "succeeded", job["error"]
        announced = [d for e, d in added if e == "gallery.added"]
        upload = next(d["image"] for d in announced if d.get("imported"))
        assert upload["width"] == 256 and upload["path"].startswith("imported/")
        assert _atelier(srv, job["images"][0])["source"]["image_id"] == upload["id"]
        assert _gallery_files(srv) == before | {upload["path"], job["images"][0]["path"]}


def test_an_absurd_upscale_target_is_refused_in_plain_words():
    """A target of 10**30 px is refused by its bound, not by arithmetic on it (whose message
    printed floats such as 1e+30x7.5e+29)."""
    from backend.services.schema import ValidationError
    from backend.services.tools.upscale import MAX_TARGET_SIDE, UPSCALE_REQUEST

    for name in ("target_width", "target_height"):
        with pytest.raises(ValidationError) as refused:
            UPSCALE_REQUEST[name].check_bounds(10**30)
        assert refused.value.field == name and str(MAX_TARGET_SIDE) in refused.value.message
        assert "e+" not in refused.value.message
