"""The studio tools over HTTP: edit, upscale, social formats, templates, usage and estimates.

Each tool request is validated into a job (422 naming the field), priced, checked against
the monthly budget (402) and queued like a generation (202 with the job).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from PIL import Image

from backend.providers.base import ProviderError
from backend.services.gallery_query import parse_date
from backend.services.schema import AnyOf, Field
from backend.services.templates import TEMPLATE_QUERY, search_templates
from backend.services.tools.common import find_source, open_image, read_source
from backend.services.tools.edit import EDIT_REQUEST, build_edit, estimate_edit, operations_json
from backend.services.tools.social import (
    PREVIEW_QUERY,
    SOCIAL_REQUEST,
    build_social,
    find_format,
    formats_json,
    parse_focal,
    parse_options,
    preview,
)
from backend.services.tools.upscale import PROVIDER_MODES, UPSCALE_REQUEST, build_upscale
from backend.services.usage import USAGE_QUERY, BudgetExceeded, month_start
from backend.services.validation import JOB_REQUEST, ValidationError, build_generation_request
from backend.web.api_jobs import JOB_LINKS
from backend.web.context import json_body, studio
from backend.web.errors import error_response
from backend.web.openapi import Reply, api_route

bp = Blueprint("tools", __name__, url_prefix="/api")

#: tool bodies may carry a painted mask or an uploaded image as a data: URL
MAX_TOOL_BODY = 24 * 1024 * 1024
KINDS = ("generate", "edit", "upscale", "social")
TAGS = ("tools",)
USAGE = {f.name: f for f in USAGE_QUERY}
PREVIEW = {f.name: f for f in PREVIEW_QUERY}
KIND = Field("kind", "string", "the job to price (default generate)", default="generate", enum=KINDS)
#: An estimate's body: a job body of any kind (estimates take image_id, never an upload)
ESTIMATE_REQUEST = AnyOf(
    tuple(
        shape.with_fields(replace(KIND, enum=(kind,), required=kind != "generate"), without=("image",))
        for kind, shape in (
            ("generate", JOB_REQUEST),
            ("edit", EDIT_REQUEST),
            ("upscale", UPSCALE_REQUEST),
            ("social", SOCIAL_REQUEST),
        )
    ),
    "The body of POST /api/jobs, /api/edit, /api/upscale or /api/social with `kind` naming which.",
)
#: what a job-making tool route can answer beside its 202 (503: ATELIER_REDIS_URL set, Redis away)
SUBMIT_ERRORS = (400, 402, 413, 422, 429, 503)
SUBMITTED = {202: Reply("JobSubmitted", "The job, queued", links=JOB_LINKS)}


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
@api_route("Edit operations and the providers that can do them", responses={200: "EditOperations"}, tags=TAGS)
def edit_operations():
    return jsonify({"operations": operations_json(studio().registry)})


@bp.post("/edit")
@api_route(
    "Edit a gallery image with a provider",
    description="402: over ATELIER_MONTHLY_BUDGET_USD. With ATELIER_REDIS_URL the job goes to its provider's queue.",
    body=EDIT_REQUEST,
    responses=SUBMITTED,
    errors=SUBMIT_ERRORS,
    tags=TAGS,
)
def edit():
    return _submit("edit")


@bp.post("/upscale")
@api_route(
    "Upscale a gallery image",
    description="fast and auto are free and need no provider (with ATELIER_REDIS_URL: a worker serving `local`).",
    body=UPSCALE_REQUEST,
    responses=SUBMITTED,
    errors=SUBMIT_ERRORS,
    tags=TAGS,
)
def upscale():
    return _submit("upscale")


@bp.post("/social")
@api_route(
    "Cut a gallery image for social platforms",
    description="Free and needs no provider (with ATELIER_REDIS_URL: a worker serving `local`).",
    body=SOCIAL_REQUEST,
    responses=SUBMITTED,
    errors=SUBMIT_ERRORS,
    tags=TAGS,
)
def social():
    return _submit("social")


@bp.get("/social/formats")
@api_route("Social platforms and their formats", responses={200: "SocialFormats"}, tags=TAGS)
def social_formats():
    return jsonify({"platforms": formats_json()})


@bp.get("/social/preview")
@api_route(
    "A preview of one format's cut with its safe zone drawn on (never saved)",
    query=PREVIEW_QUERY,
    responses={200: Reply({"type": "string", "format": "binary"}, "A JPEG", media="image/jpeg")},
    errors=(422,),
    tags=TAGS,
)
def social_preview():
    """A JPEG of one format's cut with its safe zone drawn on: for the screen, never saved."""
    s = studio()
    args = request.args
    source = find_source(s.gallery, {"image_id": args.get("image_id", "")})
    fmt = find_format(args.get("platform"), args.get("format"))
    body: dict[str, Any] = {k: args[k] for k in ("crop", "fill", "fill_color") if args.get(k)}
    if args.get("focal_x") is not None or args.get("focal_y") is not None:
        try:
            body["focal"] = {"x": float(args.get("focal_x", "")), "y": float(args.get("focal_y", ""))}
        except ValueError:
            raise ValidationError("focal", "focal_x and focal_y must be numbers between 0 and 1") from None
        parse_focal(body["focal"])
    options = parse_options(body)
    try:
        data = s.runtime.run_blocking(
            lambda: preview(open_image(read_source(s.gallery, source.to_json())), fmt, options)
        )
    except (ProviderError, OSError, Image.DecompressionBombError):
        # the file went away or changed on disk since it was indexed
        raise ValidationError("image_id", f"the image {source.path} cannot be read now") from None
    return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})


@bp.get("/templates")
@api_route("Prompt templates", query=TEMPLATE_QUERY, responses={200: "Templates"}, tags=TAGS)
def templates():
    q = request.args.get(TEMPLATE_QUERY[0].name, "")
    return jsonify({"templates": search_templates(q, studio().registry)})


@bp.get("/usage")
@api_route("What jobs cost, summed by provider, model, day or kind", query=USAGE_QUERY, responses={200: "Usage"},
           errors=(422,), tags=TAGS)  # fmt: skip
def usage():
    args = request.args
    group_by = USAGE["group_by"].check_bounds(args.get("group_by") or USAGE["group_by"].default)
    start = parse_date("from", args["from"], end=False) if args.get("from") else None
    end = parse_date("to", args["to"], end=True) if args.get("to") else None
    if USAGE["period"].check_bounds(args.get("period") or None) == "month" and not start:
        start = month_start(datetime.now(UTC))
    s = studio()
    summary = s.usage.summary(start, end, group_by)
    return jsonify({**summary, "budget": s.usage.budget_json()})


@bp.post("/estimate")
@api_route("Price a job before it runs", body=ESTIMATE_REQUEST, responses={200: "Estimate"}, errors=(400, 413, 422),
           tags=TAGS)  # fmt: skip
def estimate():
    """Price a request before it runs: body is a job body plus ``kind`` (default generate)."""
    body = _tool_body()
    if not isinstance(body, dict):
        raise ValidationError(None, "the request body must be a JSON object")
    body = dict(body)
    kind = KIND.check(body.pop("kind", None)) or KIND.default
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
