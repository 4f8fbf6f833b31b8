"""The job pipeline in one process, no server: the JobRunner with scripted providers and a
recording sink, and the JobService on its local pool writing a real gallery.

What runs here is what runs on a worker too (the same JobRunner, another sink), so the
fallback, the n-images check and the error mapping are tested once, fast.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from backend.config import load_settings
from backend.providers.base import (
    GeneratedImage,
    GenerationContext,
    GenerationRequest,
    ModelInfo,
    Provider,
    ProviderError,
    StepRange,
)
from backend.providers.registry import ProviderRegistry
from backend.runtime import Runtime
from backend.services.event_types import JobPreview, JobProgress
from backend.services.events import EventBus
from backend.services.fallback import FallbackChain, Moved
from backend.services.gallery import Gallery
from backend.services.generations import Waiting, abandon, wait_for_job
from backend.services.job_context import JobContext
from backend.services.job_pool import LocalPool
from backend.services.job_runner import ImageRefused, JobRunner, Outcome, Producers
from backend.services.validation import build_generation_request
from backend.storage.gallery_index import GalleryIndex
from backend.storage.job_store import JobRecord, JobStore
from backend.studio import job_service
from tests.support.providers import SIZES, tiny_png


class Scripted(Provider):
    """Makes ``makes`` images (None: all asked for), then fails with ``fails``: a
    ProviderError code, or ``crash`` for a bug. Records each request it gets."""

    default_concurrency = 4

    def __init__(
        self, provider_id: str, *, makes: int | None = None, fails: str | None = None, price: float = 0.01
    ) -> None:
        super().__init__({})
        self.id = provider_id  # type: ignore[misc]
        self.label = provider_id  # type: ignore[misc]
        self.makes, self.fails, self.price = makes, fails, price
        self.requests: list[GenerationRequest] = []

    def models(self) -> list[ModelInfo]:
        return [ModelInfo(id="m", label="m", sizes=SIZES, steps=StepRange(1, 4, 2), price_per_image=self.price)]

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        self.requests.append(request)
        for index in range(request.n if self.makes is None else min(self.makes, request.n)):
            ctx.step(index, 1, 1)
            ctx.raise_if_cancelled()
            yield GeneratedImage(index=index, data=tiny_png(), seed=request.seed_for(index), metadata={"by": self.id})
        if self.fails == "crash":
            raise RuntimeError("simulated bug")
        if self.fails:
            raise ProviderError(self.fails, f"{self.id} says {self.fails}")


class RecordingSink:
    """An ImageSink that keeps what it is given; ``refuse_at``: the image index it refuses."""

    def __init__(self, refuse_at: int | None = None, on_save: Callable[[], None] | None = None) -> None:
        self.saved: list[tuple[str, int, dict[str, Any]]] = []
        self.moves: list[Moved] = []
        self.refuse_at = refuse_at
        self.on_save = on_save

    def save(self, job: JobRecord, served: GenerationRequest, generated: GeneratedImage) -> dict[str, Any]:
        if generated.index == self.refuse_at:
            raise ImageRefused("save_failed", "the image could not be saved to the gallery: disk full")
        self.saved.append((served.provider, generated.index, generated.metadata))
        image = {"id": f"img{generated.index}", "provider": served.provider}
        job.images.append(image)
        if self.on_save:
            self.on_save()
        return image

    def moved(self, job: JobRecord, move: Moved) -> None:
        self.moves.append(move)
        job.warnings += [w.to_json() for w in move.warnings]
        job.cost_usd = move.cost_usd


class RecordingEvents:
    """The JobEvents a JobContext reports progress to."""

    def __init__(self) -> None:
        self.progress: list[dict[str, Any]] = []

    def on_progress(self, job_id: str, event: JobProgress) -> None:
        self.progress.append(event.payload())

    def on_preview(self, job_id: str, event: JobPreview) -> None:
        pass


def _spawn(fn: Callable[..., Any], *args: Any) -> threading.Thread:
    thread = threading.Thread(target=fn, args=args, daemon=True)
    thread.start()
    return thread


RUNTIME = Runtime(_spawn, time.sleep)


def _request(registry: ProviderRegistry, provider: str, n: int = 1) -> GenerationRequest:
    request, _, _ = build_generation_request({"prompt": "a boat", "provider": provider, "n": n}, registry, provider)
    return request


def _job(request: GenerationRequest, kind: str = "generate", tool: dict[str, Any] | None = None) -> JobRecord:
    return JobRecord(id="j1", created_at="2026-01-01T00:00:00.000Z", request=request.to_json(), kind=kind, tool=tool)


def _run(
    providers: list[Provider],
    asked: str,
    n: int = 1,
    *,
    fallback: tuple[str, ...] = (),
    sink: RecordingSink | None = None,
    tools: dict[str, Any] | None = None,
    serves: frozenset[str] | None = None,
    kind: str = "generate",
    ctx_hook: Callable[[JobContext], None] | None = None,
) -> tuple[Outcome, JobRecord, RecordingSink, RecordingEvents]:
    registry = ProviderRegistry(providers)
    request = _request(registry, asked, n) if kind == "generate" else _request(registry, providers[0].id, n)
    job = _job(request, kind, {"op": "x"} if kind != "generate" else None)
    events = RecordingEvents()
    ctx = JobContext(events, job.id, n, RUNTIME, 0.0, 64)
    if ctx_hook:
        ctx_hook(ctx)
    sink = sink or RecordingSink()
    producers = Producers(registry, tools or {}, serves=serves, where="this worker (w1)" if serves else "this server")
    runner = JobRunner(producers, FallbackChain(registry, fallback), RUNTIME)
    return runner.run(job, request, ctx, sink), job, sink, events


def test_a_provider_down_moves_the_whole_job_to_the_next_available_provider():
    down, keyless, spare = (
        Scripted("down", makes=0, fails="provider_unavailable"),
        Scripted("keyless"),
        Scripted("spare"),
    )
    keyless.availability = lambda: (False, "no key")  # type: ignore[method-assign]
    outcome, job, sink, _ = _run([down, keyless, spare], "down", 2, fallback=("down", "keyless", "spare"))
    assert outcome == Outcome("succeeded")
    assert [(p, i) for p, i, _ in sink.saved] == [("spare", 0), ("spare", 1)]
    assert all(meta["fallback_from"] == "down" for _, _, meta in sink.saved)
    [move] = sink.moves
    assert (move.from_provider, move.to_provider, move.code) == ("down", "spare", "provider_unavailable")
    assert keyless.requests == [] and [r.n for r in spare.requests] == [2]
    assert [w["field"] for w in job.warnings] == ["provider"] and job.cost_usd == 0.02


def test_a_partial_fallback_continues_at_the_first_missing_image():
    flaky, spare = Scripted("flaky", makes=1, fails="timeout", price=0.10), Scripted("spare", price=0.01)
    outcome, job, sink, events = _run([flaky, spare], "flaky", 3, fallback=("flaky", "spare"))
    assert outcome.status == "succeeded"
    assert [(p, i) for p, i, _ in sink.saved] == [("flaky", 0), ("spare", 1), ("spare", 2)]
    assert "fallback_from" not in sink.saved[0][2] and sink.saved[1][2]["fallback_from"] == "flaky"
    assert [r.n for r in spare.requests] == [2], "only the missing images are asked of the next provider"
    assert [p["index"] for p in events.progress] == [0, 1, 2], "the next provider's image 0 is the job's image 1"
    assert job.cost_usd == round(0.10 * 1 + 0.01 * 2, 6)


def test_no_fallback_for_an_error_a_person_must_act_on_nor_past_the_end_of_the_list():
    refused, spare = Scripted("refused", makes=0, fails="moderation_blocked"), Scripted("spare")
    outcome, _, sink, _ = _run([refused, spare], "refused", fallback=("refused", "spare"))
    assert outcome.error and outcome.error["code"] == "moderation_blocked" and spare.requests == []
    down, other = Scripted("down", makes=0, fails="rate_limited"), Scripted("other", makes=0, fails="timeout")
    outcome, _, sink, _ = _run([down, other], "down", fallback=("down", "other"))
    assert outcome.error == {"code": "timeout", "message": "other says timeout", "retryable": True}
    assert [m.to_provider for m in sink.moves] == ["other"]


def test_fewer_images_than_asked_fail_the_job_with_bad_response():
    outcome, job, _, _ = _run([Scripted("short", makes=1)], "short", 2)
    assert outcome == Outcome(
        "failed", {"code": "bad_response", "message": "the provider returned 1 of 2 images", "retryable": True}
    )
    assert len(job.images) == 1, "the image made is kept"


def test_a_cancel_stops_the_job_after_the_image_being_saved():
    holder: list[JobContext] = []
    sink = RecordingSink(on_save=lambda: holder[0].cancel())
    outcome, job, sink, _ = _run([Scripted("slow")], "slow", 3, sink=sink, ctx_hook=holder.append)
    assert outcome == Outcome("cancelled") and len(job.images) == 1


def test_a_job_cancelled_before_it_runs_asks_nothing_of_its_provider():
    provider = Scripted("p")
    outcome, _, _, _ = _run([provider], "p", ctx_hook=lambda ctx: ctx.cancel())
    assert outcome == Outcome("cancelled") and provider.requests == []


class CancelledWhileDown(Scripted):
    """Fails with provider_unavailable after the person cancelled the job while its call
    was in flight (a provider that notices the cancel only as a dropped connection)."""

    def __init__(self, provider_id: str, holder: list[JobContext]) -> None:
        super().__init__(provider_id, makes=0)
        self.holder = holder

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        self.requests.append(request)
        self.holder[0].cancel()
        raise ProviderError("provider_unavailable", "connection reset")
        yield  # pragma: no cover


def test_a_job_cancelled_while_its_provider_fails_is_cancelled_and_moves_to_no_other_provider():
    holder: list[JobContext] = []
    spare = Scripted("spare")
    outcome, job, sink, _ = _run(
        [CancelledWhileDown("down", holder), spare], "down", 2, fallback=("down", "spare"), ctx_hook=holder.append
    )
    assert outcome == Outcome("cancelled")
    assert spare.requests == [] and sink.moves == [], "no provider is asked, and no move announced, after a cancel"
    assert job.warnings == [] and job.cost_usd is None


def test_an_image_the_sink_cannot_keep_fails_the_job_with_its_code():
    outcome, job, _, _ = _run([Scripted("p")], "p", 2, sink=RecordingSink(refuse_at=1))
    assert outcome.error == {
        "code": "save_failed",
        "message": "the image could not be saved to the gallery: disk full",
        "retryable": True,
    }
    assert len(job.images) == 1


def test_a_provider_that_raises_is_a_provider_error_naming_the_provider_that_raised():
    down, buggy = Scripted("down", makes=0, fails="provider_unavailable"), Scripted("buggy", makes=0, fails="crash")
    outcome, _, _, _ = _run([down, buggy], "down", fallback=("down", "buggy"))
    assert outcome.status == "failed" and outcome.error
    assert outcome.error["code"] == "provider_error" and outcome.error["retryable"] is True
    assert outcome.error["message"] == "the buggy provider failed unexpectedly (RuntimeError: simulated bug)"


def test_a_tool_job_runs_its_producer_without_fallback_and_a_missing_tool_is_refused():
    class Tool:
        def cpu_bound(self, tool: dict[str, Any]) -> bool:
            return True

        def produce(self, tool: dict[str, Any], request: GenerationRequest, ctx: GenerationContext):
            assert tool == {"op": "x"}
            yield GeneratedImage(index=0, data=tiny_png())

    outcome, _, sink, _ = _run([Scripted("p")], "p", kind="upscale", tools={"upscale": Tool()})
    assert outcome.status == "succeeded" and [(p, i) for p, i, _ in sink.saved] == [("p", 0)]
    outcome, _, _, _ = _run([Scripted("p")], "p", kind="social", tools={"upscale": Tool()})
    assert outcome.error and outcome.error["code"] == "invalid_request" and "'social'" in outcome.error["message"]


def test_a_worker_runs_only_the_providers_it_serves_and_falls_back_only_to_them():
    down, spare = Scripted("down", makes=0, fails="provider_unavailable"), Scripted("spare")
    outcome, _, _, _ = _run([down, spare], "spare", serves=frozenset({"down"}))
    assert outcome.error and outcome.error["message"] == "this worker (w1) has no provider 'spare'"
    chain = FallbackChain(ProviderRegistry([down, spare]), ("down", "spare")).only(("down",))
    assert chain.order == ("down",)


def test_a_move_survives_its_trip_as_json_and_a_bad_one_is_refused():
    down, spare = Scripted("down", makes=0, fails="provider_unavailable"), Scripted("spare")
    _, _, sink, _ = _run([down, spare], "down", fallback=("down", "spare"))
    [move] = sink.moves
    assert Moved.from_json(move.to_json()) == move
    for bad in ([], {**move.to_json(), "cost_usd": float("nan")}, {**move.to_json(), "warnings": [{"field": 1}]}):
        with pytest.raises(ValueError):
            Moved.from_json(bad)


# --- the JobService on its local pool: states, events, the gallery ------------------------------------------------


class Studio:
    """A JobService on a LocalPool with a real gallery and job store, and every event
    recorded with the job's status in the store at the moment it went out."""

    def __init__(self, tmp_path, providers: list[Provider], fallback: str = "", max_concurrent: int = 4) -> None:
        env = {"ATELIER_ENV_FILE": str(tmp_path / "no.env"), "ATELIER_DATA_DIR": str(tmp_path / "data")}
        settings = load_settings({**env, "ATELIER_FALLBACK": fallback} if fallback else env)
        self.registry = ProviderRegistry(providers)
        Gallery.prepare_folder(tmp_path / "gallery")
        self.gallery = Gallery(tmp_path / "gallery", GalleryIndex(tmp_path / "index.sqlite3"))
        self.store = JobStore(tmp_path / "jobs.sqlite3")
        self.events: list[tuple[str, dict[str, Any], str | None]] = []
        self.ended = threading.Condition()

        def emit(event: str, payload: dict[str, Any], room: str) -> None:
            job = self.store.get(payload["job_id"]) if "job_id" in payload else None
            with self.ended:
                self.events.append((event, payload, job.status if job else None))
                self.ended.notify_all()

        def last_seq(job_id: str) -> int:
            job = self.store.get(job_id)
            return job.last_seq if job else 0

        bus = EventBus(emit, lambda s, r: None, lambda s, r: None, last_seq, self.store.set_last_seq)
        pool = LocalPool(self.registry, RUNTIME, max_concurrent=max_concurrent, preview_interval=0.0)
        self.jobs = job_service(settings, self.store, self.registry, self.gallery, bus, RUNTIME, pool)

    def submit(self, provider: str, n: int = 1) -> JobRecord:
        request, warnings, _ = build_generation_request(
            {"prompt": "a boat", "provider": provider, "n": n}, self.registry, provider
        )
        return self.jobs.submit(request, warnings, None)

    def wait_end(self, job_id: str, timeout: float = 20) -> str:
        terminal = {"job.succeeded", "job.failed", "job.cancelled", "job.interrupted"}
        with self.ended:
            ok = self.ended.wait_for(
                lambda: any(e in terminal and p.get("job_id") == job_id for e, p, _ in self.events), timeout
            )
        assert ok, f"job {job_id} did not end: {self.events}"
        return next(e for e, p, _ in self.events if e in terminal and p.get("job_id") == job_id)

    def of(self, job_id: str) -> list[tuple[str, dict[str, Any], str | None]]:
        return [(e, p, s) for e, p, s in self.events if p.get("job_id") == job_id]


