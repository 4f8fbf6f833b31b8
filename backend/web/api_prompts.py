"""Prompts: the history of prompts used, previews of wildcard templates, enhancement."""

from __future__ import annotations

import secrets

from flask import Blueprint, jsonify, request

from backend.providers.base import ProviderError
from backend.services.enhancers import OFF_MESSAGE
from backend.services.gallery import InvalidCursor, decode_cursor, encode_cursor
from backend.services.gallery_query import CURSOR
from backend.services.prompt_history import entry_json
from backend.services.schema import Field, Shape, ValidationError
from backend.services.styles import load_styles
from backend.services.validation import MAX_PROMPT_CHARS, MAX_SEED
from backend.services.wildcards import MAX_EXPANSIONS, WildcardError, expand_many
from backend.web.context import int_arg, json_body, principal, studio
from backend.web.errors import ApiError
from backend.web.openapi import Reply, api_route

bp = Blueprint("prompts", __name__, url_prefix="/api/prompts")
TAGS = ("prompts",)

LIMIT = Field("limit", "integer", "entries per page", default=50, minimum=1, maximum=200)
QUERY = Field("q", "string", "words that must all appear in the prompt (any case)", max_length=1000)
PROMPT_ID = Field("prompt_id", "integer", "the entry's id")

EXPAND_REQUEST = Shape(
    (
        Field(
            "prompt",
            "string",
            "a template in the Dynamic Prompts syntax",
            required=True,
            min_length=1,
            max_length=MAX_PROMPT_CHARS,
        ),
        Field("seed", "integer", "image i uses seed + i (default: random)", nullable=True, minimum=0, maximum=MAX_SEED),
        Field("n", "integer", "how many prompts", nullable=True, default=1, minimum=1, maximum=MAX_EXPANSIONS),
    ),
    description="A wildcard template to preview.",
)

ENHANCE_REQUEST = Shape(
    (
        Field(
            "prompt",
            "string",
            "the prompt to rewrite; not blank",
            required=True,
            min_length=1,
            max_length=MAX_PROMPT_CHARS,
            pattern=r"\S",
        ),
        Field(
            "style",
            "string",
            "the style preset the image will use, so the rewrite fits it",
            nullable=True,
            enum=lambda env: list(load_styles()),
        ),
    ),
    description="A prompt for the configured text model to rewrite.",
)


@bp.get("")
@api_route(
    "Prompts used, most recent first",
    description="Distinct prompts with how often and when last they were used and the settings of their last job.",
    query=(QUERY, LIMIT, CURSOR),
    responses={200: "PromptPage"},
    errors=(422,),
    tags=TAGS,
)
def list_prompts():
    s = studio()
    limit = int_arg(LIMIT)
    query = QUERY.check_bounds(request.args.get("q") or "")
    cursor = request.args.get("cursor") or None
    before = None
    if cursor:
        last_used, entry_id = decode_cursor(cursor)
        if not entry_id.isdigit() or len(entry_id) > 18:
            raise InvalidCursor("cursor is not one this server issued")
        before = (last_used, int(entry_id))
    entries = s.prompts.page(limit + 1, query, before, principal().owner or "")  # each user's own
    more = len(entries) > limit
    entries = entries[:limit]
    next_cursor = encode_cursor(entries[-1].last_used, str(entries[-1].id)) if more and entries else None
    return jsonify({"items": [entry_json(e) for e in entries], "next_cursor": next_cursor})


@bp.delete("/<int:prompt_id>")
@api_route(
    "Remove a prompt from the history",
    path=(PROMPT_ID,),
    responses={204: Reply(None, "Removed")},
    errors=(404,),
    tags=TAGS,
)
def delete_prompt(prompt_id: int):
    if not studio().prompts.delete(prompt_id, principal().owner or ""):
        raise ApiError(404, "not_found", "no prompt with this id in the history")
    return "", 204


@bp.post("/expand")
@api_route(
    "Preview a wildcard template",
    description="The prompts of images 0..n-1 of a job with this prompt and seed (image i uses seed + i).",
    body=EXPAND_REQUEST,
    responses={200: "PromptExpansions"},
    errors=(400, 413, 422),
    tags=TAGS,
)
def expand():
    body = EXPAND_REQUEST.check_object(json_body())
    field = EXPAND_REQUEST["prompt"]
    prompt = field.check_bounds(field.check_type(body.get("prompt")))
    if prompt is None:
        raise ValidationError("prompt", "prompt is required")
    seed_field, n_field = EXPAND_REQUEST["seed"], EXPAND_REQUEST["n"]
    seed = seed_field.check_bounds(seed_field.check_type(body.get("seed")))
    n = n_field.check_bounds(n_field.check_type(body.get("n")))
    try:
        prompts = expand_many(
            prompt,
            secrets.randbelow(MAX_SEED) if seed is None else seed,
            n_field.default if n is None else n,
            studio().wildcards,
        )
    except WildcardError as exc:
        raise ValidationError("prompt", exc.message) from None
    return jsonify({"prompts": prompts})


@bp.post("/enhance")
@api_route(
    "Rewrite a prompt with a text model",
    description="The configured text model (ATELIER_ENHANCER) rewrites the prompt. Nothing is changed: the "
    "answer holds before and after; a job that uses the rewrite records the original in `original_prompt`.",
    body=ENHANCE_REQUEST,
    responses={
        200: "PromptEnhancement",
        502: Reply(
            "Error",
            "The text model failed; `code` is from the providers' vocabulary (`auth`, `quota`, `rate_limited`, "
            "`bad_response`, `provider_unavailable`, `moderation_blocked`, `invalid_request`)",
        ),
        503: Reply(
            "Error", "Prompt enhancement is off or lacks its key (`enhancer_off`): the message says what to set"
        ),
        504: Reply("Error", "The text model did not answer in time (`timeout`)"),
    },
    errors=(400, 413, 422),
    tags=TAGS,
)
def enhance():
    body = ENHANCE_REQUEST.check_object(json_body())
    field = ENHANCE_REQUEST["prompt"]
    prompt = field.check_bounds(field.check_type(body.get("prompt")))
    if prompt is None:
        raise ValidationError("prompt", "prompt is required")
    style_field = ENHANCE_REQUEST["style"]
    style = style_field.check_type(body.get("style"))
    if style is not None and style not in load_styles():
        raise ValidationError("style", f"unknown style {style!r}; known: {', '.join(load_styles())}")
    enhancer = studio().enhancer
    if enhancer is None:
        raise ApiError(503, "enhancer_off", OFF_MESSAGE)
    missing = enhancer.missing_key()
    if missing:
        raise ApiError(503, "enhancer_off", f"prompt enhancement is not ready: {missing}")
    try:
        result = enhancer.enhance(prompt, style)
    except ProviderError as exc:
        status = 504 if exc.code == "timeout" else 502
        raise ApiError(status, exc.code, f"the prompt was not enhanced: {exc.message}") from None
    return jsonify({"original": result.original, "enhanced": result.enhanced, "enhancer": enhancer.describe()})
