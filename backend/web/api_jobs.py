"""Jobs: submit, list, look at, cancel, retry."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from backend.services.gallery import decode_cursor, encode_cursor
from backend.services.gallery_query import CURSOR, SELECTION_BY_NAME
from backend.services.generations import submit_generation
from backend.services.prompt_history import record_prompt
from backend.services.schema import Field
from backend.services.validation import JOB_REQUEST, build_generation_request, job_priority
from backend.web.context import int_arg, json_body, principal, studio
from backend.web.openapi import Reply, api_route

bp = Blueprint("jobs", __name__, url_prefix="/api/jobs")

JOB_ID = Field("job_id", "string", "the job's id")
SESSION = SELECTION_BY_NAME["session"]
#: jobs carry their images and requests: pages stay at 200 (the image listing goes to 1000)
LIMIT = Field("limit", "integer", "items per page", default=50, minimum=1, maximum=200)
TAGS = ("jobs",)
_NEW_JOB = {"job_id": "$response.body#/job/id"}
#: the answer with a job in it, linked to what can be done with that job next
JOB_LINKS = {
    "get": ("jobs.get_job.get", _NEW_JOB),
    "cancel": ("jobs.cancel.post", _NEW_JOB),
    "retry": ("jobs.retry.post", _NEW_JOB),
}


@bp.post("")
@api_route(
    "Submit a generation job",
    body=JOB_REQUEST,
    responses={202: Reply("JobSubmitted", "The job, queued", links=JOB_LINKS)},
    errors=(400, 402, 413, 422, 429, 503),
    tags=TAGS,
)
def submit():
    s = studio()
    body = json_body()
    req, warnings, session = build_generation_request(body, s.registry, s.settings.default_provider, s.wildcards)
    job = submit_generation(s.jobs, s.usage, req, warnings, session, priority=job_priority(body), principal=principal())
    record_prompt(s.prompts, req, job.created_at, principal().owner)
    return jsonify({"job": s.jobs.job_json(job), "warnings": job.warnings}), 202


@bp.get("")
@api_route("Jobs, newest first", query=(LIMIT, CURSOR, SESSION), responses={200: "JobPage"}, errors=(422,), tags=TAGS)
def list_jobs():
    s = studio()
    limit = int_arg(LIMIT)
    cursor = request.args.get("cursor") or None
    session = SESSION.check_bounds(request.args.get("session") or None)
    jobs = s.jobs.page(limit + 1, decode_cursor(cursor) if cursor else None, session, principal())
    more = len(jobs) > limit
    jobs = jobs[:limit]
    next_cursor = encode_cursor(jobs[-1].created_at, jobs[-1].id) if more and jobs else None
    return jsonify({"items": [s.jobs.job_json(j) for j in jobs], "next_cursor": next_cursor})


@bp.get("/<job_id>")
@api_route("One job", path=(JOB_ID,), responses={200: "JobEnvelope"}, errors=(404,), tags=TAGS)
def get_job(job_id: str):
    s = studio()
    return jsonify({"job": s.jobs.job_json(s.jobs.get_for(job_id, principal()))})


@bp.post("/<job_id>/cancel")
@api_route(
    "Cancel a job",
    description="A queued job is cancelled at once (200); a running one stops at its next step (202).",
    path=(JOB_ID,),
    responses={200: "JobEnvelope", 202: "JobEnvelope"},
    errors=(404, 409, 503),
    tags=TAGS,
)
def cancel(job_id: str):
    s = studio()
    s.jobs.get_for(job_id, principal())  # another's job is not found
    job = s.jobs.cancel(job_id)
    # a queued job is cancelled at once; a running one stops at its next step
    return jsonify({"job": s.jobs.job_json(job)}), 200 if job.finished else 202


@bp.post("/<job_id>/retry")
@api_route(
    "Retry a failed, cancelled or interrupted job",
    path=(JOB_ID,),
    responses={202: "JobSubmitted"},
    errors=(402, 404, 409, 422, 429, 503),
    tags=TAGS,
)
def retry(job_id: str):
    s = studio()
    caller = principal()
    original = s.jobs.get_for(job_id, caller)  # another's job is not found
    with s.usage.admitting:
        if original.status in ("failed", "cancelled", "interrupted"):
            s.usage.admit(original.cost_usd, caller)  # a retry is a paid job like any other
        job = s.jobs.retry(job_id, caller.key_id)
    return jsonify({"job": s.jobs.job_json(job), "warnings": job.warnings}), 202
