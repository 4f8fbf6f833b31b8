"""The answer of a synchronous client API call (``/v1``, ``/sdapi/v1``): the HTTP call waits
for its job, like the APIs it speaks.

For the first ``ATELIER_CLIENT_API_KEEPALIVE_SECONDS`` the route simply waits, so an answer
carries its real status (an error as the dialect's 4xx/5xx). A job that runs longer gets
its answer started (200) with spaces written every few seconds (JSON allows white space
before a value), so a proxy does not close a silent connection; a job that then fails is
reported in that 200 answer's body, in the dialect's error shape. A write that fails means
the client has gone: its job is cancelled (``ATELIER_CLIENT_API_CANCEL_ON_DISCONNECT``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from flask import Response, stream_with_context

from backend.services.generations import Waiting, abandon, wait_for_job
from backend.storage.job_store import JobRecord
from backend.studio import Studio

#: (status, JSON body) of a finished job, in the dialect's words
Render = Callable[[JobRecord], tuple[int, Any]]
#: seconds between the spaces written while a started answer waits
TICK_SECONDS = 5.0
#: what each tick writes: eventlet's server holds a streamed answer's writes until 4096 bytes
#: are due (its minimum chunk; Flask-SocketIO copies the WSGI environ, so the per-request
#: ``eventlet.minimum_write_chunk_size`` cannot lower it), so a tick is that many spaces
TICK = b" " * 4096


def answer_when_done(s: Studio, job: JobRecord, render: Render) -> Response:
    """Wait for ``job`` and answer with ``render(job)``; see the module's docstring."""
    waiting = wait_for_job(s.jobs, job.id, s.settings.client_api_keepalive_seconds, s.runtime.sleep)
    try:
        first = next(waiting)
    except BaseException:
        _gone(s, job.id)
        raise
    if isinstance(first, JobRecord):
        status, body = render(first)
        return Response(json.dumps(body), status, mimetype="application/json")
    waiting.close()
    # the request context stays with the stream, so ``render`` may build URLs from the request
    return Response(stream_with_context(_stream(s, job, render)), 200, mimetype="application/json")


def _stream(s: Studio, job: JobRecord, render: Render) -> Iterator[bytes]:
    done = False
    try:
        yield TICK
        for tick in wait_for_job(s.jobs, job.id, TICK_SECONDS, s.runtime.sleep):
            if isinstance(tick, Waiting):
                yield TICK
                continue
            done = True
            yield json.dumps(render(tick)[1]).encode()
    finally:
        if not done:  # the write failed or the server closes the answer: the client is gone
            _gone(s, job.id)


def _gone(s: Studio, job_id: str) -> None:
    if s.settings.client_api_cancel_on_disconnect:
        abandon(s.jobs, job_id)
