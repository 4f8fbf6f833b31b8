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
from tests.fakes.chat_api import FakeOpenAIChat
from tests.support.server import ServerProcess
from tests.support.tools import gradient, import_image, run_tool


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    # prompt enhancement on, against a local text model that always answers (else every
    # fuzzed POST /api/prompts/enhance is the documented 503 "off", a 5xx to the fuzzer)
    with FakeOpenAIChat(key="") as text_model:
        proc = ServerProcess(
            tmp_path_factory.mktemp("openapi"),
            "threading",
            ATELIER_ENHANCER="openai-compatible",
            ATELIER_ENHANCER_BASE_URL=text_model.url + "/v1",
            ATELIER_ENHANCER_MODEL="fake-text",
        ).start()
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


def test_plain_page_links_the_document(make_server, tmp_path):
    """Without a built SPA (ATELIER_SPA_DIR empty) the plain page at / links the API document."""
    (tmp_path / "no-spa").mkdir()
    srv = make_server("eventlet", ATELIER_SPA_DIR=str(tmp_path / "no-spa"))
    assert 'href="/api/openapi.json"' in srv.get("/").text


def _validator(document: dict, path: str, method: str, status: int, media: str = "application/json"):
    """A JSON Schema validator of one documented answer, with the document's components."""
    from jsonschema_rs import Draft202012Validator  # what schemathesis checks answers with

    schema = document["paths"][path][method]["responses"][str(status)]["content"][media]["schema"]
    return Draft202012Validator({**schema, "components": document["components"]})


def _assert_documented(document: dict, path: str, method: str, response) -> None:
    assert str(response.status_code) in document["paths"][path][method]["responses"], (path, response.status_code)
    errors = list(_validator(document, path, method, response.status_code).iter_errors(response.json()))
    assert not errors, (path, response.status_code, [e.message for e in errors[:5]])


def test_tool_answers_match_their_documented_shapes(srv, document):
    """The fuzzing seldom makes a tool job that succeeds; these are the answers with content."""
    source = import_image(srv, gradient((64, 48)))
    for path in ("/api/edit/operations", "/api/social/formats", "/api/templates", "/api/usage?group_by=kind"):
        _assert_documented(document, path.split("?")[0], "get", srv.get(path))
    for body in (
        {"kind": "upscale", "image_id": source["id"], "scale": 4},
        {"kind": "social", "image_id": source["id"], "targets": ["x/post"]},
        {"prompt": "a cat", "provider": "instant", "n": 2},
        {"kind": "edit", "operation": "general", "prompt": "x", "image_id": source["id"]},
    ):
        _assert_documented(document, "/api/estimate", "post", srv.post("/api/estimate", json=body))
    jobs = [
        run_tool(srv, "/api/upscale", image_id=source["id"], mode="auto", target_width=100),
        run_tool(
            srv, "/api/social", image_id=source["id"], targets=["x/post", {"platform": "instagram", "format": "story"}]
        ),
    ]
    for job in jobs:
        assert job["status"] == "succeeded", job
        _assert_documented(document, "/api/jobs/{job_id}", "get", srv.get(f"/api/jobs/{job['id']}"))
    r = srv.get(
        "/api/social/preview",
        params={"image_id": source["id"], "platform": "x", "format": "post", "crop": "fit", "fill": "solid",
                "fill_color": "#102030"},
    )  # fmt: skip
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/jpeg"
    assert "image/jpeg" in document["paths"]["/api/social/preview"]["get"]["responses"]["200"]["content"]
    for bad in ({"scale": 3}, {"mode": "turbo"}, {"mode": "auto", "target_width": 0}):
        r = srv.post("/api/upscale", json={"image_id": source["id"], **bad})
        assert r.status_code == 422
        _assert_documented(document, "/api/upscale", "post", r)


