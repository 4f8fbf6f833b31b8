"""The studio tools are one table: a tool is one module registered in it, and its route,
OpenAPI path, rate-limited path, listing, estimate and job producer all follow (in-process:
the app factory on a scratch folder, Flask's test client)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageOps

from backend.config import load_settings
from backend.providers.base import GeneratedImage, GenerationContext, GenerationRequest
from backend.providers.registry import ProviderRegistry
from backend.services.schema import Shape
from backend.services.tools.base import ToolContext, ToolJob
from backend.services.tools.common import (
    LOCAL,
    SOURCE_FIELDS,
    SourceReader,
    ToolImage,
    ToolProducer,
    check_fields,
    encode,
    open_image,
    read,
    tool_request,
)
from backend.services.tools.producers import tool_producers
from backend.services.tools.registry import TOOLS, typescript
from backend.services.validation import SESSION
from tests.support.tools import gradient

ROOT = Path(__file__).resolve().parents[1]


# --- a whole tool, as a new module would be ------------------------------------------------
INVERT_REQUEST = Shape((*SOURCE_FIELDS, SESSION), description="An invert job: a gallery image's colours inverted.")


class InvertProducer:
    def __init__(self, read_source: SourceReader) -> None:
        self.read_source = read_source

    def cpu_bound(self, tool: dict[str, Any]) -> bool:
        return True

    def produce(
        self, tool: dict[str, Any], request: GenerationRequest, ctx: GenerationContext
    ) -> Iterator[GeneratedImage]:
        image = ImageOps.invert(open_image(self.read_source(tool["source"])).convert("RGB"))
        yield ToolImage(index=0, data=encode(image), extra={"source": {**tool["source"], "operation": "invert"}})


class InvertTool:
    kind = "invert"
    label = "Invert"
    summary = "Invert a gallery image's colours"
    description = "Free and local."
    request = INVERT_REQUEST

    def build(self, body: Any, ctx: ToolContext) -> ToolJob:
        body = check_fields(body, INVERT_REQUEST)
        source = ctx.sources.source(body)
        request = tool_request(f"inverted {source.path}", LOCAL, "invert", source.width, source.height)
        return ToolJob(request, {"source": source.to_json()}, read(body, SESSION))

    def estimate(self, job: ToolJob, registry: ProviderRegistry) -> float | None:
        return 0.0

    def producer(self, registry: ProviderRegistry, read_source: SourceReader) -> ToolProducer:
        return InvertProducer(read_source)


# --- the app with the tool registered ---------------------------------------------------------
def _client(tmp_path: Path, **env: str):
    from backend.app import create_app

    settings = load_settings(
        {
            "ATELIER_ASYNC_MODE": "threading",
            "ATELIER_GALLERY_DIR": str(tmp_path / "gallery"),
            "ATELIER_DATA_DIR": str(tmp_path / "data"),
            "ATELIER_ENV_FILE": "/nonexistent",
            **env,
        }
    )
    app, _ = create_app(settings)
    return app, app.test_client()


@pytest.fixture
def invert(monkeypatch):
    monkeypatch.setitem(TOOLS, "invert", InvertTool())


def _import(client, data: bytes) -> dict[str, Any]:
    r = client.post("/api/images/import", data={"file": (io.BytesIO(data), "a.png")})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["images"][0]


def _wait_job(client, job_id: str, deadline_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").get_json()["job"]
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)  # polling a condition with a deadline
    raise TimeoutError(f"job {job_id} did not finish")


def test_a_tool_registered_in_the_table_gets_its_route_document_listing_limit_and_producer(tmp_path, invert):
    from backend.web.openapi import build_document
    from backend.web.security import SUBMISSION_PATHS

    app, client = _client(tmp_path, ATELIER_RATE_LIMIT="2/minute")
    listed = client.get("/api/tools").get_json()["tools"]
    assert listed[-1] == {"kind": "invert", "label": "Invert", "path": "/api/invert",
                          "summary": "Invert a gallery image's colours"}  # fmt: skip
    assert "/api/invert" in SUBMISSION_PATHS

    document = build_document(app, app.extensions["atelier"])
    assert "x-undeclared" not in document
    operation = document["paths"]["/api/invert"]["post"]
    assert operation["operationId"] == "tools.invert.post" and operation["summary"] == InvertTool.summary
    assert operation["requestBody"]["content"]["application/json"]["schema"]["properties"].keys() == {
        "image_id", "image", "session"}  # fmt: skip
    estimate = document["paths"]["/api/estimate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert any(s["properties"]["kind"]["enum"] == ["invert"] for s in estimate["anyOf"])
    assert "invert" in tool_producers(ProviderRegistry.discover({}, ()), lambda source: b"")

    source = _import(client, gradient((64, 48)))
    assert client.post("/api/estimate", json={"kind": "invert", "image_id": source["id"]}).get_json()["cost_usd"] == 0
    r = client.post("/api/invert", json={"image_id": source["id"]})
    assert r.status_code == 202, r.get_json()
    job = _wait_job(client, r.get_json()["job"]["id"])
    assert job["status"] == "succeeded" and job["kind"] == "invert", job["error"]
    with (
        Image.open(tmp_path / "gallery" / source["path"]) as before,
        Image.open(tmp_path / "gallery" / job["images"][0]["path"]) as after,
    ):
        for xy in ((0, 0), (63, 47)):
            assert after.getpixel(xy)[:3] == tuple(255 - v for v in before.getpixel(xy)[:3])

    # the rate limit counts the new route like every submission: the 3rd within a minute is refused
    assert client.post("/api/invert", json={"image_id": "nope"}).status_code == 422
    assert client.post("/api/invert", json={"image_id": source["id"]}).status_code == 429


def test_without_it_there_is_no_such_route(tmp_path):
    _, client = _client(tmp_path)
    assert client.post("/api/invert", json={}).status_code in (404, 405)
    assert [t["kind"] for t in client.get("/api/tools").get_json()["tools"]] == list(TOOLS) == [
        "edit", "upscale", "social"]  # fmt: skip
    r = client.post("/api/estimate", json={"kind": "invert"})
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "kind"


def test_the_spa_tool_kinds_are_generated_from_the_table():
    written = (ROOT / "frontend" / "src" / "tools" / "toolKinds.ts").read_text(encoding="utf-8")
    assert written == typescript(), (
        "frontend/src/tools/toolKinds.ts differs from the table: run "
        "`python -m backend.services.tools.registry > frontend/src/tools/toolKinds.ts`"
    )


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        ("/api/edit", {"image_id": "x", "prompt": "p"}, "operation", "operation is required"),
        ("/api/social", {"image_id": "x", "targets": [{"format": "post"}]}, "targets[0].platform", "is required"),
        ("/api/social", {"image_id": "x", "targets": [{"platform": "instagram"}]}, "targets[0].format", "is required"),
    ],
)
def test_a_missing_field_is_refused_as_missing_not_as_an_unknown_value(tmp_path, path, body, field, message):
    """Not "unknown operation ''" or "unknown platform None": the request left the field out."""
    app, client = _client(tmp_path)
    refused = client.post(path, json=body)
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert error["field"] == field and message in error["message"], error
    assert "None" not in error["message"] and "''" not in error["message"], error


def _turned_jpeg(width: int, height: int) -> bytes:
    """A JPEG stored ``width`` x ``height`` whose EXIF says: show it turned a quarter (orientation 6)."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 2, height))  # left half red: which way it turned shows
    exif = image.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    return buf.getvalue()


