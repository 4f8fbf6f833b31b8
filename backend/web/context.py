"""Access to the running studio from a request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app, request

from backend.services.schema import Field
from backend.web.errors import ApiError

if TYPE_CHECKING:
    from backend.studio import Studio


def studio() -> Studio:
    return current_app.extensions["atelier"]


def json_body() -> Any:
    """The parsed JSON body, or a 400 naming what is wrong with it."""
    if not request.data:
        raise ApiError(400, "invalid_json", "the request body must be JSON")
    body = request.get_json(silent=True, force=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON")
    return body


def int_arg(
    field: Field | str, default: int | None = None, minimum: int | None = None, maximum: int | None = None
) -> int:
    """A whole-number query parameter within the declared bounds, or a 422 naming it.
    ``field`` is its declaration (services/schema.py); a bare name with bounds still works."""
    if isinstance(field, str):
        field = Field(field, "integer", default=default, minimum=minimum, maximum=maximum)
    name = field.name
    raw = request.args.get(name)
    if raw is None or raw == "":
        return field.default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "validation_error", f"{name} must be a whole number", name) from None
    return field.check_bounds(value)
