"""The diffusers provider on tiny random-weight pipelines (provider-apis.md 6.3).

The pipelines are built here from configs, saved to a temporary folder, and loaded
through the provider's own loading code (``ATELIER_DIFFUSERS_MODELS_DIR``), offline.
Skipped only when the optional packages of requirements-local.txt are missing.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing below may reach the Hub
pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from PIL import Image, ImageChops  # noqa: E402

from backend.providers.base import Cancelled, GenerationRequest, ProviderError  # noqa: E402
from backend.providers.diffusers_local import INSTALL_HINT, SD_SIZES, DiffusersProvider  # noqa: E402
from backend.storage.infotext import parse_infotext  # noqa: E402
from tests.support.server import ROOT, ServerProcess  # noqa: E402
from tests.support.sio import EventRecorder  # noqa: E402
from tests.support.tiny_diffusers import FOLDERS, TINY_SIZES, save_tiny_models, tiny_sd  # noqa: E402

# diffusers' own notices about the tiny configs (steps_offset, numpy copy keyword): not ours
pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

MODEL_IDS = {"flux": "flux.1-schnell", "zimage": "z-image-turbo", "sd": "sd-turbo"}
HIDE_LOCAL_PACKAGES = textwrap.dedent(
    """
    # Makes torch, diffusers and transformers look not installed, as on a machine without
    # requirements-local.txt: a meta-path finder consulted before the real ones.
    import sys

    class _Hide:
        HIDDEN = ("torch", "diffusers", "transformers")

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.HIDDEN:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _Hide())
    """
)


class Ctx:
    """A GenerationContext that records what the provider reports; thread-safe."""

    def __init__(self, cancel_after_steps: int | None = None, hold_at_step: threading.Event | None = None) -> None:
        self.steps: list[tuple[int, int, int]] = []
        self.previews: list[tuple[int, Image.Image]] = []
        self.statuses: list[str] = []
        self.cancel_after = cancel_after_steps
        self.hold = hold_at_step  # step() waits on it: a job that stays busy until the test says so
        self.in_step = threading.Event()
        self.status_seen = threading.Event()
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled or (self.cancel_after is not None and len(self.steps) >= self.cancel_after)

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled()

    def status(self, message: str) -> None:
        self.statuses.append(message)
        self.status_seen.set()

    def step(self, index: int, step: int, total_steps: int, message: str = "") -> None:
        self.steps.append((index, step, total_steps))
        self.in_step.set()
        if self.hold is not None:
            assert self.hold.wait(30)

    def preview(self, index: int, image: Image.Image) -> None:
        self.previews.append((index, image.copy()))


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    return save_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def empty_cache(tmp_path) -> Path:
    path = tmp_path / "hf-cache"
    path.mkdir()
    return path


@pytest.fixture
def provider(models_dir, empty_cache) -> DiffusersProvider:
    return DiffusersProvider({"ATELIER_DIFFUSERS_MODELS_DIR": str(models_dir), "HF_HUB_CACHE": str(empty_cache)})


def req(model: str, *, steps: int = 2, seed: int | None = 7, n: int = 1, ratio: str = "1:1", size=None, **kw):
    key = next(k for k, v in MODEL_IDS.items() if v == model)
    width, height = size or TINY_SIZES[key][ratio]
    return GenerationRequest(
        prompt="a red cat",
        styled_prompt="a photo of a red cat",
        negative_prompt="",
        provider="diffusers",
        model=model,
        style="none",
        aspect_ratio=ratio,
        width=width,
        height=height,
        n=n,
        seed=seed,
        steps=steps,
        **kw,
    )


def pixels(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB").copy()


# --- capabilities ---------------------------------------------------------------------------
def test_lists_the_three_models_found_in_the_folder_with_their_capabilities(provider):
    assert provider.availability() == (True, None)
    info = provider.to_json()
    models = {m["id"]: m for m in info["models"]}
    assert list(models) == ["flux.1-schnell", "z-image-turbo", "sd-turbo"]
    assert info["default_model"] == "flux.1-schnell" and info["not_installed"] == []
    assert models["flux.1-schnell"]["steps"] == {"min": 1, "max": 4, "default": 4}
    assert models["z-image-turbo"]["steps"] == {"min": 1, "max": 16, "default": 8}
    assert models["sd-turbo"]["steps"] == {"min": 1, "max": 4, "default": 1}
    for key, model_id in MODEL_IDS.items():
        m = models[model_id]
        assert m["source"] == "models_dir" and m["guidance_scale"] == 0.0
        assert m["supports_seed"] is True and m["supports_negative_prompt"] is False
        assert m["step_progress"] is True and m["cancel"] is True and m["price_per_image"] == 0.0
        # the folder's atelier.json size table replaces the model's own
        assert {r: [s["width"], s["height"]] for r, s in m["aspect_ratios"].items()} == TINY_SIZES[key]
    assert models["flux.1-schnell"]["pipeline"] == "FluxPipeline"
    assert models["flux.1-schnell"]["repo"] == "black-forest-labs/FLUX.1-schnell"


def test_a_folder_without_atelier_json_gets_the_models_real_size_table(models_dir, tmp_path, empty_cache):
    shutil.copytree(models_dir / FOLDERS["sd"], tmp_path / "own" / "stabilityai--sd-turbo")
    (tmp_path / "own" / "stabilityai--sd-turbo" / "atelier.json").unlink()
    shutil.copytree(models_dir / FOLDERS["zimage"], tmp_path / "own" / "my-finetune")  # unknown name, known class
    p = DiffusersProvider({"ATELIER_DIFFUSERS_MODELS_DIR": str(tmp_path / "own"), "HF_HUB_CACHE": str(empty_cache)})
    models = {m.id: m for m in p.models()}
    assert set(models) == {"sd-turbo", "my-finetune"}
    assert models["sd-turbo"].sizes == SD_SIZES and SD_SIZES["1:1"] == (512, 512) and SD_SIZES["16:9"] == (672, 384)
    assert models["my-finetune"].family == "ZImagePipeline" and models["my-finetune"].sizes["1:1"] == (32, 32)
    assert p.to_json()["not_installed"][0]["download"] == "hf download black-forest-labs/FLUX.1-schnell"


def test_without_any_model_it_is_unavailable_and_says_how_to_get_one(tmp_path, empty_cache):
    p = DiffusersProvider({"ATELIER_DIFFUSERS_MODELS_DIR": str(tmp_path / "none"), "HF_HUB_CACHE": str(empty_cache)})
    available, reason = p.availability()
    assert available is False and "hf download" in reason and "ATELIER_DIFFUSERS_ALLOW_DOWNLOAD" in reason
    assert [m.id for m in p.models()] == ["flux.1-schnell", "z-image-turbo", "sd-turbo"]
    allowed = DiffusersProvider({**p.env, "ATELIER_DIFFUSERS_ALLOW_DOWNLOAD": "1"})
    assert allowed.availability() == (True, None)
    assert {m.source for m in allowed.models()} == {"download"}


@pytest.mark.parametrize(("name", "value"), [("ATELIER_DIFFUSERS_DEVICE", "tpu"), ("ATELIER_DIFFUSERS_DTYPE", "int4")])
def test_a_bad_device_or_dtype_stops_the_start_naming_the_setting(provider, name, value):
    """Like every other choice (backend/config.py): one line at start, not a provider listed
    unavailable in a menu the user may never open."""
    from backend.env_values import SettingsError

    with pytest.raises(SettingsError, match=f"^{name}='{value}'; use one of auto, "):
        DiffusersProvider({**provider.env, name: value})
    assert DiffusersProvider({**provider.env, name: "AUTO"}).availability()[0]  # any case


# --- generation -------------------------------------------------------------------------------
@pytest.mark.parametrize("model", list(MODEL_IDS.values()))
def test_reports_every_requested_step_and_previews_and_makes_the_image(provider, model):
    ctx = Ctx()
    images = list(provider.generate(req(model, steps=3, ratio="16:9", n=2), ctx))
    assert ctx.steps == [(i, s, 3) for i in (0, 1) for s in (1, 2, 3)]
    assert [i for i, _ in ctx.previews] == [0, 0, 0, 1, 1, 1]
    key = next(k for k, v in MODEL_IDS.items() if v == model)
    width, height = TINY_SIZES[key]["16:9"]
    assert all(im.mode == "RGB" and im.size == (width, height) for _, im in ctx.previews), "previews keep the shape"
    assert [g.index for g in images] == [0, 1] and [g.seed for g in images] == [7, 8]
    for g in images:
        assert pixels(g.data).size == (width, height)
        assert g.metadata["device"] == "cpu" and g.metadata["guidance_scale"] == 0.0


@pytest.mark.parametrize("model", list(MODEL_IDS.values()))
def test_the_same_seed_gives_the_same_image_and_another_seed_another(provider, model):
    first = next(provider.generate(req(model, seed=1234), Ctx())).data
    again = next(provider.generate(req(model, seed=1234), Ctx())).data
    other = next(provider.generate(req(model, seed=99), Ctx())).data
    if model == "flux.1-schnell":  # Flux differs by <= 1e-3 between runs (spec 6.3): one grey level at most
        assert max(ImageChops.difference(pixels(first), pixels(again)).getextrema())[1] <= 1
    else:
        assert first == again
    assert pixels(first).tobytes() != pixels(other).tobytes()


def test_cancel_stops_at_the_next_step_and_the_pipeline_stays_usable(provider):
    ctx = Ctx(cancel_after_steps=2)
    with pytest.raises(Cancelled):
        list(provider.generate(req("z-image-turbo", steps=4, n=2), ctx))
    assert ctx.steps == [(0, 1, 4), (0, 2, 4)], "no step runs after the cancel"
    loads = provider.load_count
    done = list(provider.generate(req("z-image-turbo", steps=4), Ctx()))
    assert len(done) == 1 and provider.load_count == loads


def test_a_loaded_pipeline_is_reused_and_another_model_replaces_it(provider):
    first, second, third = Ctx(), Ctx(), Ctx()
    list(provider.generate(req("sd-turbo"), first))
    pipe = provider._pipe
    list(provider.generate(req("sd-turbo", seed=3), second))
    assert provider.load_count == 1 and provider._pipe is pipe and provider.loaded_model == "sd-turbo"
    assert any("loading SD-Turbo" in s for s in first.statuses)
    assert not any("loading" in s for s in second.statuses), "the second job does not load again"
    list(provider.generate(req("flux.1-schnell"), third))
    assert provider.load_count == 2 and provider.loaded_model == "flux.1-schnell" and provider._pipe is not pipe
    assert provider.to_json()["loaded_model"] == "flux.1-schnell"


def test_two_jobs_take_turns_on_the_pipeline(provider):
    release = threading.Event()
    busy, waiting = Ctx(hold_at_step=release), Ctx()
    results: dict[str, list] = {}

    def run(name, ctx, model):
        results[name] = list(provider.generate(req(model), ctx))

    a = threading.Thread(target=run, args=("a", busy, "sd-turbo"))
    a.start()
    assert busy.in_step.wait(30)
    b = threading.Thread(target=run, args=("b", waiting, "z-image-turbo"))
    b.start()
    assert waiting.status_seen.wait(30)
    assert waiting.statuses[0].startswith("waiting for the local GPU") and waiting.steps == []
    release.set()
    a.join(30)
    b.join(30)
    assert len(results["a"]) == 1 and len(results["b"]) == 1 and provider.loaded_model == "z-image-turbo"


def test_a_waiting_job_can_be_cancelled(provider):
    release = threading.Event()
    busy, waiting = Ctx(hold_at_step=release), Ctx()
    a = threading.Thread(target=lambda: list(provider.generate(req("sd-turbo"), busy)))
    a.start()
    assert busy.in_step.wait(30)
    errors: list[BaseException] = []

    def wait_then_fail():
        try:
            list(provider.generate(req("sd-turbo"), waiting))
        except BaseException as exc:  # noqa: BLE001 - recorded for the assert
            errors.append(exc)

    b = threading.Thread(target=wait_then_fail)
    b.start()
    assert waiting.status_seen.wait(30)
    waiting.cancel()
    b.join(30)
    release.set()
    a.join(30)
    assert len(errors) == 1 and isinstance(errors[0], Cancelled) and waiting.steps == []


def test_loads_from_the_hugging_face_cache_layout(tmp_path):
    cache = tmp_path / "hub"
    snapshot = cache / "models--stabilityai--sd-turbo" / "snapshots" / "0123abcd"
    tiny_sd().save_pretrained(snapshot)
    (cache / "models--stabilityai--sd-turbo" / "refs").mkdir()
    (cache / "models--stabilityai--sd-turbo" / "refs" / "main").write_text("0123abcd")
    p = DiffusersProvider({"ATELIER_DIFFUSERS_MODELS_DIR": str(tmp_path / "none"), "HF_HUB_CACHE": str(cache)})
    assert [(m.id, m.source) for m in p.models()] == [("sd-turbo", "hf_cache")]
    assert p.model("sd-turbo").sizes["1:1"] == (512, 512)
    images = list(p.generate(req("sd-turbo", size=(32, 32)), Ctx()))
    assert pixels(images[0].data).size == (32, 32)


def test_missing_weights_fail_clearly_without_downloading(models_dir, tmp_path, empty_cache):
    broken = tmp_path / "own" / "sd-turbo"
    shutil.copytree(models_dir / FOLDERS["sd"], broken)
    shutil.rmtree(broken / "unet")
    p = DiffusersProvider({"ATELIER_DIFFUSERS_MODELS_DIR": str(tmp_path / "own"), "HF_HUB_CACHE": str(empty_cache)})
    with pytest.raises(ProviderError) as info:
        list(p.generate(req("sd-turbo"), Ctx()))
    assert info.value.code == "provider_unavailable" and info.value.retryable is False
    assert "without downloading" in info.value.message and "hf download" in info.value.message
    assert p.loaded_model is None


# --- without the optional packages ---------------------------------------------------------------
def test_discovering_providers_does_not_import_torch():
    code = (
        "import sys; from backend.providers.registry import ProviderRegistry; "
        "r = ProviderRegistry.discover({}); r.get('diffusers').to_json(); "
        "print('torch' in sys.modules, 'diffusers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_without_the_packages_the_server_starts_and_lists_it_unavailable_with_the_install_command(tmp_path):
    hook = tmp_path / "hide"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(HIDE_LOCAL_PACKAGES)
    server = ServerProcess(tmp_path, "threading", PYTHONPATH=f"{hook}{os.pathsep}{ROOT}").start()
    try:
        providers = {p["id"]: p for p in server.get("/api/providers").json()["providers"]}
        diffusers = providers["diffusers"]
        assert diffusers["available"] is False
        assert INSTALL_HINT in diffusers["reason"] and "torch" in diffusers["reason"]
        r = server.post("/api/jobs", json={"prompt": "a red cat", "provider": "diffusers"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "provider"
        assert INSTALL_HINT in r.json()["error"]["message"]
    finally:
        server.stop()


# --- end to end -------------------------------------------------------------------------------------
def test_a_job_end_to_end_through_the_server(models_dir, tmp_path, empty_cache):
    server = ServerProcess(
        tmp_path,
        "eventlet",
        ATELIER_DIFFUSERS_MODELS_DIR=str(models_dir),
        HF_HUB_CACHE=str(empty_cache),
        HF_HUB_OFFLINE="1",
    ).start()
    client = EventRecorder(server.url).connect()
    try:
        listed = {p["id"]: p for p in server.get("/api/providers").json()["providers"]}["diffusers"]
        assert listed["available"] is True and listed["models"][1]["id"] == "z-image-turbo"
        job = server.submit(
            prompt="a red cat", provider="diffusers", model="z-image-turbo", aspect_ratio="16:9", steps=3, seed=42
        )
        assert client.subscribe(job_id=job["id"])["ok"] is True
        client.wait_event("job.succeeded", job["id"], timeout=120)
        events = client.job_events(job["id"])
        names = [e for e, _ in events]
        assert names[0] == "job.queued" and names[1] == "job.started" and names[-1] == "job.succeeded"
        progress = [d for e, d in events if e == "job.progress"]
        assert any(d["progress"] is None and d["message"].startswith("loading Z-Image-Turbo") for d in progress)
        steps = [d for d in progress if d.get("step")]
        assert [(d["step"], d["total_steps"]) for d in steps] == [(1, 3), (2, 3), (3, 3)]
        assert [d["progress"] for d in steps] == [round(s / 3, 4) for s in (1, 2, 3)]
        previews = [d for e, d in events if e == "job.preview"]
        assert previews and previews[0]["data"][:2] == b"\xff\xd8" and previews[0]["width"] == 2 * previews[0]["height"]
        (image,) = events[-1][1]["images"]
        assert (image["width"], image["height"], image["seed"]) == (64, 32, 42)

        listing = server.get("/api/images").json()["items"]
        assert image["id"] in {i["id"] for i in listing}
        path = server.gallery / image["path"]
        with Image.open(path) as im:
            assert im.size == (64, 32)
            info = parse_infotext(im.text["parameters"])
            atelier = json.loads(im.text["atelier"])
        assert info["params"]["Seed"] == "42" and info["params"]["Steps"] == "3" and info["params"]["Size"] == "64x32"
        assert atelier["request"]["provider"] == "diffusers" and atelier["request"]["model"] == "z-image-turbo"
        assert atelier["provider_metadata"]["pipeline"] == "ZImagePipeline"
        served = server.get(image["url"])
        assert served.status_code == 200 and served.content == path.read_bytes()
    finally:
        client.close()
        server.stop()
