"""One error shape for the whole API: ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from backend.services.gallery import InvalidCursor
from backend.services.jobs import JobConflict, JobNotFound
from backend.services.rq_executor import QueueUnavailable
from backend.services.validation import ValidationError
from backend.shapes import error_body

log = logging.getLogger(__name__)


class LogBudget:
    """At most ``lines`` log lines per ``per_seconds``: what a client can make the server
    log (malformed packets, failing requests) must not let it flood the log."""

    def __init__(self, lines: int, per_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.lines, self.per_seconds, self._clock = lines, per_seconds, clock
        self._window_start = -float("inf")
        self._used = 0
        self._suppressed = 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """None: stay quiet. Otherwise log, noting this many lines left out since the last one."""
        with self._lock:
            now = self._clock()
            if now - self._window_start >= self.per_seconds:
                self._window_start, self._used = now, 0
            if self._used >= self.lines:
                self._suppressed += 1
                return None
            self._used += 1
            suppressed, self._suppressed = self._suppressed, 0
            return suppressed


def one_line(text: object, limit: int = 160) -> str:
    """Text from outside, made safe for one log line: capped, no newlines or control characters."""
    return ascii(str(text)[:limit])[1:-1]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(status: int, code: str, message: str, field: str | None = None) -> tuple[Any, int]:
    return jsonify(error_body(code, message, field)), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api(e: ApiError):
        return error_response(e.status, e.code, e.message, e.field)

    @app.errorhandler(ValidationError)
    def _validation(e: ValidationError):
        return error_response(422, "validation_error", e.message, e.field)

    @app.errorhandler(InvalidCursor)
    def _cursor(e: InvalidCursor):
        return error_response(422, "validation_error", str(e), "cursor")

    @app.errorhandler(JobNotFound)
    def _job_missing(e: JobNotFound):
        return error_response(404, "not_found", "no job with this id")

    @app.errorhandler(JobConflict)
    def _job_conflict(e: JobConflict):
        return error_response(409, "conflict", str(e))

    @app.errorhandler(QueueUnavailable)
    def _queue_down(e: QueueUnavailable):
        response, status = error_response(503, "queue_unavailable", str(e))
        response.headers["Retry-After"] = "5"
        return response, status

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        if not request.path.startswith("/api/") and e.code == 404:
            return error_response(404, "not_found", "not found")
        code = (e.name or "error").lower().replace(" ", "_")
        return error_response(e.code or 500, code, e.description or e.name)

    unexpected_logged = LogBudget(lines=10, per_seconds=60)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        suppressed = unexpected_logged.take()
        if suppressed is not None:  # a bug, but one any client may hit again and again
            log.exception(
                "unhandled error on %s %s%s",
                request.method,
                one_line(request.path),
                f" ({suppressed} more not logged)" if suppressed else "",
            )
        return error_response(500, "internal_error", "the server failed to handle this request")
