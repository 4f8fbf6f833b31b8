"""The GenerationContext a provider sees while its job runs.

Providers call it from whatever thread they run in; it throttles and shrinks previews in
that thread, then hands progress and previews to the event loop through the runtime.
"""

from __future__ import annotations

import io
import time
from typing import Protocol

from PIL import Image

from backend.providers.base import Cancelled
from backend.runtime import Runtime
from backend.services.event_types import JobPreview, JobProgress

PREVIEW_MAX_SIDE = 512


class JobEvents(Protocol):
    """Where a running job's progress and previews go (on the event loop)."""

    def on_progress(self, job_id: str, event: JobProgress) -> None: ...

    def on_preview(self, job_id: str, event: JobPreview) -> None: ...


class JobContext:
    """The GenerationContext a provider sees. Its methods may be called from any thread."""

    def __init__(
        self, service: JobEvents, job_id: str, n: int, runtime: Runtime, preview_interval: float, preview_side: int
    ) -> None:
        self._service = service
        self._job_id = job_id
        self._n = n
        self._runtime = runtime
        self._cancelled = False
        self._preview_interval = preview_interval
        self._preview_side = min(preview_side, PREVIEW_MAX_SIDE)
        self._last_preview = float("-inf")

    def cancel(self) -> None:
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def raise_if_cancelled(self) -> None:
        if self._cancelled:
            raise Cancelled()

    def status(self, message: str) -> None:
        self._runtime.call_soon_threadsafe(
            self._service.on_progress, self._job_id, JobProgress(progress=None, message=message)
        )

    def step(self, index: int, step: int, total_steps: int, message: str = "") -> None:
        fraction = (index + min(step, total_steps) / max(total_steps, 1)) / self._n
        event = JobProgress(
            progress=round(fraction, 4), message=message, index=index, step=step, total_steps=total_steps
        )
        self._runtime.call_soon_threadsafe(self._service.on_progress, self._job_id, event)

    def preview(self, index: int, image: Image.Image) -> None:
        now = time.monotonic()
        if now - self._last_preview < self._preview_interval:
            return  # at most a few per second: previews must not slow the work down
        self._last_preview = now
        small = image.copy()
        small.thumbnail((self._preview_side, self._preview_side), Image.Resampling.BILINEAR)
        buf = io.BytesIO()
        small.convert("RGB").save(buf, format="JPEG", quality=70)
        event = JobPreview(index=index, width=small.width, height=small.height, mime="image/jpeg", data=buf.getvalue())
        self._runtime.call_soon_threadsafe(self._service.on_preview, self._job_id, event)


class ShiftedContext:
    """The context a fallback provider sees: its image 0 is the job's image ``offset``."""

    def __init__(self, ctx: JobContext, offset: int) -> None:
        self._ctx = ctx
        self._offset = offset

    @property
    def cancelled(self) -> bool:
        return self._ctx.cancelled

    def raise_if_cancelled(self) -> None:
        self._ctx.raise_if_cancelled()

    def status(self, message: str) -> None:
        self._ctx.status(message)

    def step(self, index: int, step: int, total_steps: int, message: str = "") -> None:
        self._ctx.step(index + self._offset, step, total_steps, message)

    def preview(self, index: int, image: Image.Image) -> None:
        self._ctx.preview(index + self._offset, image)
