"""The one place a job runs: its producer loop, fallback, error mapping and the n-images check.

The same :class:`JobRunner` runs a job in the studio's own pool and on a worker; only
where its images and provider moves go differs (the :class:`ImageSink`): the gallery in
one process (:class:`backend.services.job_sinks.GallerySink`), the studio's internal
endpoints on a worker (``backend.worker.tasks.StudioSink``). The runner never publishes
an event itself; the sink and the job service do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from backend.providers.base import Cancelled, GeneratedImage, GenerationContext, GenerationRequest, ProviderError
from backend.providers.registry import ProviderRegistry
from backend.runtime import Runtime
from backend.services import save_pipeline
from backend.services.fallback import FallbackChain, Moved
from backend.services.job_context import JobContext, ShiftedContext
from backend.services.tools.common import ToolProducer
from backend.storage.job_store import JobRecord

log = logging.getLogger(__name__)
_DONE = object()


class ImageRefused(Exception):
    """The sink could not keep an image: the job fails with ``code`` (bad_response for
    an image that is not one, save_failed when the gallery cannot be written)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Abandoned(Exception):
    """The studio no longer takes this job's reports (cancelled, reaped or taken by
    another worker): the runner stops without an outcome, nothing is reported."""


class ImageSink(Protocol):
    """Where a running job's images and provider moves go. Each call records the change
    on ``job`` (its images, notes, served_by, warnings, cost) and makes it known."""

    def save(self, job: JobRecord, served: GenerationRequest, generated: GeneratedImage) -> dict[str, Any]:
        """Keep one image; its gallery JSON. ImageRefused when it cannot be kept."""
        ...

    def moved(self, job: JobRecord, move: Moved) -> None:
        """The job goes on with its next provider (ATELIER_FALLBACK)."""
        ...


@dataclass(frozen=True)
class Outcome:
    status: str  # succeeded | failed | cancelled
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class Producers:
    """What can make a job's images here: the registry's providers and the tools' producers.
    ``serves``: the providers a worker was started for (None: every installed one)."""

    registry: ProviderRegistry
    tools: Mapping[str, ToolProducer]
    serves: frozenset[str] | None = None
    where: str = "this server"

    def images(
        self, kind: str, tool: dict[str, Any], request: GenerationRequest, ctx: GenerationContext
    ) -> tuple[Iterator[GeneratedImage], bool]:
        """(the images, whether advancing them is CPU-bound work), or ProviderError."""
        if self.serves is not None and request.provider not in self.serves:
            raise ProviderError("invalid_request", f"{self.where} has no provider {request.provider!r}")
        if kind == "generate":
            provider = self.registry.get(request.provider)
            if provider is None:
                message = f"provider {request.provider!r} is not installed on {self.where}"
                raise ProviderError("invalid_request", message)
            return iter(provider.generate(request, ctx)), provider.cpu_bound
        producer = self.tools.get(kind)
        if producer is None:
            raise ProviderError("invalid_request", f"{self.where} has no {kind!r} tool")
        return iter(producer.produce(tool, request, ctx)), producer.cpu_bound(tool)


