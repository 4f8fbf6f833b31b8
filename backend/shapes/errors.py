"""The error answer of the whole API, and the warning a job request may carry."""

from __future__ import annotations

from typing import Any, NotRequired

from typing_extensions import TypedDict


class ErrorBody(TypedDict):
    code: str
    """machine-readable, e.g. validation_error, not_found"""
    message: str
    field: NotRequired[str]
    """the request value it refuses"""


class Error(TypedDict):
    """Every 4xx/5xx answer of the API."""

    error: ErrorBody


class Warning(TypedDict):  # the component's name in the document (shadows the builtin here only)
    """A value the chosen model could not honour, and the one used instead."""

    field: str
    message: str
    requested: Any
    used: Any


def error_body(code: str, message: str, field: str | None = None) -> Error:
    """The body of an error answer: ``field`` only when one value is to blame."""
    body = ErrorBody(code=code, message=message)
    if field is not None:
        body["field"] = field
    return Error(error=body)
