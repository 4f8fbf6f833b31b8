"""The studio tools over HTTP: one job route per registered tool, templates, usage and estimates.

Each tool request (``POST /api/<kind>``, one per entry of services/tools/registry.TOOLS) is
validated into a job (422 naming the field), priced, checked against the monthly budget
(402) and queued like a generation (202 with the job). An uploaded source image is
imported into the gallery only after all of that passed: a refused request writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from PIL import Image

from backend.providers.base import ProviderError
from backend.services.gallery import ImageRejected
from backend.services.gallery_query import parse_date
from backend.services.schema import AnyOf, Field
from backend.services.templates import TEMPLATE_QUERY, search_templates
from backend.services.tools.base import Tool, ToolContext, ToolJob, tool_path
from backend.services.tools.common import SourceFinder, find_source, open_image, read_source
from backend.services.tools.edit import operations_json
from backend.services.tools.registry import TOOLS, tools_json
from backend.services.tools.social import PREVIEW_QUERY, find_format, formats_json, parse_focal, parse_options, preview
from backend.services.usage import USAGE_QUERY, BudgetExceeded, month_start
from backend.services.validation import JOB_REQUEST, ValidationError, build_generation_request
from backend.web.api_jobs import JOB_LINKS
from backend.web.context import json_body, principal, studio
from backend.web.errors import error_response
from backend.web.openapi import Reply, api_route

bp = Blueprint("tools", __name__, url_prefix="/api")

#: tool bodies may carry a painted mask or an uploaded image as a data: URL
MAX_TOOL_BODY = 24 * 1024 * 1024
GENERATE = "generate"
TAGS = ("tools",)
USAGE = {f.name: f for f in USAGE_QUERY}
#: what a job-making tool route can answer beside its 202 (503: ATELIER_REDIS_URL set, Redis away)
SUBMIT_ERRORS = (400, 402, 413, 422, 429, 503)
SUBMITTED = {202: Reply("JobSubmitted", "The job, queued", links=JOB_LINKS)}


def kinds() -> tuple[str, ...]:
    """What an estimate can price: a generation or a job of any registered tool."""
    return (GENERATE, *TOOLS)


def kind_field() -> Field:
    return Field("kind", "string", "the job to price (default generate)", default=GENERATE, enum=kinds())


def estimate_request() -> AnyOf:
    """An estimate's body: a job body of any kind (estimates take image_id, never an upload)."""
    kind = kind_field()
    shapes = ((GENERATE, JOB_REQUEST), *((t.kind, t.request) for t in TOOLS.values()))
    return AnyOf(
        tuple(
            shape.with_fields(replace(kind, enum=(name,), required=name != GENERATE), without=("image",))
            for name, shape in shapes
        ),
        "The body of POST /api/jobs or of a tool's route (" + ", ".join(tool_path(t) for t in TOOLS.values())
        + ") with `kind` naming which.",
    )  # fmt: skip


class _EstimateBody:
    """The estimate's body in the OpenAPI document, built from the table when the document is."""

    def json_schema(self, env: Any = None) -> dict[str, Any]:
        return estimate_request().json_schema(env)


def _tool_body() -> Any:
    request.max_content_length = MAX_TOOL_BODY
    return json_body()


def _build(tool: Tool, body: Any, sources: SourceFinder) -> tuple[ToolJob, float | None]:
    """A tool's job of ``body`` and its price; writes nothing."""
    registry = studio().registry
    job = tool.build(body, ToolContext(registry, sources))
    return job, tool.estimate(job, registry)


def _visible() -> Callable[[str], bool]:
    """Whether this request's caller may see the gallery image at a path (a source it may
    not see is answered as one that does not exist)."""
    viewer, boards = principal(), studio().boards
    return lambda path: boards.image_visible(viewer, path)


def _import_upload(data: bytes) -> str:
    """The id of an accepted request's upload, now in the gallery; every tab is told."""
    try:
        return studio().gallery.import_upload(data, "upload.png", principal().owner).id
    except ImageRejected as exc:
        raise ValidationError("image", f"image: {exc}") from None


