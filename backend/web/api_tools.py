"""The studio tools over HTTP: edit, upscale, social formats, templates, usage and estimates.

Each tool request is validated into a job (422 naming the field), priced, checked against
the monthly budget (402) and queued like a generation (202 with the job).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from backend.services.gallery_query import parse_date
from backend.services.templates import search_templates
from backend.services.tools.common import open_image, read_source
from backend.services.tools.edit import build_edit, estimate_edit, operations_json
from backend.services.tools.social import (
    build_social,
    find_format,
    formats_json,
    parse_focal,
    parse_options,
    preview,
)
from backend.services.tools.upscale import PROVIDER_MODES, build_upscale
from backend.services.usage import GROUPS, BudgetExceeded, month_start
from backend.services.validation import ValidationError, build_generation_request
from backend.web.context import json_body, studio
from backend.web.errors import error_response

bp = Blueprint("tools", __name__, url_prefix="/api")

#: tool bodies may carry a painted mask or an uploaded image as a data: URL
MAX_TOOL_BODY = 24 * 1024 * 1024
KINDS = ("generate", "edit", "upscale", "social")


def _tool_body() -> Any:
    request.max_content_length = MAX_TOOL_BODY
    return json_body()


def _build(kind: str, body: Any):
    """(request, tool, session, estimated cost) of a job of ``kind``."""
    s = studio()
    if kind == "generate":
        req, warnings, session = build_generation_request(body, s.registry, s.settings.default_provider)
        provider = s.registry.get(req.provider)
        return req, None, session, (provider.estimate_cost(req) if provider else None), warnings
    if kind == "edit":
        req, tool, session = build_edit(body, s.registry, s.gallery)
        return req, tool, session, estimate_edit(s.registry.get(req.provider), tool["operation"], req), []
    if kind == "upscale":
        req, tool, session = build_upscale(body, s.registry, s.gallery)
        cost = 0.0
        if tool["mode"] in PROVIDER_MODES:
            cost = estimate_edit(s.registry.get(req.provider), tool["operation"], req)
        return req, tool, session, cost, []
    req, tool, session = build_social(body, s.gallery)
    return req, tool, session, 0.0, []


def _submit(kind: str):
    s = studio()
    req, tool, session, cost, warnings = _build(kind, _tool_body())
    s.usage.check(cost)
    job = s.jobs.submit(req, warnings, session, kind=kind, tool=tool, cost_usd=cost)
    return jsonify({"job": s.jobs.job_json(job), "warnings": job.warnings}), 202


@bp.get("/edit/operations")
def edit_operations():
    return jsonify({"operations": operations_json(studio().registry)})


@bp.post("/edit")
def edit():
    return _submit("edit")


@bp.post("/upscale")
def upscale():
    return _submit("upscale")


@bp.post("/social")
def social():
    return _submit("social")


@bp.get("/social/formats")
def social_formats():
    return jsonify({"platforms": formats_json()})


@bp.get("/social/preview")
def social_preview():
    """A JPEG of one format's cut with its safe zone drawn on: for the screen, never saved."""
    s = studio()
    args = request.args
    row = s.gallery.get(args.get("image_id", ""))
    if row is None:
        raise ValidationError("image_id", "image_id must be the id of a gallery image")
    fmt = find_format(args.get("platform"), args.get("format"))
    body: dict[str, Any] = {k: args[k] for k in ("crop", "fill", "fill_color") if args.get(k)}
    if args.get("focal_x") is not None or args.get("focal_y") is not None:
        try:
            body["focal"] = {"x": float(args.get("focal_x", "")), "y": float(args.get("focal_y", ""))}
        except ValueError:
            raise ValidationError("focal", "focal_x and focal_y must be numbers between 0 and 1") from None
        parse_focal(body["focal"])
    options = parse_options(body)
    data = s.runtime.run_blocking(
        lambda: preview(open_image(read_source(s.gallery, {"path": row.path, "image_id": row.id})), fmt, options)
    )
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


@bp.get("/templates")
def templates():
    q = request.args.get("q", "")
    return jsonify({"templates": search_templates(q, studio().registry)})


@bp.get("/usage")
def usage():
    args = request.args
    group_by = args.get("group_by") or "provider"
    if group_by not in GROUPS:
        raise ValidationError("group_by", f"group_by must be one of {', '.join(GROUPS)}")
    start = parse_date("from", args["from"], end=False) if args.get("from") else None
    end = parse_date("to", args["to"], end=True) if args.get("to") else None
    if args.get("period") == "month" and not start:
        start = month_start(datetime.now(UTC))
    s = studio()
    summary = s.usage.summary(start, end, group_by)
    return jsonify({**summary, "budget": s.usage.budget_json()})


@bp.post("/estimate")
def estimate():
    """Price a request before it runs: body is a job body plus ``kind`` (default generate)."""
    body = _tool_body()
    if not isinstance(body, dict):
        raise ValidationError(None, "the request body must be a JSON object")
    body = dict(body)
    kind = body.pop("kind", "generate")
    if kind not in KINDS:
        raise ValidationError("kind", f"kind must be one of {', '.join(KINDS)}")
    if body.get("image") is not None:
        raise ValidationError("image", "estimates take image_id; upload images when you submit the job")
    req, _, _, cost, warnings = _build(kind, body)
    s = studio()
    budget = s.usage.budget_json()
    fits = (
        budget["monthly_budget_usd"] is None
        or not cost
        or budget["month_spend_usd"] + cost <= (budget["monthly_budget_usd"] + 1e-9)
    )
    return jsonify(
        {
            "kind": kind,
            "provider": req.provider,
            "model": req.model,
            "n": req.n,
            "cost_usd": cost,
            "priced": cost is not None,
            "within_budget": fits,
            "budget": budget,
            "warnings": [w.to_json() for w in warnings],
        }
    )


def register(app: Flask) -> None:
    """Budget refusals: 402 Payment Required with the reason, field ``budget``."""

    @app.errorhandler(BudgetExceeded)
    def _budget(e: BudgetExceeded):
        return error_response(402, "budget_exceeded", e.message, "budget")