def test_a_fallback_job_is_stored_before_each_event_and_its_cost_is_settled(tmp_path):
    studio = Studio(
        tmp_path,
        [Scripted("flaky", makes=1, fails="provider_unavailable", price=0.10), Scripted("spare")],
        "flaky,spare",
    )
    job = studio.submit("flaky", 3)
    assert studio.wait_end(job.id) == "job.succeeded"
    events = studio.of(job.id)
    names = [e for e, _, _ in events]
    assert names[:2] == ["job.queued", "job.started"] and names[-1] == "job.succeeded"
    assert [p["seq"] for _, p, _ in events] == list(range(1, len(events) + 1))
    assert [e for e, p, _ in events if e == "job.image" or "fallback" in p] == [
        "job.image",
        "job.progress",
        "job.image",
        "job.image",
    ]
    statuses = {e: s for e, _, s in events}
    assert (statuses["job.queued"], statuses["job.started"], statuses["job.succeeded"]) == (
        "queued",
        "running",
        "succeeded",
    ), "each state is in the store before its event goes out"

    stored = studio.store.get(job.id)
    assert stored is not None and stored.served_by == "spare" and len(stored.images) == 3
    assert stored.cost_usd == stored.cost_actual_usd == round(0.10 + 0.01 * 2, 6)
    assert [i["provider"] for i in stored.images] == ["flaky", "spare", "spare"]
    assert {i["id"] for i in stored.images} <= {row.id for row in studio.gallery.index.page(10, None)}


