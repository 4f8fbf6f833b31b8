"""Each answer's shape is declared once: the answers the code builds, the OpenAPI document and
the SPA's TypeScript types cannot drift apart.

In process (the app factory and Flask's test client): answers built by the real routes are
checked against the document's schemas with every object closed, so a key the code adds
without declaring it fails here, not only a missing or mistyped one (schemathesis, in
tests/test_openapi.py, checks the open document against the live server)."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from backend.config import load_settings

ROOT = Path(__file__).resolve().parents[1]
GENERATED_TS = ROOT / "frontend" / "src" / "api" / "schema.generated.ts"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from backend.app import create_app

    tmp = tmp_path_factory.mktemp("shapes")
    settings = load_settings(
        {
            "ATELIER_ASYNC_MODE": "threading",
            "ATELIER_GALLERY_DIR": str(tmp / "gallery"),
            "ATELIER_DATA_DIR": str(tmp / "data"),
            "ATELIER_ENV_FILE": str(tmp / "no.env"),
            "ATELIER_PROVIDER_MODULES": "tests.support.providers",
            "ATELIER_TEST_GATE": str(tmp / "gate"),
        }
    )
    app, _ = create_app(settings)
    return app.test_client()


@pytest.fixture(scope="module")
def document(client) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def _closed(node: Any) -> Any:
    """The schema with every object that lists its properties closed to other keys."""
    if isinstance(node, dict):
        out = {key: _closed(value) for key, value in node.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_closed(value) for value in node]
    return node


def _problems(document: dict, path: str, method: str, response) -> list[str]:
    from jsonschema_rs import Draft202012Validator  # what schemathesis checks answers with

    answers = document["paths"][path][method]["responses"]
    assert str(response.status_code) in answers, (method, path, response.status_code, response.get_json())
    schema = answers[str(response.status_code)]["content"]["application/json"]["schema"]
    validator = Draft202012Validator(_closed({**schema, "components": copy.deepcopy(document["components"])}))
    return [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(response.get_json())]


def _finished(client, job_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").get_json()["job"]
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.02)
    raise TimeoutError(f"job {job_id} still {job['status']}")


def test_providers_answer_exactly_their_declared_shape(client, document):
    response = client.get("/api/providers")
    assert response.status_code == 200
    assert {p["id"] for p in response.get_json()["providers"]} >= {"instant", "offline"}
    assert _problems(document, "/api/providers", "get", response) == []


def test_jobs_and_images_answer_exactly_their_declared_shapes(client, document):
    submitted = client.post("/api/jobs", json={"prompt": "a red square", "provider": "instant", "n": 2})
    assert submitted.status_code == 202, submitted.get_json()
    assert _problems(document, "/api/jobs", "post", submitted) == []
    job = _finished(client, submitted.get_json()["job"]["id"])
    assert job["status"] == "succeeded" and len(job["images"]) == 2, job
    for path, method, response in (
        ("/api/jobs/{job_id}", "get", client.get(f"/api/jobs/{job['id']}")),
        ("/api/jobs", "get", client.get("/api/jobs")),
        ("/api/images", "get", client.get("/api/images")),
        ("/api/images/{image_id}", "get", client.get(f"/api/images/{job['images'][0]['id']}")),
        ("/api/health", "get", client.get("/api/health")),
    ):
        assert response.status_code == 200, (path, response.get_json())
        assert _problems(document, path, method, response) == [], path
    image_id = job["images"][1]["id"]
    for path, method, response in (
        ("/api/images/{image_id}", "delete", client.delete(f"/api/images/{image_id}")),
        ("/api/trash", "get", client.get("/api/trash")),
        ("/api/images/{image_id}/restore", "post", client.post(f"/api/images/{image_id}/restore")),
        ("/api/estimate", "post", client.post("/api/estimate", json={"prompt": "x", "provider": "instant"})),
    ):
        assert response.status_code == 200, (path, response.get_json())
        assert _problems(document, path, method, response) == [], path


@pytest.mark.parametrize(
    "path",
    ["/api/styles", "/api/aspect-ratios", "/api/trash", "/api/tools", "/api/edit/operations", "/api/social/formats",
     "/api/templates", "/api/usage"],
)  # fmt: skip
def test_catalogue_answers_are_exactly_their_declared_shapes(client, document, path):
    response = client.get(path)
    assert response.status_code == 200, response.get_json()
    assert _problems(document, path, "get", response) == []


def test_errors_answer_exactly_their_declared_shape(client, document):
    missing = client.get("/api/jobs/" + "0" * 32)
    refused = client.post("/api/jobs", json={"prompt": "x", "n": 10**6})
    assert missing.status_code == 404 and refused.status_code == 422
    assert refused.get_json()["error"]["field"] == "n"
    assert _problems(document, "/api/jobs/{job_id}", "get", missing) == []
    assert _problems(document, "/api/jobs", "post", refused) == []


def test_a_key_the_code_adds_without_declaring_it_is_caught(client, document):
    """The check above can fail: an answer with one undeclared key does not pass it."""

    class Answer:
        status_code = 200

        def __init__(self, body: dict) -> None:
            self.body = body

        def get_json(self) -> dict:
            return self.body

    body = client.get("/api/providers").get_json()
    body["providers"][0]["models"][0]["undeclared"] = True
    assert _problems(document, "/api/providers", "get", Answer(body))


def test_the_checked_in_typescript_types_are_generated_from_the_current_shapes():
    """Regenerate with `python -m backend.web.api_types` after changing a shape."""
    from backend.web.api_types import render

    assert GENERATED_TS.is_file(), "run: python -m backend.web.api_types"
    assert GENERATED_TS.read_text() == render(), "stale: run python -m backend.web.api_types"
