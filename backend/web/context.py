"""Access to the running studio from a request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app, request

from backend.web.errors import ApiError

if TYPE_CHECKING:
    from backend.studio import Studio


def studio() -> Studio:
    return current_app.extensions["atelier"]


def json_body() -> Any:
    """The parsed JSON body, or a 400 naming what is wrong with it."""
    if not request.data:
        raise ApiError(400, "invalid_json", "the request body must be JSON")
    try:
        body = request.get_json(silent=True, force=True)
    except RecursionError:  # silent=True covers ValueError only; deep nesting is a client error too
        raise ApiError(400, "invalid_json", "the request body is nested too deeply") from None
    if body is None:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON")
    return body


def int_arg(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "validation_error", f"{name} must be a whole number", name) from None
    if not minimum <= value <= maximum:
        raise ApiError(422, "validation_error", f"{name} must be between {minimum} and {maximum}", name)
    return value
