"""The image sink of the studio's own process: the gallery, the job store and the bus.

Jobs run in the studio's pool write through it; so do the internal endpoints that take a
worker's images and provider moves, so an image is saved and announced one way only.
"""

from __future__ import annotations

from typing import Any

from backend.providers.base import GeneratedImage, GenerationRequest
from backend.runtime import Runtime
from backend.services.event_types import Bus, Fallback, JobImage, JobProgress
from backend.services.fallback import Moved
from backend.services.gallery import Gallery, ImageRejected, SaveContext
from backend.services.job_runner import ImageRefused
from backend.storage.job_store import JobRecord, JobStore


class GallerySink:
    """``reload``: read the job from the store before changing it (a job run by a worker,
    whose record another web instance may have changed, e.g. cancel requested)."""

    def __init__(self, gallery: Gallery, store: JobStore, bus: Bus, runtime: Runtime, *, reload: bool = False) -> None:
        self.gallery = gallery
        self.store = store
        self.bus = bus
        self.runtime = runtime
        self.reload = reload

    def _current(self, job: JobRecord) -> JobRecord:
        return (self.store.get(job.id) or job) if self.reload else job

    def save(
        self,
        job: JobRecord,
        served: GenerationRequest,
        generated: GeneratedImage,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``extra``: a tool's source and settings for the image's gallery metadata
        (a tool's image carries them itself in one process)."""
        extra = extra or getattr(generated, "extra", None) or None
        save_ctx = SaveContext(job.id, job.session, job.created_at, job.started_at, job.client, job.owner)
        try:
            row = self.runtime.run_blocking(self.gallery.write_image, served, generated, save_ctx, extra)
        except ImageRejected as exc:
            raise ImageRefused("bad_response", str(exc)) from None
        except OSError as exc:
            raise ImageRefused(
                "save_failed", f"the image could not be saved to the gallery: {exc.strerror or exc}"
            ) from None
        self.gallery.add(row)
        image = self.gallery.json(row)
        with self.bus.lock:
            job = self._current(job)
            job.images.append(image)
            if generated.metadata:
                job.provider_notes.append({"index": generated.index, **generated.metadata})
            job.served_by = served.provider
            self.store.save(job)
            self.bus.publish(job.id, JobImage(index=generated.index, image=image))
        self.gallery.announce_added(row)
        return image

    def moved(self, job: JobRecord, move: Moved) -> None:
        with self.bus.lock:
            job = self._current(job)
            job.warnings += [w.to_json() for w in move.warnings]
            job.cost_usd = move.cost_usd
            job.message = move.message
            self.store.save(job)
            fallback: Fallback = {"from": move.from_provider, "to": move.to_provider, "code": move.code}
            self.bus.publish(job.id, JobProgress(progress=None, message=move.message, fallback=fallback))
