"""A job's images saved while its producer makes the next: the save path of a fast GPU.

A provider that hands over pixels (offline, diffusers: a :class:`PixelImage`) leaves the
PNG encode to the studio. Each such image is encoded and saved by a task of its own on the
runtime (a green thread under eventlet, whose encode runs in a real thread; an OS thread
in threading mode), so the producer goes on with the next image at once and the encodes
of several images run side by side (Pillow's encoder lets go of the GIL).

- Bounded: at most ``depth`` images in flight (about 3 MB of pixels each at 1024x1024);
  the producer waits for the oldest beyond that.
- In order: each task saves only after the one before it has saved, so the gallery, the
  job's images and their events keep the order of the images.
- Failures: the first failure in that order is raised to the runner (from ``put`` or
  ``finish``), so the job fails with it as before; no image behind it is saved.
- Durability is the sink's, unchanged: every save is still an fsynced atomic write.

An image that comes encoded (a cloud provider's) with nothing in flight is saved at once
on the caller's thread, as before.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Any

from backend.providers.base import GeneratedImage, GenerationRequest, PixelImage
from backend.runtime import Runtime

#: images encoded and saved at once per job by default: two keep a producer that is as fast
#: as one encode fed on two cores (bench/bench_save.py)
DEPTH = 2


class _Task:
    def __init__(self, before: _Task | None) -> None:
        self.before = before
        self.done = threading.Event()
        self.error: BaseException | None = None


class SavePipeline:
    """``save(served, generated)``: the sink's save of one encoded image (called in order)."""

    def __init__(
        self, runtime: Runtime, save: Callable[[GenerationRequest, GeneratedImage], Any], depth: int = DEPTH
    ) -> None:
        self.runtime = runtime
        self.save = save
        self.depth = depth
        self._tasks: collections.deque[_Task] = collections.deque()

    def put(self, served: GenerationRequest, generated: GeneratedImage) -> None:
        """Save ``generated`` after those put before it; raises the first failure so far."""
        if self.depth <= 0 or (not isinstance(generated, PixelImage) and not self._tasks):
            self.save(served, generated)  # encoded on first use, on this thread
            return
        while len(self._tasks) >= self.depth:
            self._wait_oldest()
        task = _Task(self._tasks[-1] if self._tasks else None)
        self._tasks.append(task)
        self.runtime.spawn(self._run, task, served, generated)

    def finish(self) -> None:
        """Wait for every image put; raises the first failure."""
        while self._tasks:
            self._wait_oldest()

    def close(self) -> None:
        """Wait for the tasks still running, raising nothing (the job ends another way)."""
        while self._tasks:
            self._tasks.popleft().done.wait()

    def _wait_oldest(self) -> None:
        task = self._tasks.popleft()
        task.done.wait()
        if task.error is not None:
            raise task.error

    def _run(self, task: _Task, served: GenerationRequest, generated: GeneratedImage) -> None:
        try:
            if isinstance(generated, PixelImage):
                self.runtime.run_blocking(generated.encode)
            if task.before is not None:
                task.before.done.wait()
                if task.before.error is not None:
                    task.error = task.before.error  # not saved: the job fails with the first failure
                    return
            self.save(served, generated)
        except BaseException as exc:  # handed to the runner, which decides what it means
            task.error = exc
        finally:
            task.before = None  # no chain of finished tasks kept alive
            task.done.set()
