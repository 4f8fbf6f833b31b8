"""The OpenAI Images API (``/v1``) driven by the real ``openai`` SDK against the real server,
plus the request bodies Open WebUI and LibreChat send (tests/fixtures/openai_clients, each
with the source file and commit it was read from).

Providers: ``instant`` (tests/support/providers.py) as the default for generations, and the
fake OpenAI API (tests/fakes/openai_api.py) behind the ``openai`` provider for edits. Each
image decodes, lands in the gallery with metadata ``client``, and its job's events reach a
Socket.IO subscriber of the job.
"""

from __future__ import annotations

import base64
import io
import json
import socket
from pathlib import Path

import openai
import pytest
import requests
from openai import OpenAI
from PIL import Image, ImageDraw

from tests.fakes.base import bomb_png
from tests.fakes.openai_api import FakeOpenAI
from tests.support.cloud import FAST_SETTINGS
from tests.support.sio import EventRecorder
from tests.support.tools import gallery_metadata, gradient

FIXTURES = Path(__file__).parent / "fixtures" / "openai_clients"
OPENAI_KEY = "sk-compat-SECRET-openai"
TOKEN = "s3cret-token-for-openai-clients"


@pytest.fixture
def fake_openai():
    with FakeOpenAI(OPENAI_KEY) as fake:
        yield fake


def _server(make_server, fake: FakeOpenAI, mode: str = "eventlet", **env: str):
    return make_server(
        mode,
        ATELIER_DEFAULT_PROVIDER="instant",
        OPENAI_BASE_URL=fake.url + "/v1",
        OPENAI_API_KEY=OPENAI_KEY,
        **FAST_SETTINGS,
        **env,
    )


def _sdk(srv, key: str = "anything") -> OpenAI:
    # no retries: a test sees the first answer (the SDK retries 429 and 5xx by default)
    return OpenAI(base_url=srv.url + "/v1", api_key=key, max_retries=0, timeout=60)


def _gallery_files(srv) -> list[Path]:
    return sorted(p for p in srv.gallery.rglob("*") if p.is_file() and p.suffix in (".png", ".jpg", ".webp"))


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _job(srv, job_id: str, headers: dict | None = None) -> dict:
    r = srv.get(f"/api/jobs/{job_id}", headers=headers or {})
    assert r.status_code == 200, r.text
    return r.json()["job"]


def _events_reach_a_subscriber(srv, job: dict, auth: dict | None = None) -> None:
    """A Socket.IO client that subscribes to the job gets its events (replayed from the start)."""
    recorder = EventRecorder(srv.url, auth=auth).connect()
    try:
        ack = recorder.subscribe(job_id=job["id"], after_seq=0)
        assert ack["ok"], ack
        recorder.wait_event("job.succeeded", job["id"])
        names = [name for name, _ in recorder.job_events(job["id"])]
        assert names.count("job.image") == len(job["images"]) and "job.queued" in names, names
    finally:
        recorder.close()


def _landed(srv, job: dict, client: str) -> None:
    """Each image of the job is in the gallery, with the client in its metadata."""
    assert job["status"] == "succeeded", job["error"]
    assert job["client"] == client
    for image in job["images"]:
        assert (srv.gallery / image["path"]).is_file()
        assert gallery_metadata(srv.gallery, image)["client"] == client
        r = srv.get(f"/api/images/{image['id']}")
        assert r.status_code == 200


