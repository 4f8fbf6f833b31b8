"""An edit sent by a client API (``POST /v1/images/edits``) with its images as uploads,
submitted through the studio's edit tool as ``POST /api/edit`` does: the request is built
and checked on the images in memory (fields, sizes, mask, budget, an open queue), and only
then are the images imported into the gallery and the job queued naming them by their
gallery ids. A refused request writes nothing.

The first image is the one edited; the others are the edit's reference images (the
``references`` of ``POST /api/edit``), which the studio's route takes as gallery ids.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from backend.providers.base import GenerationRequest
from backend.services.gallery import Gallery, ImageRejected, inspect_image
from backend.services.principal import STUDIO, Principal
from backend.services.tools.base import ToolContext, ToolJob
from backend.services.tools.common import Source, SourceFinder, shown_size, turned_a_quarter
from backend.services.tools.registry import TOOLS
from backend.services.validation import ValidationError, Warning_
from backend.storage.job_store import JobRecord

if TYPE_CHECKING:
    from backend.studio import Studio

EDIT = "edit"
#: the id a reference upload has until it is in the gallery
PENDING_REFERENCE = "pending-reference-"


class UploadsFinder(SourceFinder):
    """A SourceFinder whose references may be uploads not in the gallery yet."""

    def __init__(self, gallery: Gallery, references: list[bytes]) -> None:
        super().__init__(gallery)
        self.references = {f"{PENDING_REFERENCE}{i + 1}": data for i, data in enumerate(references)}

    def find(self, image_id: Any, name: str) -> Source:
        data = self.references.get(image_id) if isinstance(image_id, str) else None
        if data is None:
            return super().find(image_id, name)
        try:
            fmt, width, height = inspect_image(data, f"{name} is")
        except ImageRejected as exc:
            raise ValidationError(name, str(exc)) from None
        width, height = shown_size(width, height, turned_a_quarter(io.BytesIO(data)))
        return Source(image_id, "an uploaded reference image", width, height, fmt, "", None)


def _build(s: Studio, body: dict[str, Any], sources: SourceFinder) -> tuple[ToolJob, float | None]:
    tool = TOOLS[EDIT]
    job = tool.build(body, ToolContext(s.registry, sources))
    return job, tool.estimate(job, s.registry)


def submit_edit(
    s: Studio,
    body: dict[str, Any],
    images: list[bytes],
    warnings: list[Warning_],
    client: str,
    late_warnings: Callable[[GenerationRequest], list[Warning_]] | None = None,
    principal: Principal = STUDIO,
) -> JobRecord:
    """Queue the edit ``body`` (a ``POST /api/edit`` body without its image fields) of
    ``images`` (the first edited, the others references); ValidationError, BudgetExceeded
    or QueueUnavailable before anything is written. ``late_warnings``: the caller's warnings
    about the request as built (its output size), added to the job's."""
    pending = [f"{PENDING_REFERENCE}{i + 1}" for i in range(len(images) - 1)]
    first = {**body, "image": base64.b64encode(images[0]).decode(), "references": pending or None}
    job, cost = _build(s, first, UploadsFinder(s.gallery, images[1:]))
    with s.usage.admitting:
        s.usage.admit(cost, principal)
        s.jobs.check_open()  # a queue that is down refuses before the uploads are written
        ids = [_import(s.gallery, data, i, principal.owner) for i, data in enumerate(images)]
        accepted = {**body, "image_id": ids[0], "references": ids[1:] or None}
        job, cost = _build(s, accepted, SourceFinder(s.gallery))
        warnings = warnings + (late_warnings(job.request) if late_warnings else [])
        return s.jobs.submit(
            job.request, warnings, job.session, kind=EDIT, tool=job.tool, cost_usd=cost, client=client,
            owner=principal.owner, key_id=principal.key_id,
        )  # fmt: skip


def _import(gallery: Gallery, data: bytes, index: int, owner: str | None = None) -> str:
    try:
        return gallery.import_upload(data, f"upload-{index + 1}.png", owner).id
    except ImageRejected as exc:
        raise ValidationError("image", f"image: {exc}") from None
