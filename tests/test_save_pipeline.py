"""The save path of providers that hand over pixels (offline, diffusers): each image is
encoded and saved while the producer makes the next, at most a few at once, saved in
order, and a failure to save still fails the job clearly. In one process with the real
JobRunner (the pipeline is the same on a worker), then on a real server."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import pytest
from PIL import Image

from backend.providers.base import GeneratedImage, GenerationContext, GenerationRequest, PixelImage
from backend.services.job_runner import Outcome
from backend.storage.metadata import read_embedded
from tests.support.sio import EventRecorder
from tests.test_pipeline import RecordingSink, Scripted, _run

WAIT = 20  # seconds: only reached when the behaviour under test is missing (a deadlock)


class SlowPixels(PixelImage):
    """A PixelImage whose encode first waits for ``gate`` (then encodes for real)."""

    def __init__(self, index: int, gate: threading.Event | None = None) -> None:
        super().__init__(index, Image.new("RGB", (8, 8), (index * 20, 0, 0)), seed=index)
        self.gate = gate

    def encode(self) -> bytes:
        if self.gate is not None:
            assert self.gate.wait(WAIT), "the encode was never let go"
        return super().encode()


class Pixels(Scripted):
    """Hands over pixels; ``images(request)`` says which."""

    def __init__(self, provider_id: str, images) -> None:
        super().__init__(provider_id)
        self.images = images
        self.produced = 0

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        for image in self.images(request):
            self.produced += 1
            yield image


def test_the_next_image_is_made_while_the_one_before_is_saved():
    made_second = threading.Event()

    def images(request):
        yield SlowPixels(0)
        yield SlowPixels(1)
        made_second.set()
        yield SlowPixels(2)

    # the first save waits until the producer has made the second image: with a save that
    # held the producer (depth 0, the old way) this never happens
    sink = RecordingSink(on_save=lambda: made_second.wait(WAIT) or pytest.fail("the producer was held"))
    outcome, job, sink, _ = _run([Pixels("gpu", images)], "gpu", 3, sink=sink)
    assert outcome == Outcome("succeeded")
    assert [i for _, i, _ in sink.saved] == [0, 1, 2]


def test_images_are_saved_in_their_order_when_a_later_encode_ends_first():
    second_encoded = threading.Event()

    class SignalsWhenEncoded(SlowPixels):
        def encode(self) -> bytes:
            data = super().encode()
            second_encoded.set()
            return data

    def images(request):
        yield SlowPixels(0, gate=second_encoded)  # its encode ends only after image 1's has
        yield SignalsWhenEncoded(1)
        yield SlowPixels(2)

    outcome, job, sink, _ = _run([Pixels("gpu", images)], "gpu", 3)
    assert outcome == Outcome("succeeded")
    assert [i for _, i, _ in sink.saved] == [0, 1, 2] and [im["id"] for im in job.images] == ["img0", "img1", "img2"]


def test_at_most_a_few_images_wait_to_be_saved():
    release = threading.Event()
    in_hand: list[int] = []
    provider = Pixels("gpu", lambda request: (SlowPixels(i, gate=release) for i in range(8)))

    def saved() -> None:
        in_hand.append(provider.produced - len(sink.saved))

    sink = RecordingSink(on_save=saved)
    timer = threading.Timer(0.2, release.set)  # encodes held a moment: the producer runs ahead
    timer.start()
    outcome, _, sink, _ = _run([provider], "gpu", 8, sink=sink)
    timer.cancel()
    assert outcome == Outcome("succeeded") and len(sink.saved) == 8
    # made but not yet saved, seen at each save: never more than the pipeline's depth (2)
    assert max(in_hand) <= 2, in_hand


def test_a_failed_save_fails_the_job_and_nothing_after_it_is_saved():
    sink = RecordingSink(refuse_at=1)
    provider = Pixels("gpu", lambda request: (SlowPixels(i) for i in range(4)))
    outcome, job, sink, _ = _run([provider], "gpu", 4, sink=sink)
    assert outcome.status == "failed" and outcome.error
    assert outcome.error["code"] == "save_failed" and "disk full" in outcome.error["message"]
    assert [i for _, i, _ in sink.saved] == [0], "image 0 is kept; none after the failure is saved"


def test_an_encode_that_fails_fails_the_job():
    class Broken(SlowPixels):
        def encode(self) -> bytes:
            raise OSError(28, "No space left on device")

    def images(request):
        yield SlowPixels(0)
        yield Broken(1)

    outcome, _, sink, _ = _run([Pixels("gpu", images)], "gpu", 2)
    assert outcome.status == "failed" and outcome.error
    assert "No space left" in outcome.error["message"] and [i for _, i, _ in sink.saved] == [0]


def test_pixels_read_as_bytes_are_the_png_of_those_pixels():
    image = PixelImage(0, Image.new("RGB", (16, 8), (1, 2, 3)), seed=5)
    with Image.open(io.BytesIO(image.data)) as im:
        assert im.format == "PNG" and im.size == (16, 8) and im.getpixel((0, 0)) == (1, 2, 3)
    assert image.encode() is image.data and image.pixels is None


# --- on a real server: the offline provider hands over pixels ----------------------------------
@pytest.mark.both_modes
def test_offline_images_arrive_in_order_with_their_metadata(server):
    client = EventRecorder(server.url).connect()
    try:
        job = server.submit(prompt="a harbour in the rain", provider="offline", model="procedural-draft", n=4, seed=3)
        client.subscribe(job_id=job["id"], after_seq=0)  # every event of the job, replayed from the start
        done = server.wait_job(job["id"], timeout=120)
        assert done["status"] == "succeeded", done
        client.wait_event("job.succeeded", job["id"])
        images = [p["index"] for e, p in client.job_events(job["id"]) if e == "job.image"]
    finally:
        client.close()
    assert images == [0, 1, 2, 3]
    assert [i["seed"] for i in done["images"]] == [3, 4, 5, 6]
    for image in done["images"]:
        with Image.open(io.BytesIO(server.get(image["url"]).content)) as im:
            infotext, atelier = read_embedded(im)
            assert im.format == "PNG" and "a harbour in the rain" in (infotext or "")
            assert atelier and atelier["job_id"] == job["id"] and atelier["seed"] == image["seed"]
