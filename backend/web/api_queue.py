"""Queue control: the queue in order, pause and resume, move a job, cancel every queued job."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from backend.services.schema import ValidationError
from backend.web.api_jobs import JOB_ID
from backend.web.auth import require_admin
from backend.web.context import json_body, no_body, principal, studio
from backend.web.openapi import api_route

bp = Blueprint("queue", __name__, url_prefix="/api")

TAGS = ("queue",)
MOVE_TARGETS = ("front", "back")


class _MoveBody:
    """The body of POST /api/jobs/<id>/move, for the document: ``to`` is a word or a position."""

    def json_schema(self, env: Any = None) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "to": {
                    "description": '"front", "back", or a position in the queue (1 = next to run)',
                    "anyOf": [{"type": "string", "enum": list(MOVE_TARGETS)}, {"type": "integer", "minimum": 1}],
                }
            },
            "required": ["to"],
            "additionalProperties": False,
        }


def parse_move(body: Any) -> int | str:
    """``to`` of a move body: "front", "back" or a whole number (its range is the service's check)."""
    if not isinstance(body, dict):
        raise ValidationError(None, "the request body must be a JSON object")
    unknown = sorted(set(body) - {"to"})
    if unknown:
        raise ValidationError(unknown[0], f"unknown field {unknown[0]!r}")
    to = body.get("to")
    if to in MOVE_TARGETS:
        return to
    if isinstance(to, int) and not isinstance(to, bool):
        return to
    raise ValidationError("to", 'to must be "front", "back" or a position in the queue (a whole number from 1)')


def queue_json() -> dict[str, Any]:
    """The queue; a member sees only their own jobs in it, each at its true position."""
    s, viewer = studio(), principal()
    items = []
    for position, job in enumerate(s.jobs.queued_jobs(), start=1):
        if not viewer.sees(job.owner):
            continue
        data = dict(s.jobs.job_json(job))
        items.append({**data, "job_id": job.id, "position": position})
    return {"paused": s.jobs.paused, "items": items}


def _admin_only() -> None:
    """Pausing and resuming act on everyone's jobs: an admin's (or the studio's) call."""
    require_admin()


@bp.get("/queue")
@api_route("The queued jobs in the order they will run, and whether the queue is paused",
           responses={200: "Queue"}, tags=TAGS)  # fmt: skip
def get_queue():
    return jsonify(queue_json())


@bp.post("/queue/pause")
@api_route(
    "Pause the queue",
    description="Running jobs finish; nothing new starts until resumed. Kept across restarts. "
    "With ATELIER_REDIS_URL the queued jobs are taken back out of the workers' queues.",
    responses={200: "QueuePaused"},
    errors=(403, 503),
    tags=TAGS,
)
def pause():
    no_body()
    _admin_only()
    changed = studio().jobs.set_paused(True)
    return jsonify({"paused": True, "changed": changed})


@bp.post("/queue/resume")
@api_route(
    "Resume the queue",
    description="Queued jobs start again, in queue order. Resuming a queue that runs changes nothing (200).",
    responses={200: "QueuePaused"},
    errors=(403, 503),
    tags=TAGS,
)
def resume():
    no_body()
    _admin_only()
    changed = studio().jobs.set_paused(False)
    return jsonify({"paused": False, "changed": changed})


@bp.post("/queue/cancel")
@api_route("Cancel every queued job", description="Running jobs run on; cancel them one by one.",
           responses={200: "QueueCancelled"}, errors=(503,), tags=TAGS)  # fmt: skip
def cancel_all():
    no_body()
    return jsonify({"cancelled": studio().jobs.cancel_queued(principal())})  # a member: their own


@bp.post("/jobs/<job_id>/move")
@api_route(
    "Move a queued job",
    description="To the front, the back or a position (1 = next to run); it keeps that place. "
    "Only queued jobs move (409 otherwise); a position past the queue's end is a 422.",
    path=(JOB_ID,),
    body=_MoveBody(),
    responses={200: "JobEnvelope"},
    errors=(400, 404, 409, 422, 503),
    tags=("jobs", *TAGS),
)
def move(job_id: str):
    s = studio()
    to = parse_move(json_body())
    s.jobs.get_for(job_id, principal())  # another's job is not found
    job = s.jobs.move(job_id, to)
    return jsonify({"job": s.jobs.job_json(job)})