def _png(size: tuple[int, int], colour=(30, 120, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def _openai_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    """OpenAI's mask: opaque (keep) with a fully transparent rectangle (change)."""
    image = Image.new("RGBA", size, (0, 0, 0, 255))
    ImageDraw.Draw(image).rectangle(box, fill=(0, 0, 0, 0))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


# --- generations ------------------------------------------------------------------------------


def test_generations_b64_json_and_url_land_in_the_gallery(make_server, fake_openai):
    srv = _server(make_server, fake_openai)
    client = _sdk(srv)

    raw = client.images.with_raw_response.generate(
        prompt="a lake at dawn", n=2, user="alice@example.com", response_format="b64_json"
    )
    answer = raw.parse()
    assert len(answer.data) == 2 and answer.created > 0
    job = _job(srv, raw.headers["x-atelier-job"])
    _landed(srv, job, "openai:alice@example.com")
    for item, image in zip(answer.data, job["images"], strict=True):
        assert item.url is None
        data = base64.b64decode(item.b64_json)
        assert _decode(data).size == (64, 64)
        assert data == (srv.gallery / image["path"]).read_bytes()
    _events_reach_a_subscriber(srv, job)

    raw = client.images.with_raw_response.generate(prompt="a lake at dusk", response_format="url")
    answer = raw.parse()
    [item] = answer.data
    assert item.b64_json is None and item.url.startswith(srv.url + "/images/")
    fetched = requests.get(item.url, timeout=10)
    assert fetched.status_code == 200 and _decode(fetched.content).format == "PNG"
    job = _job(srv, raw.headers["x-atelier-job"])
    _landed(srv, job, "openai")
    assert fetched.content == (srv.gallery / job["images"][0]["path"]).read_bytes()

    # no response_format: both, for clients that assume DALL-E's url and those that read b64_json;
    # fields Atelier has no use for are ignored
    unknown = {"moderation": "low", "partial_images": 0, "output_compression": 80, "svg": {"model": "x"}}
    [item] = client.images.generate(prompt="a lake at noon", model="instant/test", extra_body=unknown).data
    assert item.b64_json and item.url
    assert base64.b64decode(item.b64_json) == requests.get(item.url, timeout=10).content


def test_size_maps_to_the_nearest_ratio_and_says_so(make_server, fake_openai):
    srv = _server(make_server, fake_openai)
    client = _sdk(srv)
    raw = client.images.with_raw_response.generate(
        prompt="a wide valley", size="1792x1024", quality="hd", style="vivid"
    )
    assert raw.headers["x-atelier-size"] == "96x54"  # instant/test makes 16:9 at 96x54
    warning = raw.headers["x-atelier-warning"]
    assert "1792x1024" in warning and "96x54" in warning and "vivid" in warning
    [item] = raw.parse().data
    _decode(base64.b64decode(item.b64_json))  # (the instant provider sends one tiny PNG for every size)
    job = _job(srv, raw.headers["x-atelier-job"])
    assert (job["request"]["width"], job["request"]["height"]) == (96, 54)
    fields = {w["field"]: w for w in job["warnings"]}
    assert fields["size"]["requested"] == "1792x1024" and fields["size"]["used"] == "96x54"
    assert fields["quality"]["requested"] == "hd" and fields["style"]["requested"] == "vivid"

    # output_format converts the answer's bytes (the gallery keeps the provider's PNG); seed passes on
    raw = client.images.with_raw_response.generate(
        prompt="a pond", output_format="webp", response_format="b64_json", extra_body={"seed": 1234}
    )
    assert _decode(base64.b64decode(raw.parse().data[0].b64_json)).format == "WEBP"
    job = _job(srv, raw.headers["x-atelier-job"])
    assert job["request"]["seed"] == 1234 and job["images"][0]["format"] == "PNG"

    # a ratio the model lacks: the nearest one it has
    raw = client.images.with_raw_response.generate(prompt="a tall tower", size="1024x1536")
    assert raw.headers["x-atelier-size"] == "64x64"
    assert {w["field"] for w in _job(srv, raw.headers["x-atelier-job"])["warnings"]} >= {"size", "aspect_ratio"}

    # quality maps to the model's own names: hd -> high on a GPT image model
    raw = client.images.with_raw_response.generate(prompt="a bay", model="openai/gpt-image-1", quality="hd")
    job = _job(srv, raw.headers["x-atelier-job"])
    _landed(srv, job, "openai")
    assert fake_openai.requests_to("/images/generations")[-1].json()["quality"] == "high"


def test_models_list_and_retrieve(make_server, fake_openai):
    srv = _server(make_server, fake_openai, ATELIER_MODEL_ALIASES="my-fast=instant/test")
    client = _sdk(srv)
    listed = {m.id: m for m in client.models.list().data}
    assert {"instant/test", "offline/procedural-v1", "openai/gpt-image-1", "my-fast", "dall-e-3"} <= set(listed)
    assert "keyless/test" not in listed  # a provider without its key is not offered
    assert listed["openai/gpt-image-1"].owned_by == "openai" and listed["my-fast"].owned_by == "instant"
    assert all(m.object == "model" and isinstance(m.created, int) for m in listed.values())

    model = client.models.retrieve("openai/gpt-image-1")  # the SDK sends openai%2Fgpt-image-1
    assert model.id == "openai/gpt-image-1" and model.owned_by == "openai"
    assert client.models.retrieve("dall-e-3").owned_by == "instant"  # the default provider's default model
    for name in ("keyless/test", "no-such-model"):
        with pytest.raises(openai.NotFoundError) as caught:
            client.models.retrieve(name)
        assert caught.value.body["code"] == "model_not_found"

    # the alias generates with the model it names
    raw = client.images.with_raw_response.generate(prompt="fast", model="my-fast")
    assert _job(srv, raw.headers["x-atelier-job"])["model"] == "test"


# --- edits -----------------------------------------------------------------------------------


def test_edits_with_one_image_several_images_and_a_mask(make_server, fake_openai):
    srv = _server(make_server, fake_openai)
    client = _sdk(srv)
    source = gradient((300, 200))

    raw = client.images.with_raw_response.edit(
        image=("photo.png", source, "image/png"), prompt="make it blue", model="openai/gpt-image-1", quality="low"
    )
    [item] = raw.parse().data
    assert _decode(base64.b64decode(item.b64_json)).format == "PNG"
    job = _job(srv, raw.headers["x-atelier-job"])
    _landed(srv, job, "openai")
    assert job["kind"] == "edit" and job["tool"]["operation"] == "general"
    [sent] = fake_openai.requests_to("/images/edits")
    assert sent.form()["quality"] == "low" and sent.form()["size"] == "1536x1024"
    assert [p.data for p in sent.parts() if p.name == "image"] == [source]
    _events_reach_a_subscriber(srv, job)

    reference = _png((64, 64), (200, 40, 40))
    raw = client.images.with_raw_response.edit(
        image=[("a.png", source, "image/png"), ("b.png", reference, "image/png")],
        prompt="combine them",
        model="openai/gpt-image-1",
        n=2,
    )
    assert len(raw.parse().data) == 2
    job = _job(srv, raw.headers["x-atelier-job"])
    _landed(srv, job, "openai")
    sent = fake_openai.requests_to("/images/edits")[-1]
    assert [p.data for p in sent.parts() if p.name == "image[]"] == [source, reference]
    assert len(job["tool"]["references"]) == 1  # the second image, imported, as the edit's reference

    mask = _openai_mask((300, 200), (10, 10, 50, 50))
    raw = client.images.with_raw_response.edit(
        image=("photo.png", source, "image/png"),
        mask=("mask.png", mask, "image/png"),
        prompt="a window",
        model="openai/gpt-image-1",
        response_format="url",
    )
    [item] = raw.parse().data
    assert requests.get(item.url, timeout=10).status_code == 200
    job = _job(srv, raw.headers["x-atelier-job"])
    _landed(srv, job, "openai")
    assert job["tool"]["operation"] == "inpaint"
    sent = fake_openai.requests_to("/images/edits")[-1]
    [mask_part] = [p for p in sent.parts() if p.name == "mask"]
    with Image.open(io.BytesIO(mask_part.data)) as m:  # transparent = change, as OpenAI's convention says
        assert m.getpixel((30, 30))[3] == 0 and m.getpixel((200, 150))[3] == 255


# --- bad input ----------------------------------------------------------------------------


def _raises(cls: type[openai.APIStatusError], call, status: int, param: str | None = None) -> dict:
    with pytest.raises(cls) as caught:
        call()
    error = caught.value
    assert error.status_code == status, error.body
    assert set(error.body) == {"message", "type", "param", "code"}, error.body
    if param is not None:
        assert error.body["param"] == param, error.body
    return error.body


def test_bad_input_raises_the_sdks_error_and_writes_nothing(make_server, fake_openai):
    srv = _server(make_server, fake_openai, ATELIER_MAX_UPLOAD_MB="2")
    client = _sdk(srv)
    gen = client.images.generate
    image = ("photo.png", _png((100, 80)), "image/png")
    bad = openai.BadRequestError
    cases = [
        (bad, lambda: client.post("/images/generations", body={"n": 1}, cast_to=object), 400, "prompt"),
        (bad, lambda: gen(prompt="   "), 400, "prompt"),
        (bad, lambda: gen(prompt="x", n=11), 400, "n"),
        (bad, lambda: gen(prompt="x", size="huge"), 400, "size"),
        (bad, lambda: gen(prompt="x", size="0x100"), 400, "size"),
        (openai.NotFoundError, lambda: gen(prompt="x", model="nope/none"), 404, "model"),
        (bad, lambda: gen(prompt="x", response_format="gif"), 400, "response_format"),
        (bad, lambda: gen(prompt="x", model="keyless/test"), 400, "model"),
        (bad, lambda: client.post("/images/generations", body={"prompt": 5}, cast_to=object), 400, "prompt"),
        (bad, lambda: gen(prompt="x", stream=True), 400, "stream"),
        (bad, lambda: client.images.edit(image=("x.png", b"not an image", "image/png"), prompt="x"), 400, "image"),
        (bad, lambda: client.images.edit(image=("bomb.png", bomb_png(), "image/png"), prompt="x"), 400, "image"),
        (
            bad,
            lambda: client.images.edit(image=image, mask=("m.png", _openai_mask((50, 50), (0, 0, 9, 9))), prompt="x"),
            400,
            "mask",
        ),
        (bad, lambda: client.images.edit(image=image, prompt="x", model="instant/test"), 400, "model"),
        (bad, lambda: client.images.edit(image=image, prompt=""), 400, "prompt"),
        (bad, lambda: client.images.edit(image=image, prompt="x", model="openai/gpt-image-1", n=9), 400, "n"),
    ]
    for cls, call, status, param in cases:
        _raises(cls, call, status, param)

    # an upload over the limit: 413 in OpenAI's shape (a 50 MB upload against the default 50 MB does the same)
    big = b"\x89PNG" + b"\0" * (3 * 1024 * 1024)
    body = _raises(openai.APIStatusError, lambda: client.images.edit(image=("big.png", big), prompt="x"), 413)
    assert body["code"] == "request_too_large"

    # a job the provider refuses: moderation -> 400 content_policy_violation; a provider crash -> 5xx
    body = _raises(bad, lambda: gen(prompt="x", model="refusing/test"), 400)
    assert body["code"] == "content_policy_violation"
    _raises(openai.InternalServerError, lambda: gen(prompt="x", model="broken/test"), 502)

    # unknown routes and methods under /v1 answer in OpenAI's shape too
    _raises(openai.NotFoundError, lambda: client.post("/no/such/route", body={}, cast_to=object), 404)
    for path in ("/v1", "/v1/images/variations"):
        r = requests.post(srv.url + path, json={}, timeout=10)
        assert r.status_code == 404 and set(r.json()["error"]) == {"message", "type", "param", "code"}

    assert _gallery_files(srv) == []  # nothing refused was written
    assert srv.get("/api/images").json()["items"] == []


def test_a_50_mb_upload_is_413(make_server, fake_openai):
    srv = _server(make_server, fake_openai)  # the default ATELIER_MAX_UPLOAD_MB: 50
    client = _sdk(srv)
    big = b"\x89PNG" + b"\0" * (50 * 1024 * 1024)
    body = _raises(openai.APIStatusError, lambda: client.images.edit(image=("big.png", big), prompt="x"), 413)
    assert body["param"] == "image" and _gallery_files(srv) == []


def test_budget_rate_limit_and_credentials(make_server, fake_openai):
    srv = _server(
        make_server, fake_openai, ATELIER_TOKEN=TOKEN, ATELIER_MONTHLY_BUDGET_USD="0.001", ATELIER_RATE_LIMIT="2/minute"
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    client = _sdk(srv, TOKEN)

    raw = client.images.with_raw_response.generate(prompt="with the token", response_format="url")
    [item] = raw.parse().data
    assert requests.get(item.url, timeout=10).status_code == 401  # the gallery needs the same credentials
    fetched = requests.get(item.url, headers=auth, timeout=10)
    assert fetched.status_code == 200 and _decode(fetched.content).format == "PNG"
    job = _job(srv, raw.headers["x-atelier-job"], auth)
    assert job["client"] == "openai"
    _events_reach_a_subscriber(srv, job, auth={"token": TOKEN})

    body = _raises(openai.AuthenticationError, lambda: _sdk(srv, "wrong-key").models.list(), 401)
    assert body["code"] == "invalid_api_key"
    r = requests.post(srv.url + "/v1/images/generations", json={"prompt": "no key"}, timeout=10)  # no credentials
    assert r.status_code == 401 and set(r.json()["error"]) == {"message", "type", "param", "code"}
    _raises(openai.AuthenticationError, lambda: _sdk(srv, "wrong").images.generate(prompt="x"), 401)

    # a paid model over the monthly budget: 402 (the SDK's APIStatusError)
    body = _raises(openai.APIStatusError, lambda: client.images.generate(prompt="x", model="openai/gpt-image-1"), 402)
    assert body["code"] == "budget_exceeded" and body["type"] == "insufficient_quota"
    assert fake_openai.requests_to("/images/generations") == []

    # ATELIER_RATE_LIMIT counts /v1 submissions: the two with the token above, then 429
    body = _raises(openai.RateLimitError, lambda: client.images.generate(prompt="x"), 429)
    assert body["code"] == "rate_limit_exceeded"
    assert len(srv.get("/api/images", headers=auth).json()["items"]) == 1


@pytest.mark.parametrize("mode", ["eventlet", "threading"])
def test_a_client_that_disconnects_cancels_its_job(make_server, fake_openai, mode):
    srv = _server(make_server, fake_openai, mode, ATELIER_CLIENT_API_KEEPALIVE_SECONDS="1")
    body = json.dumps({"prompt": "slow", "model": "gated/test"}).encode()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as conn:
        conn.sendall(
            b"POST /v1/images/generations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nAuthorization: Bearer anything\r\n\r\n".encode()
            + body
        )
        head = b""
        while b"\r\n\r\n" not in head:  # the answer starts (200 and keep-alive spaces) once the job runs long
            head += conn.recv(4096)
    assert head.startswith(b"HTTP/1.1 200")
    job_id = next(
        line.split(b":", 1)[1].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"x-atelier-job:")
    )
    job = srv.wait_job(job_id, timeout=60)  # the server notices at its next keep-alive write
    assert job["status"] == "cancelled" and job["client"] == "openai"


# --- request bodies exactly as clients send them -------------------------------------------------


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize(
    "name", ["open_webui_generations.json", "librechat_dalle3.json", "librechat_image_gen_oai.json"]
)
def test_generation_bodies_of_open_webui_and_librechat(make_server, fake_openai, name):
    fixture = _fixture(name)
    srv = _server(make_server, fake_openai)
    headers = {**fixture["headers"], "Authorization": "Bearer sk-whatever-they-send"}
    r = requests.post(srv.url + "/v1" + fixture["path"], data=json.dumps(fixture["json"]), headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    [item] = r.json()["data"]
    if fixture.get("reads") == "url":
        data = requests.get(item["url"], headers={"Authorization": headers["Authorization"]}, timeout=10).content
    else:
        data = base64.b64decode(item["b64_json"])
    _decode(data)
    job = _job(srv, r.headers["X-Atelier-Job"])
    _landed(srv, job, "openai")
    assert job["provider"] == "instant"  # OpenAI's own model names mean the default provider's default model
    _events_reach_a_subscriber(srv, job)


@pytest.mark.parametrize("name", ["open_webui_edit.json", "librechat_image_edit_oai.json"])
def test_edit_bodies_of_open_webui_and_librechat(make_server, fake_openai, name):
    fixture = _fixture(name)
    srv = _server(make_server, fake_openai)
    sources = [gradient((256, 192)), _png((64, 64))]
    files = [(field, (filename, sources[i], mime)) for i, (field, filename, mime) in enumerate(fixture["files"])]
    r = requests.post(
        srv.url + "/v1" + fixture["path"],
        data=fixture["fields"],
        files=files,
        headers={"Authorization": "Bearer sk-whatever-they-send"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    [item] = r.json()["data"]
    _decode(base64.b64decode(item["b64_json"]))
    job = _job(srv, r.headers["X-Atelier-Job"])
    _landed(srv, job, "openai")
    # gpt-image-1 means the default provider (instant), which cannot edit: an edit-capable provider does it
    assert job["provider"] == "openai" and any(w["field"] == "model" for w in job["warnings"])
    sent = fake_openai.requests_to("/images/edits")[-1]
    assert len([p for p in sent.parts() if p.name in ("image", "image[]")]) == len(fixture["files"])
    _events_reach_a_subscriber(srv, job)


def test_a_long_job_answers_200_with_spaces_then_its_result_or_error(make_server, fake_openai):
    """Past ATELIER_CLIENT_API_KEEPALIVE_SECONDS the answer starts (200, spaces); the JSON that
    follows parses with them (as the SDK's answer type), and a job that then fails says so in
    OpenAI's error shape."""
    from openai.types import ImagesResponse

    srv = _server(make_server, fake_openai, ATELIER_CLIENT_API_KEEPALIVE_SECONDS="1")
    url = srv.url + "/v1/images/generations"
    r = requests.post(url, json={"prompt": "slow", "model": "gated/test"}, stream=True, timeout=60)
    assert r.status_code == 200  # the headers came: the answer has started while the job waits at the gate
    srv.open_gate()
    content = r.content
    assert content.startswith(b" ")
    [item] = ImagesResponse.model_validate(json.loads(content)).data
    _decode(base64.b64decode(item.b64_json))
    _landed(srv, _job(srv, r.headers["X-Atelier-Job"]), "openai")

    srv.gate.unlink()
    r = requests.post(url, json={"prompt": "slow", "model": "gated/test"}, stream=True, timeout=60)
    assert r.status_code == 200
    assert srv.post(f"/api/jobs/{r.headers['X-Atelier-Job']}/cancel").status_code in (200, 202)  # from the studio
    body = json.loads(r.content)
    assert body["error"]["code"] == "job_cancelled" and set(body["error"]) == {"message", "type", "param", "code"}


def test_cancel_setting_keeps_a_job_whose_client_left(make_server, fake_openai):
    """ATELIER_CLIENT_API_CANCEL_ON_DISCONNECT=false: the job runs on and lands in the gallery."""
    srv = _server(
        make_server, fake_openai, ATELIER_CLIENT_API_KEEPALIVE_SECONDS="1", ATELIER_CLIENT_API_CANCEL_ON_DISCONNECT="0"
    )
    body = {"prompt": "slow", "model": "gated/test"}
    r = requests.post(srv.url + "/v1/images/generations", json=body, stream=True, timeout=30)
    assert r.status_code == 200
    job_id = r.headers["X-Atelier-Job"]
    r.close()
    srv.open_gate()
    job = srv.wait_job(job_id, timeout=60)
    assert job["status"] == "succeeded" and job["client"] == "openai"


def test_urls_follow_the_base_path_and_the_proxy(make_server, fake_openai):
    """Under ATELIER_BASE_PATH and behind a trusted proxy, ``url`` is the address the client used."""
    srv = _server(make_server, fake_openai, ATELIER_BASE_PATH="/studio", ATELIER_TRUST_PROXY="1")
    [item] = _sdk(srv).images.generate(prompt="under a sub-path", response_format="url").data
    assert item.url.startswith(srv.url + "/images/") and "/studio/images/" in item.url
    assert requests.get(item.url, timeout=10).status_code == 200

    proxied = OpenAI(
        base_url=srv.url + "/v1",
        api_key="anything",
        max_retries=0,
        default_headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "images.example.org"},
    )
    [item] = proxied.images.generate(prompt="behind a proxy", response_format="url").data
    assert item.url.startswith("https://images.example.org/studio/images/")


# --- the translation itself (no server) ------------------------------------------------------


def test_sizes_users_qualities_and_masks_translate():
    from backend.providers.base import ModelInfo
    from backend.services.openai_dialect import OpenAIError, client_tag, nearest_quality, parse_size, read_ask
    from backend.services.openai_edit import studio_mask

    assert parse_size("auto") is None and parse_size(None) is None and parse_size("1536x1024") == (1536, 1024)
    for garbage in ("1024", "1024x", "x1024", "0x10", "99999x10", "1024X1024", " 1024x1024", "1e3x1e3"):
        with pytest.raises(OpenAIError) as caught:
            parse_size(garbage)
        assert caught.value.status == 400 and caught.value.param == "size"
    assert client_tag(None) == "openai" and client_tag("ann") == "openai:ann"
    assert client_tag("a b\n<script>" + "x" * 200) == "openai:a_b__script_" + "x" * 52
    gpt = ModelInfo("m", "M", {"1:1": (8, 8)}, qualities=("low", "medium", "high"))
    dalle = ModelInfo("d", "D", {"1:1": (8, 8)}, qualities=("standard", "hd"))
    assert nearest_quality("hd", gpt) == "high" and nearest_quality("high", dalle) == "hd"
    assert nearest_quality("low", gpt) == "low" and nearest_quality("ultra", gpt) == "ultra"
    ask = read_ask({"prompt": "p", "n": "3", "seed": "7", "stream": "false"}, form=True)
    assert (ask.n, ask.seed, ask.response_format) == (3, 7, None)
    with pytest.raises(OpenAIError):
        read_ask({"prompt": "p", "n": "3"})  # JSON: n is a number, not a string

    # OpenAI's mask: transparent = change; Atelier's: white = change
    converted = Image.open(io.BytesIO(studio_mask(_openai_mask((40, 30), (0, 0, 9, 9)), (40, 30))))
    assert converted.mode == "L" and converted.getpixel((5, 5)) == 255 and converted.getpixel((30, 20)) == 0
    white = Image.new("L", (40, 30), 0)
    ImageDraw.Draw(white).rectangle((20, 10, 30, 20), fill=255)
    buf = io.BytesIO()
    white.save(buf, "PNG")  # no transparency at all: read as Atelier's own convention
    converted = Image.open(io.BytesIO(studio_mask(buf.getvalue(), (40, 30))))
    assert converted.getpixel((25, 15)) == 255 and converted.getpixel((5, 5)) == 0