def _submit(tool: Tool):
    s = studio()
    body = _tool_body()
    sources = SourceFinder(s.gallery, _visible())
    job, cost = _build(tool, body, sources)
    caller = principal()
    with s.usage.admitting:
        s.usage.admit(cost, caller)
        if sources.upload is not None:
            s.jobs.check_open()  # a queue that is down refuses before the upload is written
            # every check passed on the upload in memory; the job names it by its gallery id
            image_id = _import_upload(sources.upload)
            body = {**{k: v for k, v in body.items() if k != "image"}, "image_id": image_id}
            job, cost = _build(tool, body, SourceFinder(s.gallery, _visible()))
        queued = s.jobs.submit(
            job.request,
            [],
            job.session,
            kind=tool.kind,
            tool=job.tool,
            cost_usd=cost,
            owner=caller.owner,
            key_id=caller.key_id,
        )
    return jsonify({"job": s.jobs.job_json(queued), "warnings": queued.warnings}), 202


def _submit_view(tool: Tool) -> Callable[[], Any]:
    def view():
        return _submit(tool)

    view.__name__ = tool.kind
    return api_route(
        tool.summary, description=tool.description, body=tool.request, responses=SUBMITTED, errors=SUBMIT_ERRORS,
        tags=TAGS,
    )(view)  # fmt: skip


@bp.get("/tools")
@api_route("The studio tools: each one's kind and the route its jobs go to", responses={200: "Tools"}, tags=TAGS)
def tools():
    return jsonify({"tools": tools_json()})


@bp.get("/edit/operations")
@api_route("Edit operations and the providers that can do them", responses={200: "EditOperations"}, tags=TAGS)
def edit_operations():
    return jsonify({"operations": operations_json(studio().registry)})


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
    source = find_source(s.gallery, {"image_id": args.get("image_id", "")}, visible=_visible())
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
@api_route(
    "What jobs cost, summed by provider, model, day or kind, and by user and API key",
    description="With accounts, `by_user` and `by_key` sum each user's and key's jobs in the period and "
    "show their monthly budgets: an admin sees everyone, a member only their own jobs and keys "
    "(`groups` and `totals` too).",
    query=USAGE_QUERY, responses={200: "Usage"}, errors=(422,), tags=TAGS,
)  # fmt: skip
def usage():
    args = request.args
    group_by = USAGE["group_by"].check_bounds(args.get("group_by") or USAGE["group_by"].default)
    start = parse_date("from", args["from"], end=False) if args.get("from") else None
    end = parse_date("to", args["to"], end=True) if args.get("to") else None
    if USAGE["period"].check_bounds(args.get("period") or None) == "month" and not start:
        start = month_start(datetime.now(UTC))
    s = studio()
    caller = principal()
    # an admin (or the studio itself) sees everyone's; a member their own jobs and keys
    only = None if caller.is_admin else caller.owner or ""
    summary = s.usage.summary(start, end, group_by, only)
    month = month_start(datetime.now(UTC))
    budgets = s.usage.budgets
    return jsonify(
        {
            **summary,
            "budget": s.usage.budget_json(),
            "by_user": budgets.by_user(start, end, month, only),
            "by_key": budgets.by_key(start, end, month, only),
        }
    )


@bp.post("/estimate")
@api_route("Price a job before it runs", body=_EstimateBody(), responses={200: "Estimate"}, errors=(400, 413, 422),
           tags=TAGS)  # fmt: skip
def estimate():
    """Price a request before it runs: body is a job body plus ``kind`` (default generate)."""
    body = _tool_body()
    if not isinstance(body, dict):
        raise ValidationError(None, "the request body must be a JSON object")
    body = dict(body)
    kind_of = kind_field()
    kind = kind_of.check(body.pop("kind", None)) or kind_of.default
    if body.get("image") is not None:
        raise ValidationError("image", "estimates take image_id; upload images when you submit the job")
    s = studio()
    if kind == GENERATE:
        req, warnings, _ = build_generation_request(body, s.registry, s.settings.default_provider)
        provider = s.registry.get(req.provider)
        cost = provider.estimate_cost(req) if provider else None
    else:
        job, cost = _build(TOOLS[kind], body, SourceFinder(s.gallery, _visible()))
        req, warnings = job.request, []
    budget = s.usage.budget_json()
    fits = s.usage.fits(cost, budget["month_spend_usd"], principal())
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
    """``POST /api/<kind>`` for each registered tool (endpoint ``tools.<kind>``), and budget
    refusals: 402 Payment Required with the reason, field ``budget``."""
    for tool in TOOLS.values():
        app.add_url_rule(tool_path(tool), f"{bp.name}.{tool.kind}", _submit_view(tool), methods=["POST"])

    @app.errorhandler(BudgetExceeded)
    def _budget(e: BudgetExceeded):
        return error_response(402, "budget_exceeded", e.message, "budget")
