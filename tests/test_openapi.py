"""The OpenAPI document at /api/openapi.json: every /api route is in it, it is generated
from the validators' declarations, and schemathesis finds no 5xx and no answer that does
not match it on the live server."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.services.gallery_query import LIMIT
from backend.services.validation import JOB_REQUEST, MAX_IMAGES
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    proc = ServerProcess(tmp_path_factory.mktemp("openapi"), "threading").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def document(srv) -> dict:
    r = srv.get("/api/openapi.json")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    return r.json()


def test_every_api_route_of_the_server_is_in_the_document(tmp_path, monkeypatch):
    """Enumerates the app's url_map: a route added under /api without @api_route fails here."""
    from backend.app import create_app
    from backend.web.openapi import build_document, openapi_path

    for name, value in ServerProcess(tmp_path, "threading").env().items():
        if name.startswith("ATELIER_"):
            monkeypatch.setenv(name, value)
    app, _ = create_app()
    document = build_document(app, app.extensions["atelier"])
    assert "x-undeclared" not in document, f"declare these with @api_route: {document['x-undeclared']}"
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        operations = document["paths"].get(openapi_path(rule.rule), {})
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in operations, f"{method} {rule.rule} missing from the OpenAPI document"


def test_the_document_is_openapi_3_1_with_every_answer_described(document):
    assert document["openapi"] == "3.1.0"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["summary"] and operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                assert response["description"], (method, path, status)
                if status.startswith("4") and status != "414":
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    refs = {m for m in _refs(document)}
    assert refs <= set(document["components"]["schemas"]), refs - set(document["components"]["schemas"])


def _refs(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"].rsplit("/", 1)[-1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_bounds_come_from_the_declarations_the_validators_use(srv, document):
    body = copy.deepcopy(document["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"])
    # the running studio's values: the test providers are registered there
    assert "instant" in body["properties"]["provider"]["enum"]
    assert "none" in body["properties"]["style"]["enum"]
    declared = JOB_REQUEST.json_schema()
    for props in (body["properties"], declared["properties"]):
        for prop in props.values():
            prop.pop("enum", None)  # the running studio's values, checked below
    assert body == declared
    assert body["properties"]["n"]["maximum"] == MAX_IMAGES and body["additionalProperties"] is False
    assert body["required"] == ["prompt"]
    limit = {p["name"]: p for p in document["paths"]["/api/images"]["get"]["parameters"]}["limit"]
    assert limit["schema"]["maximum"] == LIMIT.maximum
    # ...and the server refuses just past them, naming the field
    r = srv.post("/api/jobs", json={"prompt": "ok", "n": MAX_IMAGES + 1})
    assert r.status_code == 422 and r.json()["error"]["field"] == "n"
    r = srv.get(f"/api/images?limit={LIMIT.maximum + 1}")
    assert r.status_code == 422 and r.json()["error"]["field"] == "limit"


def test_plain_page_links_the_document(srv):
    import backend.web.pages as pages

    if (pages.SPA_DIST / "index.html").is_file():
        pytest.skip("the SPA is built; the plain page is not served")
    assert 'href="/api/openapi.json"' in srv.get("/").text


# --- schemathesis against the live server -------------------------------------------------
# Jobs are submitted only to providers that finish at once or refuse (a fuzzed job on the
# procedural renderer costs a real render, and "gated" ones would wait for ever); every
# other value of every operation is fuzzed as the document allows.
FUZZED_PROVIDERS = ["instant", "broken", "garbage", "refusing", "keyless", "nope-not-a-provider"]
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_schemathesis_finds_no_server_error_and_no_answer_off_the_document(srv, document, tmp_path):
    schema = json.loads(json.dumps(document))
    job_body = schema["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    job_body["properties"]["provider"]["enum"] = FUZZED_PROVIDERS
    job_body["required"] = ["prompt", "provider"]
    job_body["properties"]["n"]["maximum"] = 3
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(schema))
    st = Path(sys.executable).with_name("st")
    command = [
        str(st),
        "--no-color",
        "run",
        str(path),
        "--url",
        srv.url,
        "--checks",
        CHECKS,
        "--max-examples",
        os.environ.get("ATELIER_FUZZ_EXAMPLES", "30"),
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--seed",
        os.environ.get("ATELIER_FUZZ_SEED", "20261121"),
        # one worker: hypothesis' lambda descriptions race on ast.parse across threads (CPython 3.11)
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--suppress-health-check",
        "all",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:] + srv.output()[-5000:]
