"""The matrix: one request, a job per combination of the axes' values, one labelled grid."""

from __future__ import annotations

from flask import Blueprint, jsonify

from backend.services.matrix import MatrixNotFound
from backend.services.matrix_plan import MATRIX_REQUEST
from backend.services.schema import Field
from backend.web.context import json_body, principal, studio
from backend.web.errors import ApiError
from backend.web.openapi import Reply, api_route

bp = Blueprint("matrix", __name__, url_prefix="/api/matrix")

MATRIX_ID = Field("matrix_id", "string", "the matrix's id")
TAGS = ("matrix",)
_NEW = {"matrix_id": "$response.body#/matrix/id"}
_LINKS = {"get": ("matrix.get_matrix.get", _NEW)}


@bp.post("")
@api_route(
    "Submit a matrix",
    description=(
        "Every combination of the axes' values is one ordinary job, built by the job validator; the whole "
        "matrix is priced and checked against the budget before any job is queued (402 otherwise)."
    ),
    body=MATRIX_REQUEST,
    responses={
        202: Reply("MatrixSubmitted", "The matrix, its jobs queued", links={"get": ("matrix.get_matrix.get", _NEW)})
    },
    errors=(400, 402, 413, 422, 429, 503),
    tags=TAGS,
)
def submit():
    s = studio()
    matrix = s.matrices.submit(json_body(), principal())
    body = s.matrices.matrix_json(matrix)
    return jsonify({"matrix": body, "estimate": body["estimate"], "warnings": body["warnings"]}), 202


@bp.get("/<matrix_id>")
@api_route(
    "One matrix: its cells' jobs and images, and its grid image",
    path=(MATRIX_ID,),
    responses={200: "MatrixEnvelope"},
    errors=(404,),
    tags=TAGS,
)
def get_matrix(matrix_id: str):
    s = studio()
    try:
        matrix = s.matrices.get(matrix_id, principal())
    except MatrixNotFound:
        raise ApiError(404, "not_found", "no matrix with this id", "matrix_id") from None
    return jsonify({"matrix": s.matrices.matrix_json(matrix)})
