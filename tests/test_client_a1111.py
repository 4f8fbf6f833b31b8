"""The AUTOMATIC1111 API (/sdapi/v1) driven by the real ``webuiapi`` client and by request
bodies exactly as SillyTavern and Open WebUI send them, against the real server: the
``instant`` and ``gated`` test providers, OpenAI's fake for img2img. Every image decodes,
lands in the gallery with ``client: a1111`` in its metadata, and its job's events reach a
Socket.IO subscriber; every refusal is in A1111's shape and writes nothing."""

from __future__ import annotations

import base64
import io
import json
import threading
from pathlib import Path

import pytest
import requests
import webuiapi
from PIL import Image, ImageDraw

from tests.fakes.openai_api import FakeOpenAI
from tests.support.cloud import FAST_SETTINGS
from tests.support.server import ServerProcess
from tests.support.sio import EventRecorder
from tests.support.tools import gallery_metadata

FIXTURES = Path(__file__).parent / "fixtures"
INTEROP = FIXTURES / "interop"
CLIENTS = FIXTURES / "clients"
OPENAI_KEY = "sk-a1111-SECRET-openai"
TOKEN = "a1111-token-SECRET-0123456789"


@pytest.fixture(scope="module")
def fake_openai():
    with FakeOpenAI(OPENAI_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def srv(tmp_path_factory, fake_openai):
    proc = ServerProcess(
        tmp_path_factory.mktemp("a1111"),
        "eventlet",
        ATELIER_DEFAULT_PROVIDER="instant",
        OPENAI_BASE_URL=fake_openai.url + "/v1",
        OPENAI_API_KEY=OPENAI_KEY,
        **FAST_SETTINGS,
    ).start()
    yield proc
    proc.stop()


@pytest.fixture
def api(srv) -> webuiapi.WebUIApi:
    return webuiapi.WebUIApi(baseurl=srv.url + "/sdapi/v1")


def png(size=(64, 48), colour=(40, 120, 200)) -> Image.Image:
    return Image.new("RGB", size, colour)


def b64_png(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def gallery_files(server: ServerProcess) -> set[str]:
    return {
        p.relative_to(server.gallery).as_posix()
        for p in server.gallery.rglob("*")
        if p.is_file() and not p.relative_to(server.gallery).as_posix().startswith(".")
    }


def job_of(srv: ServerProcess, info: dict) -> dict:
    return srv.get(f"/api/jobs/{info['job_id']}").json()["job"]


def check_job(srv: ServerProcess, info: dict, images: list, n: int) -> dict:
    """The call's job: tagged a1111, its images in the gallery with client in their metadata,
    decoding to what the answer held, and its events replayed to a Socket.IO subscriber."""
    job = job_of(srv, info)
    assert job["client"] == "a1111" and job["status"] == "succeeded"
    assert len(job["images"]) == len(images) == n
    for image, answered in zip(job["images"], images, strict=True):
        assert (srv.gallery / image["path"]).is_file()
        assert gallery_metadata(srv.gallery, image)["client"] == "a1111"
        with Image.open(srv.gallery / image["path"]) as stored:
            assert stored.size == answered.size
    recorder = EventRecorder(srv.url).connect()
    try:
        recorder.subscribe(job_id=job["id"], after_seq=0)
        done = recorder.wait_event("job.succeeded", job["id"])
        names = [e for e, _ in recorder.job_events(job["id"])]
        assert "job.queued" in names and "job.started" in names
        assert len(done["images"]) == n
    finally:
        recorder.close()
    return job


# --- webuiapi ------------------------------------------------------------------------------
def test_txt2img_batch_seed_and_styles(srv, api):
    result = api.txt2img(prompt="a red fox", negative_prompt="fog", batch_size=2, seed=1234, styles=["oil-painting"])
    assert len(result.images) == 2
    for image in result.images:
        image.load()  # decodes
        assert image.format == "PNG"
    info = result.info
    assert info["all_seeds"] == [1234, 1235] and info["seed"] == 1234
    assert info["prompt"] == "a red fox" and info["negative_prompt"] == "fog"
    assert info["styles"] == ["oil-painting"] and "a red fox" in info["all_prompts"][0] != "a red fox"
    assert info["width"] == 64 and info["height"] == 64 and info["sd_model_name"] == "instant/test"
    # the infotext is the A1111 parameters text Atelier wrote into each image
    assert len(info["infotexts"]) == 2 and "Seed: 1234" in info["infotexts"][0]
    assert result.images[0].info["parameters"] == info["infotexts"][0]
    # what no provider honours is said, not dropped: webuiapi always sends cfg 7 and Euler a
    warned = {w["field"] for w in info["warnings"]}
    assert {"cfg_scale", "sampler_name", "size"} <= warned
    assert result.parameters["prompt"] == "a red fox" and result.parameters["batch_size"] == 2
    job = check_job(srv, info, result.images, 2)
    assert {w["field"] for w in job["warnings"]} >= {"cfg_scale", "sampler_name"}


def test_unsupported_fields_are_accepted_and_named(srv, api):
    result = api.txt2img(
        prompt="tiny boat",
        enable_hr=True,
        hr_scale=2,
        script_name="x/y/z plot",
        alwayson_scripts={"ControlNet": {"args": []}},
        width=960,
        height=540,
        sampler_name="Automatic",
        cfg_scale=None,
    )
    assert len(result.images) == 1
    warned = {w["field"] for w in result.info["warnings"]}
    assert {"enable_hr", "script_name", "alwayson_scripts", "size"} <= warned
    assert "sampler_name" not in warned and "cfg_scale" not in warned
    # 960x540 is 16:9: the instant model's 16:9 size is asked for, and the change reported
    size = next(w for w in result.info["warnings"] if w["field"] == "size")
    assert size["requested"] == "960x540" and size["used"] == "96x54"
    job = check_job(srv, result.info, result.images, 1)
    assert job["request"]["aspect_ratio"] == "16:9"


def test_img2img_with_init_image_and_mask(srv, api, fake_openai):
    source = png((64, 48))
    mask = Image.new("L", (64, 48), 0)
    ImageDraw.Draw(mask).rectangle((10, 10, 30, 30), fill=255)
    before = len(fake_openai.requests)
    result = api.img2img(
        images=[source],
        mask_image=mask,
        prompt="a red door",
        denoising_strength=0.6,
        mask_blur=4,
        inpainting_fill=1,
        override_settings={"sd_model_checkpoint": "openai/gpt-image-1"},
    )
    assert len(result.images) == 1
    result.images[0].load()
    info = result.info
    warned = {w["field"] for w in info["warnings"]}
    assert {"denoising_strength", "mask_blur", "inpainting_fill"} <= warned
    sent = fake_openai.requests[before:]
    assert [r.path for r in sent] == ["/v1/images/edits"]
    assert {p.name for p in sent[0].parts()} >= {"image", "mask", "prompt"}
    job = check_job(srv, info, result.images, 1)
    assert job["kind"] == "edit" and job["tool"]["operation"] == "inpaint" and job["provider"] == "openai"


def test_img2img_without_a_mask_is_a_general_edit_by_a_provider_that_can(srv, api):
    # the default checkpoint (instant) cannot edit: the first provider that can does, and it is said
    result = api.img2img(images=[png()], prompt="make it autumn")
    assert len(result.images) == 1
    assert "sd_model_checkpoint" in {w["field"] for w in result.info["warnings"]}
    job = check_job(srv, result.info, result.images, 1)
    assert job["tool"]["operation"] == "general"


def test_options_choose_the_model_of_later_calls(srv, api):
    titles = api.util_get_model_names()
    assert "instant/test" in titles and "gated/test" in titles
    models = api.get_sd_models()
    assert {"title", "model_name", "hash", "filename"} <= set(models[0])
    assert api.get_options()["sd_model_checkpoint"] == "instant/test"
    try:
        # A1111 titles carry a hash suffix; Atelier's ids are taken with or without it
        api.set_options({"sd_model_checkpoint": "offline/procedural-draft [0123456789]", "CLIP_stop_at_last_layers": 2})
        options = api.get_options()
        assert options["sd_model_checkpoint"] == "offline/procedural-draft"
        assert options["CLIP_stop_at_last_layers"] == 2  # unknown keys kept and echoed
        result = api.txt2img(prompt="hills", steps=2, cfg_scale=None, sampler_name="Automatic")
        assert result.info["sd_model_name"] == "offline/procedural-draft"
        check_job(srv, result.info, result.images, 1)
        # a call's override_settings wins over the option, for that call only
        other = api.txt2img(prompt="hills", override_settings={"sd_model_checkpoint": "instant/test"})
        assert other.info["sd_model_name"] == "instant/test"
    finally:
        api.set_options({"sd_model_checkpoint": "instant/test"})


def test_lists_a_client_reads(srv, api):
    assert [s["name"] for s in api.get_samplers()] == ["Automatic"]
    assert api.get_schedulers()[0]["name"] == "automatic"
    assert api.get_upscalers()[0]["name"] == "None"
    assert api.get_sd_vae() == [] and api.get_loras() == []
    styles = {s["name"]: s for s in api.get_prompt_styles()}
    assert "oil-painting" in styles and {"prompt", "negative_prompt"} <= set(styles["oil-painting"])
    assert api.get_scripts() == {"txt2img": [], "img2img": []}
    memory = api.get_memory()
    assert memory["ram"]["total"] > 0
    assert srv.get("/sdapi/v1/latent-upscale-modes").json() == []
    assert srv.get("/sdapi/v1/no-such-route").json() == {"detail": "Not Found"}
    r = srv.get("/sdapi/v1/txt2img")
    assert r.status_code == 405 and r.json() == {"detail": "Method Not Allowed"}


def test_progress_while_a_gated_job_runs_and_interrupt_cancels_it(srv, api):
    results: list = []
    caller = threading.Thread(
        target=lambda: results.append(
            api.txt2img(prompt="slow", override_settings={"sd_model_checkpoint": "gated/test"})
        )
    )
    caller.start()
    progress = {}
    for _ in range(400):  # until the job has made its first step and preview (no timing asserted)
        progress = api.get_progress()
        if progress["current_image"] and progress["progress"] > 0:
            break
        threading.Event().wait(0.05)
    assert progress["state"]["job_count"] >= 1 and 0 < progress["progress"] < 1
    assert progress["eta_relative"] >= 0 and progress["state"]["job"]
    Image.open(io.BytesIO(base64.b64decode(progress["current_image"]))).load()
    job_id = progress["state"]["job"]
    assert api.interrupt() == {}
    caller.join(30)
    assert not caller.is_alive()
    result = results[0]
    assert result.images == [] and result.info["job_id"] == job_id
    assert "job" in {w["field"] for w in result.info["warnings"]}
    assert srv.get(f"/api/jobs/{job_id}").json()["job"]["status"] == "cancelled"
    idle = api.get_progress()
    assert idle["state"]["job_count"] == 0 and idle["progress"] == 0 and idle["current_image"] is None


def test_png_info_of_an_atelier_image_and_of_a_real_a1111_file(srv, api):
    made = api.txt2img(prompt="a lantern", seed=77, negative_prompt="smoke")
    read = api.png_info(made.images[0]).info
    assert read == made.info["infotexts"][0]
    answer = requests.post(
        srv.url + "/sdapi/v1/png-info", json={"image": webuiapi.raw_b64_img(made.images[0])}, timeout=10
    ).json()
    assert answer["parameters"]["Prompt"] == "a lantern" and answer["parameters"]["Seed"] == "77"
    assert answer["parameters"]["Negative prompt"] == "smoke"

    manifest = json.loads((INTEROP / "manifest.json").read_text())
    case = next(c for c in manifest["cases"] if c["file"].endswith("automatic1111_cropped.png"))
    data = (INTEROP / case["file"]).read_bytes()
    r = requests.post(srv.url + "/sdapi/v1/png-info", json={"image": base64.b64encode(data).decode()}, timeout=10)
    assert r.status_code == 200, r.text
    parameters, expect = r.json()["parameters"], case["expect"]
    assert parameters["Prompt"] == expect["prompt"] and parameters["Negative prompt"] == expect["negative_prompt"]
    assert parameters["Steps"] == str(expect["steps"]) and parameters["Seed"] == str(expect["seed"])
    assert parameters["Sampler"] == expect["sampler"]
    assert (parameters["Size-1"], parameters["Size-2"]) == (str(expect["width"]), str(expect["height"]))
    assert r.json()["info"].startswith(expect["prompt"])


# --- bad input: A1111's shapes, nothing written ---------------------------------------------------
def _bomb_png() -> str:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    data = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
    )
    return base64.b64encode(data).decode()


NOT_AN_IMAGE = base64.b64encode(b"just some text, not an image").decode()
GOOD = b64_png(png((64, 48)))
OTHER_SIZE_MASK = b64_png(Image.new("L", (32, 32), 255))

VALIDATION_CASES = [
    ("txt2img", {"negative_prompt": "x"}, ["body", "prompt"]),
    ("txt2img", {"prompt": "   "}, ["body", "prompt"]),
    ("txt2img", {"prompt": "x", "width": "wide"}, ["body", "width"]),
    ("txt2img", {"prompt": "x", "height": -4}, ["body", "height"]),
    ("txt2img", {"prompt": "x", "seed": -7}, ["body", "seed"]),
    ("txt2img", {"prompt": "x", "batch_size": 8, "n_iter": 8}, ["body", "batch_size"]),
    ("txt2img", {"prompt": "x", "styles": ["no-such-style"]}, ["body", "styles", 0]),
    ("txt2img", [1, 2], ["body"]),
    ("img2img", {"prompt": "x"}, ["body", "init_images"]),
    ("img2img", {"prompt": "x", "init_images": [NOT_AN_IMAGE]}, ["body", "init_images", 0]),
    ("img2img", {"prompt": "x", "init_images": ["data:image/png;base64," + _bomb_png()]}, ["body", "init_images", 0]),
    ("img2img", {"prompt": "x", "init_images": [GOOD], "mask": OTHER_SIZE_MASK}, ["body", "mask"]),
    ("img2img", {"prompt": "x", "init_images": [GOOD], "mask": NOT_AN_IMAGE}, ["body", "mask"]),
    ("png-info", {"image": NOT_AN_IMAGE}, ["body", "init_images", 0]),
]


@pytest.mark.parametrize("route, body, loc", VALIDATION_CASES)
def test_bad_fields_are_fastapi_422s_and_write_nothing(srv, route, body, loc):
    before, jobs_before = gallery_files(srv), srv.get("/api/jobs?limit=200").json()["items"]
    r = srv.post(f"/sdapi/v1/{route}", json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, list) and {"loc", "msg", "type"} <= set(detail[0])
    expected = ["body", "image"] if route == "png-info" else loc
    assert detail[0]["loc"] == expected
    assert gallery_files(srv) == before
    assert srv.get("/api/jobs?limit=200").json()["items"] == jobs_before


def test_unknown_model_and_bad_json_in_a1111_shapes(srv, api):
    before = gallery_files(srv)
    for body in (
        {"prompt": "x", "override_settings": {"sd_model_checkpoint": "sd_xl_base_1.0.safetensors [31e35c80fc]"}},
    ):
        r = srv.post("/sdapi/v1/txt2img", json=body)
        assert r.status_code == 404
        assert set(r.json()) == {"error", "detail", "body", "errors"} and r.json()["error"] == "HTTPException"
    r = srv.post("/sdapi/v1/options", json={"sd_model_checkpoint": "nope"})
    assert r.status_code == 404 and "Model not found" in r.json()["detail"]
    assert api.get_options()["sd_model_checkpoint"] == "instant/test"  # unchanged
    r = requests.post(srv.url + "/sdapi/v1/txt2img", data="{not json", timeout=10)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body"]
    with pytest.raises(RuntimeError) as raised:  # what webuiapi makes of a refusal
        api.txt2img(prompt="", negative_prompt="x")
    assert raised.value.args[0] == 422
    assert gallery_files(srv) == before


# --- the bodies other clients send ---------------------------------------------------------------
def _fixture(name: str) -> dict:
    return json.loads((CLIENTS / name).read_text())


def test_sillytavern_set_model_then_generate(srv):
    set_model = _fixture("sillytavern_set_model.json")["body"]
    assert requests.post(srv.url + "/sdapi/v1/options", json={**set_model, "sd_model_checkpoint": "instant/test"},
                         timeout=10).status_code == 200  # fmt: skip
    progress = srv.get("/sdapi/v1/progress").json()
    assert progress["progress"] == 0.0 and progress["state"]["job_count"] == 0  # what set-model waits for
    body = _fixture("sillytavern_txt2img.json")["body"]
    r = requests.post(srv.url + "/sdapi/v1/txt2img", json=body, timeout=30)
    assert r.status_code == 200, r.text
    answer = r.json()
    image = Image.open(io.BytesIO(base64.b64decode(answer["images"][0])))
    image.load()
    info = json.loads(answer["info"])
    assert "auth" not in answer["parameters"] and answer["parameters"]["url"] == body["url"]
    warned = {w["field"] for w in info["warnings"]}
    assert {"cfg_scale", "sampler_name"} <= warned and "hr_upscaler" not in warned  # hires off: nothing to say
    check_job(srv, info, [image], 1)


def test_open_webui_options_round_trip_then_generate(srv):
    fixture = _fixture("openwebui_txt2img.json")
    headers = fixture["headers"]
    options = requests.get(srv.url + "/sdapi/v1/options", headers=headers, timeout=10).json()
    titles = [m["title"] for m in requests.get(srv.url + "/sdapi/v1/sd-models", headers=headers, timeout=10).json()]
    assert "instant/test" in titles
    options["sd_model_checkpoint"] = "instant/test"
    r = requests.post(srv.url + "/sdapi/v1/options", json=options, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    r = requests.post(srv.url + "/sdapi/v1/txt2img", json=fixture["body"], headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert not answer["images"][0].startswith("data:")
    image = Image.open(io.BytesIO(base64.b64decode(answer["images"][0])))
    image.load()
    info = json.loads(answer["info"])
    assert info["steps"] == 4 and info["negative_prompt"] == "blurry"
    check_job(srv, info, [image], 1)


# --- credentials ------------------------------------------------------------------------------
def test_credentials_basic_bearer_and_refusals(make_server):
    server = make_server(ATELIER_TOKEN=TOKEN, ATELIER_DEFAULT_PROVIDER="instant")
    before = gallery_files(server)
    wrong = "Basic " + base64.b64encode(b"user:wrong").decode()
    for headers in ({}, {"Authorization": wrong}, {"Authorization": "Bearer wrong"}):
        for method, path in (
            ("post", "/sdapi/v1/txt2img"),
            ("get", "/sdapi/v1/options"),
            ("get", "/sdapi/v1/sd-models"),
        ):
            r = getattr(requests, method)(server.url + path, json={"prompt": "x"}, headers=headers, timeout=10)
            assert r.status_code == 401
            body = r.json()
            assert body["error"] == "HTTPException" and set(body) == {"error", "detail", "body", "errors"}
            assert TOKEN not in r.text
    assert gallery_files(server) == before
    with pytest.raises(RuntimeError):
        webuiapi.WebUIApi(baseurl=server.url + "/sdapi/v1").txt2img(prompt="x")

    api = webuiapi.WebUIApi(baseurl=server.url + "/sdapi/v1")
    api.set_auth("anyone", TOKEN)  # HTTP Basic: the token is the password
    result = api.txt2img(prompt="a key", seed=3)
    assert len(result.images) == 1 and result.info["all_seeds"] == [3]
    r = requests.get(server.url + "/sdapi/v1/options", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 200 and r.json()["sd_model_checkpoint"] == "instant/test"
    job = server.get(f"/api/jobs/{result.info['job_id']}", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert job["job"]["client"] == "a1111"


def test_over_budget_is_a_402_and_writes_nothing(make_server, fake_openai):
    server = make_server(
        ATELIER_DEFAULT_PROVIDER="instant",
        ATELIER_MONTHLY_BUDGET_USD="0.001",
        OPENAI_BASE_URL=fake_openai.url + "/v1",
        OPENAI_API_KEY=OPENAI_KEY,
        **FAST_SETTINGS,
    )
    before, calls = gallery_files(server), len(fake_openai.requests)
    for route, body in (
        ("txt2img", {"prompt": "x"}),
        ("img2img", {"prompt": "x", "init_images": [GOOD]}),
    ):
        override = {"override_settings": {"sd_model_checkpoint": "openai/gpt-image-1"}}
        r = requests.post(server.url + f"/sdapi/v1/{route}", json={**body, **override}, timeout=10)
        assert r.status_code == 402, r.text
        assert r.json()["error"] == "HTTPException" and "budget" in r.json()["detail"].lower()
    assert gallery_files(server) == before and len(fake_openai.requests) == calls
    assert server.get("/api/jobs").json()["items"] == []


def test_rate_limit_size_limit_and_foreign_origins(make_server):
    server = make_server(ATELIER_DEFAULT_PROVIDER="instant", ATELIER_RATE_LIMIT="3/minute")  # the 413 below counts too
    before = gallery_files(server)
    # a page of another origin cannot make a browser spend this studio's budget
    r = requests.post(server.url + "/sdapi/v1/txt2img", json={"prompt": "x"},
                      headers={"Origin": "http://evil.example"}, timeout=10)  # fmt: skip
    assert r.status_code == 403
    # a JSON body over the 1 MB limit: 413 in A1111's shape
    r = requests.post(server.url + "/sdapi/v1/txt2img", json={"prompt": "x" * (1024 * 1024 + 10)}, timeout=10)
    assert r.status_code == 413 and r.json()["error"] == "HTTPException"
    assert gallery_files(server) == before
    api = webuiapi.WebUIApi(baseurl=server.url + "/sdapi/v1")
    api.txt2img(prompt="one")
    api.txt2img(prompt="two")
    r = requests.post(server.url + "/sdapi/v1/txt2img", json={"prompt": "three"}, timeout=10)
    assert r.status_code == 429 and r.json()["error"] == "HTTPException" and "Retry-After" in r.headers
    assert requests.get(server.url + "/sdapi/v1/options", timeout=10).status_code == 200  # reading is not limited


def test_failed_jobs_and_long_jobs(make_server):
    server = make_server(ATELIER_DEFAULT_PROVIDER="instant", ATELIER_CLIENT_API_KEEPALIVE_SECONDS="1")
    # a provider's refusal: its status and message, in A1111's exception shape
    r = requests.post(
        server.url + "/sdapi/v1/txt2img",
        json={"prompt": "x", "override_settings": {"sd_model_checkpoint": "refusing/test"}},
        timeout=30,
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "RuntimeError" and "refused" in r.json()["detail"]
    # a job running past the keep-alive: the answer starts (200, spaces) and the JSON follows
    api = webuiapi.WebUIApi(baseurl=server.url + "/sdapi/v1")
    results: list = []
    caller = threading.Thread(
        target=lambda: results.append(
            api.txt2img(prompt="slow", override_settings={"sd_model_checkpoint": "gated/test"})
        )
    )
    caller.start()
    for _ in range(400):
        if api.get_progress()["state"]["job_count"]:
            break
        threading.Event().wait(0.05)
    threading.Event().wait(1.5)  # past the keep-alive (the result is the same either way)
    server.open_gate()
    caller.join(30)
    assert len(results[0].images) == 1 and results[0].info["sd_model_name"] == "gated/test"
    check_job(server, results[0].info, results[0].images, 1)


def test_hostile_bodies_stay_bounded(srv):
    # ten thousand unknown fields: accepted, named up to a bound, the job record stays small
    body = {"prompt": "x", **{f"field_{i}": i + 1 for i in range(10_000)}}
    r = srv.post("/sdapi/v1/txt2img", json=body)
    assert r.status_code == 200, r.text
    info = json.loads(r.json()["info"])
    assert len(info["warnings"]) <= 25 and info["warnings"][-1]["requested"] == 10_000 - 20
    assert len(json.dumps(job_of(srv, info)["warnings"])) < 10_000
    # options are kept within a bound
    r = srv.post("/sdapi/v1/options", json={f"opt_{i}": "v" * 1000 for i in range(400)})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body"]
    assert "opt_0" not in srv.get("/sdapi/v1/options").json()