def test_tool_bounds_in_the_document_are_the_validators(document):
    from backend.services.tools.edit import EDIT_REQUEST, MAX_EDIT_IMAGES
    from backend.services.tools.social import MAX_TARGETS, SOCIAL_REQUEST
    from backend.services.tools.upscale import UPSCALE_REQUEST

    def body(path):
        return document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]

    for path, shape in (
        ("/api/edit", EDIT_REQUEST),
        ("/api/upscale", UPSCALE_REQUEST),
        ("/api/social", SOCIAL_REQUEST),
    ):
        served = body(path)
        assert set(served["properties"]) == shape.names and served["additionalProperties"] is False
    assert body("/api/edit")["properties"]["n"]["maximum"] == MAX_EDIT_IMAGES
    assert body("/api/social")["properties"]["targets"]["maxItems"] == MAX_TARGETS
    assert body("/api/upscale")["properties"]["scale"]["enum"] == [2, 4, None]
    kinds = [v["properties"]["kind"]["enum"] for v in body("/api/estimate")["anyOf"]]
    assert kinds == [["generate"], ["edit"], ["upscale"], ["social"]]


def test_the_token_is_declared_and_required_only_when_set(document, tmp_path):
    assert document["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
    assert {} in document["security"], "no ATELIER_TOKEN: anonymous access is documented"
    guarded = ServerProcess(tmp_path, "threading", ATELIER_TOKEN="s3cret-token-for-tests").start()
    try:
        r = guarded.get("/api/templates")
        assert r.status_code == 401
        auth = {"Authorization": "Bearer s3cret-token-for-tests"}
        doc = guarded.get("/api/openapi.json", headers=auth).json()
    finally:
        guarded.stop()
    assert {} not in doc["security"]
    _assert_documented(doc, "/api/templates", "get", r)
    for item in doc["paths"].values():
        for operation in item.values():
            assert "401" in operation["responses"] and "403" in operation["responses"]


# --- schemathesis against the live server -------------------------------------------------
# Jobs are submitted only to providers that finish at once or refuse (a fuzzed job on the
# procedural renderer costs a real render, and "gated" ones would wait for ever); every
# other value of every operation is fuzzed as the document allows. Tool jobs work on one
# small seeded image (or an id that does not exist) and cut at most 3 social formats, so
# each one that is accepted is a few milliseconds of local work.
FUZZED_PROVIDERS = ["instant", "broken", "garbage", "refusing", "keyless", "nope-not-a-provider"]
TOOL_ROUTES = ("/api/edit", "/api/upscale", "/api/social")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def _narrow_tool_body(body: dict, image_ids: list[str]) -> None:
    # always an image_id (else every body is a 422 for want of a source); the seeded one or an unknown one
    body["properties"]["image_id"] = {"type": "string", "enum": image_ids}
    body["required"] = [*body.get("required", []), "image_id"]
    if "targets" in body["properties"]:
        body["properties"]["targets"]["maxItems"] = 3


def test_schemathesis_finds_no_server_error_and_no_answer_off_the_document(srv, document, tmp_path):
    seeded = import_image(srv, gradient((64, 48)), "fuzz-source.png")
    image_ids = [seeded["id"], "0" * 32]
    schema = json.loads(json.dumps(document))
    job_body = schema["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    job_body["properties"]["provider"]["enum"] = FUZZED_PROVIDERS
    job_body["required"] = ["prompt", "provider"]
    job_body["properties"]["n"]["maximum"] = 3
    for route in TOOL_ROUTES:
        _narrow_tool_body(
            schema["paths"][route]["post"]["requestBody"]["content"]["application/json"]["schema"], image_ids
        )
    estimate = schema["paths"]["/api/estimate"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    for variant in estimate["anyOf"]:
        if "image_id" in variant["properties"]:
            _narrow_tool_body(variant, image_ids)
        else:
            variant["properties"]["provider"]["enum"] = FUZZED_PROVIDERS
    for parameter in schema["paths"]["/api/social/preview"]["get"]["parameters"]:
        if parameter["name"] == "image_id":
            parameter["schema"]["enum"] = image_ids
    # the first-run route would create the first admin, and accounts on would make every later
    # fuzzed request a 401: it is tested on its own (tests/test_accounts_core.py)
    del schema["paths"]["/api/setup"]
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
