"""A matrix request made into cells: each cell's job request built by the one validator.

``POST /api/matrix {"base": <job body>, "axes": [{"field", "values", "replace"?}, ...]}``:
up to three axes, each over one field of the job body; every combination of their values
is a cell. A cell is the base body with the axes' values put in and goes through
:func:`build_generation_request` like any job, so what a model cannot honour is adjusted
with a warning that names the cell. A cell whose value its provider cannot take at all
(a model of another provider, a provider not available now) is skipped, with its reason.
Anything wrong with the request itself is a ValidationError naming the field.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from backend.providers.base import GenerationRequest
from backend.providers.registry import ProviderRegistry
from backend.services.schema import Field, Shape, ValidationError
from backend.services.validation import JOB_REQUEST, Warning_, build_generation_request

#: the job fields an axis may vary
AXIS_FIELDS = ("provider", "model", "style", "aspect_ratio", "seed", "steps", "quality", "prompt")
MAX_AXES = 3
DEFAULT_MAX_CELLS = 100
MAX_REPLACE_CHARS = 200

AXIS = Shape(
    (
        Field("field", "string", "the job field this axis varies", required=True, enum=AXIS_FIELDS),
        Field(
            "values",
            "array",
            "the values, one per row/column; not empty, no value twice",
            required=True,
            min_items=1,
            extra={"items": {"type": ["string", "integer"], "description": "an integer for seed and steps"}},
        ),
        Field(
            "replace",
            "string",
            "prompt only: the words of the base prompt each value replaces (else each value is a whole prompt)",
            nullable=True,
            min_length=1,
            max_length=MAX_REPLACE_CHARS,
        ),
    ),
    description="One axis of a matrix.",
)
MATRIX_REQUEST = Shape(
    (
        Field(
            "base",
            "object",
            "a job body as POST /api/jobs takes it; the axes' values replace its fields",
            required=True,
        ),
        Field(
            "axes",
            "array",
            f"1 to {MAX_AXES} axes over {', '.join(AXIS_FIELDS)}",
            required=True,
            min_items=1,
            max_items=MAX_AXES,
            extra={"items": AXIS.json_schema()},
        ),
    ),
    description="A matrix: every combination of the axes' values is one job.",
)


@dataclass(frozen=True)
class Axis:
    field: str
    values: tuple[Any, ...]
    replace: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "values": list(self.values)}
        if self.replace is not None:
            out["replace"] = self.replace
        return out


@dataclass
class PlannedCell:
    coords: list[int]
    request: GenerationRequest | None
    warnings: list[Warning_]
    skipped: str | None = None


@dataclass
class Plan:
    base: dict[str, Any]
    axes: list[Axis]
    cells: list[PlannedCell]
    session: str | None

    def cell_label(self, coords: list[int]) -> str:
        return ", ".join(f"{a.field}={_short(a.values[i])}" for a, i in zip(self.axes, coords, strict=True))

    def warnings_json(self) -> list[dict[str, Any]]:
        """Every cell's adjustments and skips, each naming its cell."""
        out: list[dict[str, Any]] = []
        for cell in self.cells:
            label = self.cell_label(cell.coords)
            for w in cell.warnings:
                out.append({"cell": cell.coords, "label": label, **w.to_json(), "message": f"{label}: {w.message}"})
            if cell.skipped is not None:
                out.append(
                    {
                        "cell": cell.coords,
                        "label": label,
                        "field": "cell",
                        "message": f"{label}: skipped: {cell.skipped}",
                        "requested": label,
                        "used": None,
                        "skipped": True,
                    }
                )
        return out


