"""Matrices: one request, many ordinary jobs, one labelled grid.

A matrix is planned cell by cell (services/matrix_plan.py), priced as a whole and queued
under the budget lock (``submit_generations``): all its jobs or none. Each cell is then an
ordinary job (queued, streamed, saved, retriable). The service follows its cells through
the job service's listeners: each change is a ``matrix.updated`` event to the matrix's
room, a retried cell follows its new job, and when the last cell ends the grid image is
drawn (services/matrix_grid.py) and saved to the gallery, its metadata linking every cell
image and the axes. Matrices live in ``matrices.sqlite3`` in the data folder, so a matrix
is found and finished after a restart.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import uuid
from typing import Any

from PIL import Image

from backend import shapes
from backend.providers.base import ASPECT_RATIOS, GeneratedImage, GenerationRequest
from backend.providers.registry import ProviderRegistry
from backend.runtime import Runtime
from backend.services.event_types import Bus, MatrixCellState, MatrixUpdated
from backend.services.gallery import Gallery, SaveContext, utc_now_iso
from backend.services.generations import submit_generations
from backend.services.jobs import JobNotFound, JobService
from backend.services.matrix_grid import GridAxis, render_grid
from backend.services.matrix_plan import estimate, plan_matrix
from backend.services.principal import STUDIO, Principal
from backend.services.usage import UsageLedger
from backend.storage.gallery_index import ImageRow
from backend.storage.job_store import JobRecord
from backend.storage.matrix_store import MatrixCellRecord, MatrixRecord, MatrixStore

log = logging.getLogger(__name__)

ENDED = frozenset({"succeeded", "failed", "cancelled", "interrupted"})
#: the provider and model a grid image is filed under in the gallery
GRID_PROVIDER, GRID_MODEL = "matrix", "grid"
LABEL_CHARS = 60


class MatrixNotFound(Exception):
    pass


class MatrixService:
    def __init__(
        self,
        store: MatrixStore,
        jobs: JobService,
        usage: UsageLedger,
        gallery: Gallery,
        bus: Bus,
        runtime: Runtime,
        registry: ProviderRegistry,
        default_provider: str,
        max_cells: int,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.usage = usage
        self.gallery = gallery
        self.bus = bus
        self.runtime = runtime
        self.registry = registry
        self.default_provider = default_provider
        self.max_cells = max_cells
        # held while a matrix is created or its record changes: a cell that ends before its
        # matrix is saved is followed once the matrix is there
        self._lock = threading.RLock()
        self._rendering: set[str] = set()
        jobs.listeners.append(self._on_job)

    # --- create --------------------------------------------------------------------------
    def submit(self, body: Any, principal: Principal = STUDIO) -> MatrixRecord:
        """Plan, price and queue ``principal``'s matrix (its jobs and grid are theirs);
        ValidationError (422), BudgetExceeded (402) or LimitExceeded (429) before any job is queued."""
        plan = plan_matrix(body, self.registry, self.default_provider, self.max_cells)
        price = estimate(plan, self.registry)
        batch = [(c.request, c.warnings) for c in plan.cells if c.request is not None]
        with self._lock:
            cost = price["cost_usd"] or None
            records = iter(submit_generations(self.jobs, self.usage, batch, plan.session, cost, principal))
            cells = [
                MatrixCellRecord(c.coords, next(records).id if c.request is not None else None, c.skipped)
                for c in plan.cells
            ]
            matrix = MatrixRecord(
                id=uuid.uuid4().hex,
                created_at=utc_now_iso(),
                base=plan.base,
                axes=[a.to_json() for a in plan.axes],
                cells=cells,
                session=plan.session,
                warnings=plan.warnings_json(),
                estimate=price,
                owner=principal.owner,
            )
            self.store.save(matrix)
        self.runtime.spawn(self._follow, None, matrix.id)  # cells that ended before the save
        return matrix

    def get(self, matrix_id: str, viewer: Principal = STUDIO) -> MatrixRecord:
        """The matrix, when ``viewer`` may see it (another's is not found, as none is)."""
        matrix = self.store.get(matrix_id)
        if matrix is None or not viewer.sees(matrix.owner):
            raise MatrixNotFound(matrix_id)
        return matrix

    def recover(self) -> None:
        """After a start: finish the matrices whose cells all ended while the studio was down."""
        for matrix in self.store.unfinished():
            self.runtime.spawn(self._follow, None, matrix.id, None, True)

    # --- what the API shows ------------------------------------------------------------
    def cell_state(self, cell: MatrixCellRecord) -> MatrixCellState:
        if cell.job_id is None:
            return {"coords": cell.coords, "job_id": None, "status": "skipped", "image_ids": [], "reason": cell.skipped}
        try:
            job = self.jobs.get(cell.job_id)
        except JobNotFound:
            return {"coords": cell.coords, "job_id": cell.job_id, "status": "missing", "image_ids": [], "reason": None}
        reason = job.error.get("message") if job.error else None
        images = [str(i["id"]) for i in job.images]
        return {"coords": cell.coords, "job_id": job.id, "status": job.status, "image_ids": images, "reason": reason}

    def status(self, matrix: MatrixRecord, states: list[MatrixCellState]) -> str:
        if any(s["status"] not in ENDED and s["status"] not in ("skipped", "missing") for s in states):
            return "running"
        if matrix.grid_image_id is not None and matrix.grid_jobs == matrix.job_ids():
            return "done"
        return "rendering"

    def matrix_json(self, matrix: MatrixRecord) -> shapes.Matrix:
        states = [self.cell_state(c) for c in matrix.cells]
        grid = self.gallery.get(matrix.grid_image_id) if matrix.grid_image_id else None
        return {
            "id": matrix.id,
            "created_at": matrix.created_at,
            "status": self.status(matrix, states),  # type: ignore[typeddict-item]
            "base": matrix.base,
            "axes": matrix.axes,  # type: ignore[typeddict-item]
            "cells": states,  # type: ignore[typeddict-item]
            "warnings": matrix.warnings,  # type: ignore[typeddict-item]
            "estimate": matrix.estimate,  # type: ignore[typeddict-item]
            "grid_image": self.gallery.json(grid) if grid else None,
        }

    # --- following the cells -------------------------------------------------------------
    def _on_job(self, job: JobRecord) -> None:
        """A job listener (the job service's lock is held): one indexed lookup here, the work
        elsewhere. A cell that changes before its matrix is saved is caught by the look at
        the whole matrix that follows the save."""
        if self.store.for_job(job.id) or (job.retry_of and self.store.for_job(job.retry_of)):
            self.runtime.spawn(self._follow, job.id, None, job.retry_of)

    def _follow(
        self, job_id: str | None, matrix_id: str | None, retry_of: str | None = None, recovering: bool = False
    ) -> None:
        try:
            self._update(job_id, matrix_id, retry_of, recovering)
        except Exception:
            log.exception("matrix %s: could not follow job %s", matrix_id, job_id)

    def _update(self, job_id: str | None, matrix_id: str | None, retry_of: str | None, recovering: bool) -> None:
        with self._lock:
            changed: MatrixCellRecord | None = None
            if job_id is not None:
                matrix_id = self.store.for_job(job_id)
                if matrix_id is None and retry_of is not None:
                    matrix_id = self._follow_retry(job_id, retry_of)
                if matrix_id is None:
                    return  # not a cell of a matrix
            assert matrix_id is not None
            matrix = self.store.get(matrix_id)
            if matrix is None:
                return
            changed = next((c for c in matrix.cells if c.job_id == job_id), None)
            states = [self.cell_state(c) for c in matrix.cells]
            status = self.status(matrix, states)
            render = status == "rendering" and matrix.id not in self._rendering
            # after a start, a grid claimed by a process that stopped before saving it is drawn again
            render = render and (recovering or self.store.claim_render(matrix))
            if render:
                self._rendering.add(matrix.id)
        self._announce(matrix, states, status, changed)
        if render:
            try:
                made = self._make_grid(matrix.id)
            finally:
                self._rendering.discard(matrix.id)
            if not made:  # a cell was retried while the grid was drawn: look at the matrix again
                self._update(None, matrix.id, None, False)

    def _follow_retry(self, job_id: str, retry_of: str) -> str | None:
        """A retried cell's new job takes its place in the matrix."""
        matrix_id = self.store.for_job(retry_of)
        matrix = self.store.get(matrix_id) if matrix_id else None
        if matrix is None:
            return None
        for cell in matrix.cells:
            if cell.job_id == retry_of:
                cell.job_id = job_id
        self.store.save(matrix)
        return matrix.id

    def _announce(
        self,
        matrix: MatrixRecord,
        states: list[MatrixCellState],
        status: str,
        changed: MatrixCellRecord | None = None,
        grid_image: dict[str, Any] | None = None,
    ) -> None:
        cell = next((s for s in states if changed is not None and s["coords"] == changed.coords), None)
        done = sum(1 for s in states if s["status"] in ENDED or s["status"] in ("skipped", "missing"))
        self.bus.feed(
            MatrixUpdated(
                matrix_id=matrix.id,
                status=status,  # type: ignore[arg-type]
                done=done,
                total=len(states),
                cell=cell,
                grid_image=grid_image,
            )
        )

    # --- the grid image ------------------------------------------------------------------
    def _make_grid(self, matrix_id: str) -> bool:
        """Draw and save the grid of the matrix's cells now; False when a cell was retried
        meanwhile (the grid is then for cells that are no longer the matrix's)."""
        matrix = self.get(matrix_id)
        states = [self.cell_state(c) for c in matrix.cells]
        jobs_now = matrix.job_ids()
        row = self._save_grid(matrix, states)
        with self._lock:
            matrix = self.get(matrix_id)
            if matrix.job_ids() != jobs_now:
                return False
            matrix.grid_image_id, matrix.grid_jobs = row.id, jobs_now
            self.store.save(matrix)
        self._announce(matrix, states, "done", grid_image=dict(self.gallery.json(row)))
        return True

    def _save_grid(self, matrix: MatrixRecord, states: list[MatrixCellState]) -> ImageRow:
        axes = [GridAxis(a["field"], [_label(v) for v in a["values"]]) for a in matrix.axes]
        images: dict[tuple[int, ...], bytes | None] = {}
        notes: dict[tuple[int, ...], str] = {}
        for state in states:
            coords = tuple(state["coords"])
            images[coords] = self._first_image(state["image_ids"])
            notes[coords] = state["status"] if state["status"] != "succeeded" else "image gone"
        data = self.runtime.run_blocking(render_grid, axes, images, notes)
        prompt = str(matrix.base.get("prompt") or "")
        request = _grid_request(prompt, data)
        extra = {
            "kind": "matrix_grid",
            "matrix": {
                "id": matrix.id,
                "axes": matrix.axes,
                "cells": [
                    {"coords": s["coords"], "job_id": s["job_id"], "status": s["status"], "image_ids": s["image_ids"]}
                    for s in states
                ],
                "image_ids": [i for s in states for i in s["image_ids"]],
            },
        }
        ctx = SaveContext(None, matrix.session, matrix.created_at, None, owner=matrix.owner)
        generated = GeneratedImage(index=0, data=data, seed=None)
        row = self.runtime.run_blocking(self.gallery.write_image, request, generated, ctx, extra)
        self.gallery.add(row)
        self.gallery.announce_added(row)
        return row

    def _first_image(self, image_ids: list[str]) -> bytes | None:
        for image_id in image_ids[:1]:
            row = self.gallery.get(image_id)
            if row is not None:
                try:
                    return self.runtime.run_blocking(self.gallery.read_image, row.path)
                except OSError:
                    return None
        return None


def _label(value: Any) -> str:
    text = str(value)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _grid_request(prompt: str, png: bytes) -> GenerationRequest:
    """What the gallery files the grid image under (provider ``matrix``, model ``grid``)."""
    with Image.open(io.BytesIO(png)) as im:
        width, height = im.size
    target = math.log(width / height)
    ratio = min(ASPECT_RATIOS, key=lambda r: abs(math.log(ASPECT_RATIOS[r]) - target))
    return GenerationRequest(
        prompt=f"matrix: {prompt}",
        styled_prompt=f"matrix: {prompt}",
        negative_prompt="",
        provider=GRID_PROVIDER,
        model=GRID_MODEL,
        style="none",
        aspect_ratio=ratio,
        width=width,
        height=height,
        n=1,
        seed=None,
    )