@pytest.mark.parametrize("body", [{"scale": 2}, {"mode": "auto", "target_width": 160}])
def test_an_upscale_of_an_exif_turned_photo_keeps_its_shape(tmp_path, body):
    """A phone photo is stored on its side with an EXIF orientation; the tool turns it upright
    (as every viewer shows it), so the upscale must be upright too, not squeezed into the
    stored sides."""
    app, client = _client(tmp_path)
    source = _import(client, _turned_jpeg(100, 50))  # shown 50 wide, 100 high
    submitted = client.post("/api/upscale", json={"image_id": source["id"], **body})
    assert submitted.status_code == 202, submitted.get_json()
    job = _wait_job(client, submitted.get_json()["job"]["id"])
    assert job["status"] == "succeeded", job
    out = client.get(job["images"][0]["url"])
    with Image.open(io.BytesIO(out.data)) as upscaled:
        assert upscaled.width < upscaled.height, upscaled.size  # upright, as the photo is shown
        # 2x of the 50x100 shown; auto: 160 wide as asked (of the 50 shown), so 4x
        assert upscaled.size == ((100, 200) if "scale" in body else (160, 320))


def test_an_inpaint_of_an_exif_turned_photo_takes_the_mask_painted_on_it_as_shown(tmp_path):
    """The mask is painted on the photo as it is shown (upright); the provider gets the photo
    upright too, so image and mask agree."""
    from backend.services.tools.edit import image_input

    data = _turned_jpeg(100, 50)
    app, client = _client(tmp_path, OPENAI_API_KEY="test-key", OPENAI_BASE_URL="http://127.0.0.1:9")
    source = _import(client, data)
    mask = io.BytesIO()
    Image.new("L", (50, 100), 255).save(mask, "PNG")  # the shown sides
    body = {"operation": "inpaint", "provider": "openai", "image_id": source["id"], "prompt": "a cat"}
    submitted = client.post("/api/edit", json={**body, "mask": "data:image/png;base64," + _b64(mask.getvalue())})
    assert submitted.status_code == 202, submitted.get_json()
    sent = image_input(data, "image")
    assert (sent.width, sent.height) == (50, 100)
    with Image.open(io.BytesIO(sent.data)) as upright:
        assert upright.size == (50, 100) and upright.getpixel((25, 5))[0] > 200  # red on top: turned, not flipped


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()