class JobRunner:
    """``save_depth``: images a job may have being encoded and saved while its producer
    makes the next (services/save_pipeline.py); 0 saves each before the next is made."""

    def __init__(
        self, producers: Producers, fallback: FallbackChain, runtime: Runtime, save_depth: int = save_pipeline.DEPTH
    ) -> None:
        self.producers = producers
        self.fallback = fallback
        self.runtime = runtime
        self.save_depth = save_depth

    def run(self, job: JobRecord, request: GenerationRequest, ctx: JobContext, sink: ImageSink) -> Outcome:
        """Run ``job`` to its outcome; every failure becomes the job's error. Abandoned
        passes through (there is no one to tell)."""
        running = [request.provider]  # who is producing now, for the error of a crash
        saves = save_pipeline.SavePipeline(self.runtime, lambda s, g: sink.save(job, s, g), self.save_depth)
        try:
            ctx.raise_if_cancelled()
            try:
                for served, generated in self._served_images(job, request, ctx, sink, running):
                    saves.put(served, generated)
                    if ctx.cancelled:
                        raise Cancelled()
                saves.finish()
            finally:
                saves.close()  # what is still being saved ends before the outcome is told
        except Cancelled:
            return Outcome("cancelled")
        except Abandoned:
            raise
        except ProviderError as exc:
            return _failed(exc.code, exc.message, exc.retryable)
        except ImageRefused as exc:
            return _failed(exc.code, exc.message)
        except Exception as exc:  # a bug in a provider must not take the server or worker down
            provider = running[-1]
            log.exception("job %s: provider %s raised", job.id, provider)
            return _failed(
                "provider_error", f"the {provider} provider failed unexpectedly ({exc.__class__.__name__}: {exc})"
            )
        return short_of_images(job, request.n) or Outcome("succeeded")

    def _advance(self, iterator: Iterator[GeneratedImage], cpu_bound: bool) -> Iterator[GeneratedImage]:
        """The producer's images, advanced in a worker thread when it is CPU-bound."""
        while True:
            item = self.runtime.run_blocking(next, iterator, _DONE) if cpu_bound else next(iterator, _DONE)
            if item is _DONE:
                return
            yield item  # type: ignore[misc]

    def _served_images(
        self, job: JobRecord, request: GenerationRequest, ctx: JobContext, sink: ImageSink, running: list[str]
    ) -> Iterator[tuple[GenerationRequest, GeneratedImage]]:
        """(request that served it, image): the images still missing move on to the next
        provider of the fallback chain when one fails with a code of FALLBACK_CODES.
        Tool jobs (kind other than generate) come from their producer, without fallback."""
        if job.kind != "generate":
            for generated in self._advance(*self.producers.images(job.kind, job.tool or {}, request, ctx)):
                yield request, generated
            return
        if request.per_image is not None:  # a wildcard template: each image its own prompt, its own call
            for index in range(request.n):
                ctx.raise_if_cancelled()
                yield from self._with_fallback(job, request.for_image(index), index, ctx, sink, running)
            return
        yield from self._with_fallback(job, request, 0, ctx, sink, running)

    def _with_fallback(
        self,
        job: JobRecord,
        request: GenerationRequest,
        first: int,
        ctx: JobContext,
        sink: ImageSink,
        running: list[str],
    ) -> Iterator[tuple[GenerationRequest, GeneratedImage]]:
        """The images of ``request``, the job's images from ``first`` on, moving on along the
        fallback chain when its provider fails."""
        current, offset, tried = request, 0, {request.provider}
        while True:
            produced = 0
            try:
                shifted = ShiftedContext(ctx, first + offset) if first + offset else ctx
                for generated in self._advance(*self.producers.images("generate", {}, current, shifted)):
                    produced += 1
                    generated.index += first
                    if current is not request:
                        generated.index += offset
                        generated.metadata = {**generated.metadata, "fallback_from": request.provider}
                    yield current, generated
                return
            except ProviderError as exc:
                offset += produced
                ctx.raise_if_cancelled()  # a cancelled job ends here: no next provider is asked
                switch = self.fallback.next(job.warnings, request, current, exc, offset, tried)
                if switch is None:
                    raise
                sink.moved(job, switch.moved)
                current = switch.request
                running.append(current.provider)
                tried.add(current.provider)


def short_of_images(job: JobRecord, n: int) -> Outcome | None:
    """The failure of a job that kept fewer than its ``n`` images; None when it has them all.
    The studio applies it again to a worker's "succeeded", which it does not take on trust."""
    if len(job.images) < n:
        return _failed("bad_response", f"the provider returned {len(job.images)} of {n} images")
    return None


def _failed(code: str, message: str, retryable: bool = True) -> Outcome:
    return Outcome("failed", {"code": code, "message": message, "retryable": retryable})
