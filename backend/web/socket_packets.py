"""Socket.IO packets from outside: decoded with bounded numbers, and a malformed one is
dropped with one log line (rate-limited), not a traceback.

python-socketio logs a traceback for every packet it cannot decode or dispatch, so any
client could fill the log; and its JSON decoder refuses an integer over 100 digits by
failing the whole packet, so the call could never be acknowledged. Here a long integer
decodes to :data:`TOO_LARGE`, which the handlers' argument parsing refuses by name.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import socketio

from backend.web.errors import LogBudget, one_line

log = logging.getLogger(__name__)

#: digits kept as an int; 2**64 has 20. Longer ones are not numbers anyone means, and
#: int() of a long digit string costs time quadratic in its length.
MAX_INT_DIGITS = 24


class TooLarge:
    """An integer literal too long to be a meaningful value."""

    def __repr__(self) -> str:
        return "<integer too large>"


TOO_LARGE = TooLarge()


def _bounded_int(text: str) -> int | TooLarge:
    return TOO_LARGE if len(text.lstrip("-")) > MAX_INT_DIGITS else int(text)


class BoundedJSON:
    """The JSON module Socket.IO and Engine.IO decode packets with (``dumps`` and ``loads``)."""

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_int", _bounded_int)
        return json.loads(text, **kwargs)

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        return json.dumps(obj, **kwargs)


class MalformedPacket(ValueError):
    pass


class OneLineTracebacks(logging.Filter):
    """On python-engineio's and python-socketio's loggers: what they log with a traceback
    ("post request handler error", "Unknown receive error", …) is a client's bad packet
    reaching a library path, so it becomes one line, at most twenty a minute."""

    def __init__(self) -> None:
        super().__init__()
        self.budget = LogBudget(lines=20, per_seconds=60)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info:
            return True
        suppressed = self.budget.take()
        if suppressed is None:
            return False
        exc = record.exc_info[1]
        message = record.getMessage()
        record.msg = "%s: %s: %s%s"
        record.args = (
            one_line(message),
            type(exc).__name__,
            one_line(exc),
            f" ({suppressed} more not logged)" if suppressed else "",
        )
        record.exc_info, record.exc_text = None, None
        return True


def _one_line_library_logs() -> None:
    for name in ("engineio.server", "socketio.server"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLineTracebacks) for f in logger.filters):
            logger.addFilter(OneLineTracebacks())


def install_packet_guard(server: socketio.Server) -> None:
    """Wraps python-socketio's packet dispatch (its ``_handle_eio_message`` and
    ``_handle_event``, the only way in) so a packet it cannot handle costs one line."""
    handle_message = server._handle_eio_message
    handle_event = server._handle_event
    budget = LogBudget(lines=20, per_seconds=60)

    def checked_event(eio_sid: str, namespace: str | None, id: int | None, data: Any) -> Any:
        # python-socketio indexes and hashes data[0] unchecked
        if not (isinstance(data, list) and data and isinstance(data[0], str)):
            raise MalformedPacket("an event must be a list that starts with the event's name")
        return handle_event(eio_sid, namespace, id, data)

    def guarded_message(eio_sid: str, data: Any) -> None:
        try:
            handle_message(eio_sid, data)
        except Exception as exc:
            suppressed = budget.take()
            if suppressed is None:
                return
            environ = server.environ.get(eio_sid) or {}
            log.warning(
                "dropped a malformed Socket.IO packet from %s: %s: %s%s",
                one_line(environ.get("REMOTE_ADDR", "?"), 64),
                type(exc).__name__,
                one_line(exc),
                f" ({suppressed} more not logged)" if suppressed else "",
            )

    server._handle_event = checked_event  # type: ignore[method-assign]
    server.eio.on("message", guarded_message)
    _one_line_library_logs()