def _short(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _env(registry: ProviderRegistry) -> Any:
    return SimpleNamespace(registry=registry)


def parse_axes(raw: Any, base_prompt: str, registry: ProviderRegistry, max_cells: int) -> list[Axis]:
    """The axes, or a ValidationError naming the first thing wrong (``axes``, ``axes[1].field`` …)."""
    if not isinstance(raw, list):
        raise ValidationError("axes", "axes must be a list of {field, values}")
    if not raw:
        raise ValidationError("axes", "a matrix needs at least one axis")
    if len(raw) > MAX_AXES:
        raise ValidationError("axes", f"a matrix has at most {MAX_AXES} axes; got {len(raw)}")
    axes: list[Axis] = []
    cells = 1
    for i, item in enumerate(raw):
        where = f"axes[{i}]"
        if not isinstance(item, dict):
            raise ValidationError(where, f"{where} must be an object {{field, values}}")
        unknown = sorted(set(item) - AXIS.names)
        if unknown:
            raise ValidationError(f"{where}.{unknown[0]}", f"unknown field {unknown[0]!r} in {where}")
        name = item.get("field")
        if not isinstance(name, str) or name not in AXIS_FIELDS:
            raise ValidationError(
                f"{where}.field",
                f"{where}.field must name a field to vary: one of {', '.join(AXIS_FIELDS)}; got {_short(name)!r}",
            )
        if any(a.field == name for a in axes):
            raise ValidationError(f"{where}.field", f"two axes vary {name}; give each field one axis")
        values = item.get("values")
        if not isinstance(values, list) or not values:
            raise ValidationError(f"{where}.values", f"{where}.values must be a list of at least one {name}")
        cells *= len(values)
        if cells > max_cells:
            raise ValidationError(
                "axes",
                f"the matrix would have more than {max_cells} cells (ATELIER_MATRIX_MAX_CELLS); use fewer values",
            )
        replace = item.get("replace")
        if replace is not None:
            if name != "prompt":
                raise ValidationError(f"{where}.replace", "replace works on the prompt axis only")
            try:
                AXIS["replace"].check(replace)
            except ValidationError as e:
                raise ValidationError(f"{where}.replace", f"{where}.{e.message}") from None
            if replace not in base_prompt:
                raise ValidationError(f"{where}.replace", f"the base prompt does not contain {_short(replace)!r}")
        checked = [_value(name, v, f"{where}.values[{j}]", registry) for j, v in enumerate(values)]
        for j, v in enumerate(checked):
            if v in checked[:j]:
                raise ValidationError(f"{where}.values[{j}]", f"{where}.values holds {_short(v)!r} twice")
        axes.append(Axis(name, tuple(checked), replace))
    return axes


def _value(name: str, value: Any, where: str, registry: ProviderRegistry) -> Any:
    """One axis value: the type and bounds of the job field, and one of its known values."""
    field = JOB_REQUEST[name]
    if value is None:
        raise ValidationError(where, f"{where} must be a {name}, not null")
    try:
        field.check(value)
    except ValidationError as e:
        raise ValidationError(where, f"{where}: {e.message}") from None
    known = field.values(_env(registry))
    if known is not None and value not in known:
        raise ValidationError(where, f"{where}: unknown {name} {_short(value)!r}; known: {', '.join(map(str, known))}")
    return value


def plan_matrix(body: Any, registry: ProviderRegistry, default_provider: str, max_cells: int) -> Plan:
    """Every cell's request (or why it is skipped); a ValidationError for a bad request."""
    body = MATRIX_REQUEST.check_object(body)
    base = body.get("base")
    if not isinstance(base, dict):
        raise ValidationError("base", "base must be a job body (an object), as POST /api/jobs takes it")
    try:
        JOB_REQUEST.check_object(base)
        prompt = JOB_REQUEST["prompt"].check_type(base.get("prompt"))
    except ValidationError as e:
        raise ValidationError(f"base.{e.field}" if e.field else "base", e.message) from None
    axes = parse_axes(body.get("axes"), prompt or "", registry, max_cells)
    varied = {a.field for a in axes}
    if "provider" in varied and "model" not in varied:
        base = {k: v for k, v in base.items() if k != "model"}  # each provider's own default model
    session: str | None = None
    cells: list[PlannedCell] = []
    for coords in itertools.product(*(range(len(a.values)) for a in axes)):
        cell_body = dict(base)
        for axis, i in zip(axes, coords, strict=True):
            value = axis.values[i]
            if axis.replace is not None:
                cell_body["prompt"] = (prompt or "").replace(axis.replace, value)
            else:
                cell_body[axis.field] = value
        try:
            request, warnings, session = build_generation_request(cell_body, registry, default_provider)
        except ValidationError as e:
            if e.field in varied or (e.field == "model" and "provider" in varied):
                cells.append(PlannedCell(list(coords), None, [], skipped=e.message))
                continue
            raise ValidationError(f"base.{e.field}" if e.field else "base", e.message) from None
        cells.append(PlannedCell(list(coords), request, warnings))
    if all(c.request is None for c in cells):
        reasons = "; ".join(dict.fromkeys(c.skipped or "" for c in cells))
        raise ValidationError("axes", f"no cell of this matrix can run: {reasons}")
    return Plan(base, axes, cells, session)


def estimate(plan: Plan, registry: ProviderRegistry) -> dict[str, Any]:
    """The whole matrix's price: the sum of its priced cells, and how many have no price."""
    total, priced, unpriced = 0.0, 0, 0
    for cell in plan.cells:
        if cell.request is None:
            continue
        provider = registry.get(cell.request.provider)
        cost = provider.estimate_cost(cell.request) if provider else None
        if cost is None:
            unpriced += 1
        else:
            priced += 1
            total += cost
    jobs = priced + unpriced
    return {
        "cells": len(plan.cells),
        "jobs": jobs,
        "skipped": len(plan.cells) - jobs,
        "cost_usd": round(total, 6),
        "unpriced_jobs": unpriced,
    }