class Gated(Scripted):
    """Waits for its gate before it makes anything: holds a job running."""

    def __init__(self, provider_id: str) -> None:
        super().__init__(provider_id)
        self.gate = threading.Event()

    def generate(self, request: GenerationRequest, ctx: GenerationContext) -> Iterator[GeneratedImage]:
        assert self.gate.wait(20)
        yield from super().generate(request, ctx)


def test_a_failed_job_pays_for_what_it_delivered_and_a_queued_cancel_for_nothing(tmp_path):
    gated = Gated("gated")
    studio = Studio(tmp_path, [Scripted("short", makes=1, price=0.5), gated], max_concurrent=1)
    job = studio.submit("short", 2)
    assert studio.wait_end(job.id) == "job.failed"
    stored = studio.store.get(job.id)
    assert stored is not None and stored.error and stored.error["code"] == "bad_response"
    assert stored.cost_usd == 1.0 and stored.cost_actual_usd == 0.5

    running = studio.submit("gated")
    queued = studio.submit("short")
    assert studio.jobs.get(queued.id).status == "queued" and studio.jobs.position(queued) == 1
    cancelled = studio.jobs.cancel(queued.id)
    assert cancelled.status == "cancelled" and cancelled.cost_actual_usd == 0.0
    assert [e for e, _, _ in studio.of(queued.id)] == ["job.queued", "job.cancelled"]
    asked = studio.jobs.cancel(running.id)
    assert asked.cancel_requested and asked.status == "running"
    gated.gate.set()
    assert studio.wait_end(running.id) == "job.cancelled"
    messages = [p.get("message") for e, p, _ in studio.of(running.id) if e == "job.progress"]
    assert "cancelling" in messages


