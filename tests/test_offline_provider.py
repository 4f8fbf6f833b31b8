"""The offline renderer: deterministic, eight real steps, styles that look different, cancel."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageStat

from backend.providers.base import Cancelled, GenerationRequest
from backend.providers.offline import SIZES, OfflineProvider, read_scene, render
from backend.services.styles import load_styles


class RecordingContext:
    def __init__(self, cancel_after_steps: int | None = None) -> None:
        self.steps: list[tuple[int, int, int]] = []
        self.previews: list[tuple[int, tuple[int, int]]] = []
        self.cancel_after = cancel_after_steps

    @property
    def cancelled(self) -> bool:
        return self.cancel_after is not None and len(self.steps) >= self.cancel_after

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled()

    def status(self, message: str) -> None:
        pass

    def step(self, index, step, total_steps, message=""):
        self.steps.append((index, step, total_steps))

    def preview(self, index, image):
        self.previews.append((index, image.size))


def request(**kw) -> GenerationRequest:
    base = dict(
        prompt="serene mountain lake at sunset",
        styled_prompt="",
        negative_prompt="",
        provider="offline",
        model="procedural-v1",
        style="none",
        aspect_ratio="1:1",
        width=256,
        height=256,
        n=1,
        seed=7,
        steps=8,
    )
    base.update(kw)
    return GenerationRequest(**base)


def test_same_inputs_give_the_same_bytes_and_seed_changes_them():
    a = render("city at night", 5, "cyberpunk", 320, 240).tobytes()
    assert a == render("city at night", 5, "cyberpunk", 320, 240).tobytes()
    assert a != render("city at night", 6, "cyberpunk", 320, 240).tobytes()


def test_every_style_looks_clearly_different():
    images = {name: render("mountain lake with forest", 3, name, 256, 256) for name in load_styles()}
    names = list(images)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            diff = ImageStat.Stat(ImageChops.difference(images[a], images[b])).mean
            assert sum(diff) / 3 > 6, f"{a} and {b} look too alike ({diff})"


@pytest.mark.parametrize(
    "prompt, expect",
    [
        ("starry night over the sea", {"time": "night", "water": True, "stars": True}),
        ("red sunset over mountains", {"time": "sunset", "mountains": True, "accent": (200, 40, 40)}),
        ("a city skyline", {"city": True, "mountains": False}),
        ("a pine forest by the lake", {"forest": True, "water": True, "time": "day"}),
    ],
)
def test_prompt_words_shape_the_scene(prompt, expect):
    scene = read_scene(prompt)
    for key, value in expect.items():
        assert getattr(scene, key) == value


def test_night_is_darker_than_day_and_blue_is_bluer():
    night = ImageStat.Stat(render("lake at night", 1, "none", 128, 128)).mean
    day = ImageStat.Stat(render("lake at noon", 1, "none", 128, 128)).mean
    assert sum(night) < sum(day) * 0.6
    blue = ImageStat.Stat(render("blue mountains", 2, "none", 128, 128)).mean
    red = ImageStat.Stat(render("red mountains", 2, "none", 128, 128)).mean
    assert blue[2] - blue[0] > red[2] - red[0]


def test_generate_reports_eight_steps_per_image_and_previews():
    ctx = RecordingContext()
    images = list(OfflineProvider({}).generate(request(n=2), ctx))
    assert [i.index for i in images] == [0, 1] and [i.seed for i in images] == [7, 8]
    assert [(i, s) for i, s, _ in ctx.steps] == [(i, s) for i in range(2) for s in range(1, 9)]
    assert len(ctx.previews) == 16
    with Image.open(io.BytesIO(images[0].data)) as im:
        assert im.format == "PNG" and im.size == (256, 256)


def test_cancel_stops_between_steps():
    ctx = RecordingContext(cancel_after_steps=3)
    with pytest.raises(Cancelled):
        list(OfflineProvider({}).generate(request(), ctx))
    assert len(ctx.steps) == 3


def test_every_aspect_ratio_has_a_size_of_the_right_shape():
    from backend.providers.base import ASPECT_RATIOS

    assert set(SIZES) == set(ASPECT_RATIOS)
    for ratio, (w, h) in SIZES.items():
        assert abs(w / h - ASPECT_RATIOS[ratio]) / ASPECT_RATIOS[ratio] < 0.02
        assert w % 32 == 0 and h % 32 == 0


def test_it_is_labelled_as_no_ai_model():
    assert OfflineProvider({}).to_json()["label"] == "offline procedural renderer (no AI model)"
