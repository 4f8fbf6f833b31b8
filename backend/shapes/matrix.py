"""A matrix as the API shows it (POST /api/matrix, GET /api/matrix/<id>)."""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

from backend.shapes.images import Image

MatrixField = Literal["provider", "model", "style", "aspect_ratio", "seed", "steps", "quality", "prompt"]


class MatrixAxis(TypedDict):
    field: MatrixField
    values: list[str | int]
    replace: NotRequired[str]
    """prompt only: the words of the base prompt each value replaces"""


class MatrixCell(TypedDict):
    coords: list[int]
    """the index of its value on each axis, in the axes' order"""
    job_id: str | None
    """null: skipped"""
    status: str
    """the job's status; skipped; missing (its job was deleted)"""
    image_ids: list[str]
    reason: str | None
    """why it was skipped, or why its job failed"""


class MatrixWarning(TypedDict):
    """A value a cell's provider could not honour (``used`` instead), or a skipped cell."""

    cell: list[int]
    label: str
    """the cell, in words: field=value, …"""
    field: str
    message: str
    requested: Any
    used: Any
    skipped: NotRequired[bool]


class MatrixEstimate(TypedDict):
    cells: int
    jobs: int
    skipped: int
    cost_usd: float
    """the priced cells' sum"""
    unpriced_jobs: int


class Matrix(TypedDict):
    id: str
    created_at: str
    status: Literal["running", "rendering", "done"]
    base: dict[str, Any]
    axes: list[MatrixAxis]
    cells: list[MatrixCell]
    warnings: list[MatrixWarning]
    estimate: MatrixEstimate
    grid_image: Image | None
    """the labelled grid, once every cell has ended"""


class MatrixEnvelope(TypedDict):
    matrix: Matrix


class MatrixSubmitted(TypedDict):
    matrix: Matrix
    estimate: MatrixEstimate
    warnings: list[MatrixWarning]
