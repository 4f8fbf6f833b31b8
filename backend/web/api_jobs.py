"""Jobs: submit, list, look at, cancel, retry."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from backend.services.gallery import decode_cursor, encode_cursor
from backend.services.validation import SESSION_RE, build_generation_request
from backend.web.context import int_arg, json_body, studio
from backend.web.errors import ApiError

bp = Blueprint("jobs", __name__, url_prefix="/api/jobs")


@bp.post("")
def submit():
    s = studio()
    req, warnings, session = build_generation_request(json_body(), s.registry, s.settings.default_provider)
    provider = s.registry.get(req.provider)
    s.usage.check(provider.estimate_cost(req) if provider else None)  # ATELIER_MONTHLY_BUDGET_USD
    job = s.jobs.submit(req, warnings, session)
    return jsonify({"job": s.jobs.job_json(job), "warnings": job.warnings}), 202


@bp.get("")
def list_jobs():
    s = studio()
    limit = int_arg("limit", 50, 1, 200)
    cursor = request.args.get("cursor") or None
    session = request.args.get("session") or None
    if session is not None and not SESSION_RE.match(session):
        raise ApiError(422, "validation_error", "session must be 1-64 letters, digits, '-' or '_'", "session")
    jobs = s.jobs.page(limit + 1, decode_cursor(cursor) if cursor else None, session)
    more = len(jobs) > limit
    jobs = jobs[:limit]
    next_cursor = encode_cursor(jobs[-1].created_at, jobs[-1].id) if more and jobs else None
    return jsonify({"items": [s.jobs.job_json(j) for j in jobs], "next_cursor": next_cursor})


@bp.get("/<job_id>")
def get_job(job_id: str):
    s = studio()
    return jsonify({"job": s.jobs.job_json(s.jobs.get(job_id))})


@bp.post("/<job_id>/cancel")
def cancel(job_id: str):
    s = studio()
    job = s.jobs.cancel(job_id)
    # a queued job is cancelled at once; a running one stops at its next step
    return jsonify({"job": s.jobs.job_json(job)}), 200 if job.finished else 202


@bp.post("/<job_id>/retry")
def retry(job_id: str):
    s = studio()
    job = s.jobs.retry(job_id)
    return jsonify({"job": s.jobs.job_json(job), "warnings": job.warnings}), 202
