"""Access to the running studio from a request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app, g, request

from backend.services.principal import STUDIO, Principal
from backend.services.schema import Field
from backend.web.errors import ApiError

if TYPE_CHECKING:
    from backend.studio import Studio


def studio() -> Studio:
    return current_app.extensions["atelier"]


def principal() -> Principal:
    """Who this request acts for, as the edge resolved it (web/auth): the studio itself
    until accounts exist."""
    return g.get("principal", STUDIO)


def no_body() -> None:
    """For a route that takes no body: one announced over the request's limit is refused at
    once (413), unread, as the routes that read a body refuse it."""
    request.get_data(cache=False)


def json_body() -> Any:
    """The parsed JSON body, or a 400 naming what is wrong with it."""
    if not request.data:
        raise ApiError(400, "invalid_json", "the request body must be JSON")
    try:
        body = request.get_json(silent=True, force=True)
    except RecursionError:  # json's C decoder refuses past the recursion limit
        raise ApiError(400, "invalid_json", "the request body is nested too deeply") from None
    if body is None:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON")
    if _has_lone_surrogate(body):
        # "\ud800" parses, but is no text: SQLite, file names and PNG chunks would all refuse it later
        raise ApiError(400, "invalid_json", "the request body holds a lone UTF-16 surrogate (\\ud800-\\udfff)")
    return body


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


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