def test_a_retry_starts_with_the_warnings_of_its_request_not_the_provider_moves_of_the_run_it_retries(tmp_path):
    studio = Studio(tmp_path, [Scripted("flaky", makes=0, fails="provider_unavailable"), Scripted("spare", makes=0)],
                    "flaky,spare")  # fmt: skip
    request, warnings, _ = build_generation_request(
        {"prompt": "a boat", "provider": "flaky", "aspect_ratio": "2:3"}, studio.registry, "flaky"
    )
    asked = [w.to_json() for w in warnings]
    assert [w["field"] for w in asked] == ["aspect_ratio"]
    job = studio.jobs.submit(request, warnings, None)
    assert studio.wait_end(job.id) == "job.failed"
    stored = studio.store.get(job.id)
    assert stored is not None and stored.served_by is None
    assert [w["field"] for w in stored.warnings][:2] == ["aspect_ratio", "provider"], "the move is on the record"

    again = studio.jobs.retry(job.id)
    assert again.warnings == asked, "the retry has not moved anywhere yet"


# --- synchronous calls (the client APIs): one submit and wait for every route ---------------


def test_a_synchronous_call_waits_for_its_job_keeps_alive_and_cancels_it_when_abandoned(tmp_path):
    """What /v1 and /sdapi/v1 run on: a job submitted through the studio's own path (budget,
    queue, events, gallery), tagged with the client, waited for with a keep-alive tick, and
    cancelled when the caller goes away. New module: there is no old code for it to fail on."""
    gated = Gated("gated")
    studio = Studio(tmp_path, [Scripted("quick"), gated])
    request, warnings, _ = build_generation_request(
        {"prompt": "a boat", "provider": "quick", "n": 2}, studio.registry, "quick"
    )
    job = studio.jobs.submit(request, warnings, None, client="openai")
    ticks = list(wait_for_job(studio.jobs, job.id, keepalive=0.0, sleep=time.sleep))
    finished = ticks[-1]
    assert isinstance(finished, JobRecord) and finished.status == "succeeded" and len(finished.images) == 2
    assert finished.client == "openai" and studio.jobs.job_json(finished)["client"] == "openai"
    row = studio.gallery.get(finished.images[0]["id"])
    assert row is not None and row.metadata["client"] == "openai"

    request, warnings, _ = build_generation_request({"prompt": "a boat", "provider": "gated"}, studio.registry, "gated")
    slow = studio.jobs.submit(request, warnings, None, client="a1111")
    waiting = wait_for_job(studio.jobs, slow.id, keepalive=0.05, sleep=time.sleep)
    assert isinstance(next(waiting), Waiting)  # the job runs: a tick to write while it does
    abandon(studio.jobs, slow.id)  # the caller is gone
    gated.gate.set()
    assert studio.wait_end(slow.id) == "job.cancelled"
    assert [t for t in waiting if isinstance(t, JobRecord)][-1].status == "cancelled"
    abandon(studio.jobs, slow.id)  # already over: nothing to do, no error
