"""Prompt enhancement (issue 15): ``POST /api/prompts/enhance`` rewrites a prompt with the
text model the owner configures (OpenAI chat, Gemini, any OpenAI-compatible server), and
a job that uses the rewrite records the original beside it.

The real server against local fakes speaking the real wire formats (tests/fakes/chat_api.py).
Hostile answers (not JSON, no text, empty, 100 KB, 1 MB, a hang) become ``bad_response`` or
``timeout`` answered 502 or 504 and nothing else breaks; the key never appears in an
answer or the log; enhancement off answers 503 saying how to turn it on. The settings and
the answer cleaning are tested in process.
"""

from __future__ import annotations

import threading
import time

import pytest

from backend.enhancer_config import load_enhancer_settings
from backend.env_values import SettingsError
from backend.services.enhancers.base import clean_text
from backend.services.validation import MAX_PROMPT_CHARS
from tests.fakes.chat_api import SUFFIX, FakeGeminiText, FakeOpenAIChat
from tests.support.cloud import FAST_SETTINGS

OPENAI_KEY = "sk-LEAKCANARY-enhance-openai-0a1b2c"
GEMINI_KEY = "AIzaLEAKCANARY-enhance-gemini-3d4e5f"
#: short enough that the hang test is quick, long enough for a loaded CI box
TIMEOUT = {"ATELIER_ENHANCER_TIMEOUT_SECONDS": "3", "ATELIER_ENHANCER_RETRY_ATTEMPTS": "1"}
BASE_ENV = {**FAST_SETTINGS, "OPENAI_API_KEY": "", "GEMINI_API_KEY": "", "GOOGLE_API_KEY": "", **TIMEOUT}


@pytest.fixture
def openai_fake():
    with FakeOpenAIChat(key=OPENAI_KEY) as fake:
        yield fake


@pytest.fixture
def gemini_fake():
    with FakeGeminiText(key=GEMINI_KEY) as fake:
        yield fake


def start(make_server, **env: str):
    return make_server(**{**BASE_ENV, **env})


def enhance(srv, prompt="a lighthouse", **extra):
    return srv.post("/api/prompts/enhance", json={"prompt": prompt, **extra})


def assert_no_key(srv, *texts: str) -> None:
    for text in (*texts, srv.output()):
        assert "LEAKCANARY" not in text


# --- each kind works -------------------------------------------------------------------
def test_openai_rewrites_and_answers_before_and_after(make_server, openai_fake):
    srv = start(
        make_server, ATELIER_ENHANCER="openai", OPENAI_API_KEY=OPENAI_KEY, OPENAI_BASE_URL=openai_fake.url + "/v1"
    )
    r = enhance(srv, "a lighthouse", style="watercolor")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "original": "a lighthouse",
        "enhanced": "a lighthouse" + SUFFIX,
        "enhancer": {"kind": "openai", "model": "gpt-4o-mini"},
    }
    sent = openai_fake.requests_to("/chat/completions")[-1]
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    body = sent.json()
    assert body["model"] == "gpt-4o-mini"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][1]["content"] == "a lighthouse"
    assert "watercolor" in body["messages"][0]["content"]
    assert_no_key(srv, r.text)


def test_gemini_rewrites_with_generate_content(make_server, gemini_fake):
    srv = start(
        make_server,
        ATELIER_ENHANCER="gemini",
        ATELIER_ENHANCER_MODEL="gemini-2.0-flash",
        GEMINI_API_KEY=GEMINI_KEY,
        GEMINI_BASE_URL=gemini_fake.url,
    )
    r = enhance(srv, "a fox in snow")
    assert r.status_code == 200, r.text
    assert r.json()["enhanced"] == "a fox in snow" + SUFFIX
    assert r.json()["enhancer"] == {"kind": "gemini", "model": "gemini-2.0-flash"}
    sent = gemini_fake.requests_to("generateContent")[-1]
    assert sent.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == GEMINI_KEY and "key" not in sent.query
    # Gemini's errors: a wrong key (echoed by the API), quota, a block, overloaded
    gemini_fake.key = "another-key"
    r = enhance(srv)
    assert r.status_code == 502 and r.json()["error"]["code"] == "auth", r.text
    gemini_fake.key = GEMINI_KEY
    for behaviour, status, code in (
        ("quota", 502, "quota"),
        ("blocked", 502, "moderation_blocked"),
        ("no_text", 502, "bad_response"),
        ("not_json", 502, "bad_response"),
    ):
        gemini_fake.script("chat", behaviour)
        r = enhance(srv)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (behaviour, r.text)
    gemini_fake.script("chat", "rate_limited")  # retried after the delay the API asks for
    assert enhance(srv).status_code == 200
    assert_no_key(srv, r.text)


def test_an_openai_compatible_server_without_a_key(make_server):
    with FakeOpenAIChat(key="") as local:  # Ollama and llama.cpp take no key
        srv = start(
            make_server,
            ATELIER_ENHANCER="openai-compatible",
            ATELIER_ENHANCER_BASE_URL=local.url + "/v1/",
            ATELIER_ENHANCER_MODEL="llama3.2:3b",
        )
        r = enhance(srv, "a quiet harbour")
        assert r.status_code == 200, r.text
        assert r.json()["enhancer"] == {"kind": "openai-compatible", "model": "llama3.2:3b"}
        sent = local.requests_to("/v1/chat/completions")[-1]
        assert "authorization" not in sent.headers and sent.json()["model"] == "llama3.2:3b"


def test_a_compatible_server_with_its_own_key_never_sees_it_leak(make_server):
    key = "sk-LEAKCANARY-enhance-local-9z8y7x"
    with FakeOpenAIChat(key=key) as local:
        srv = start(
            make_server,
            ATELIER_ENHANCER="openai-compatible",
            ATELIER_ENHANCER_BASE_URL=local.url + "/v1",
            ATELIER_ENHANCER_MODEL="qwen2.5",
            ATELIER_ENHANCER_API_KEY=key,
            OPENAI_API_KEY=OPENAI_KEY,  # not used: the enhancer's own key wins
        )
        assert enhance(srv).status_code == 200
        assert local.requests_to("/chat/completions")[-1].headers["authorization"] == f"Bearer {key}"
        local.key = "sk-another"  # the server answers 401 echoing the key it got
        r = enhance(srv)
        assert r.status_code == 502 and r.json()["error"]["code"] == "auth", r.text
        assert "ATELIER_ENHANCER_API_KEY" in r.json()["error"]["message"]
        assert_no_key(srv, r.text)


# --- hostile answers, errors, the key ---------------------------------------------------
def test_hostile_answers_and_errors_are_mapped_and_nothing_else_breaks(make_server, openai_fake):
    srv = start(
        make_server, ATELIER_ENHANCER="openai", OPENAI_API_KEY=OPENAI_KEY, OPENAI_BASE_URL=openai_fake.url + "/v1"
    )
    texts = []
    for behaviour, code in (
        ("not_json", "bad_response"),
        ("html", "bad_response"),
        ("no_text", "bad_response"),
        ("empty", "bad_response"),
        ("huge", "bad_response"),  # 100 KB of text: over the prompt limit
        ("giant", "bad_response"),  # a 1 MB body: not read past the cap
        ("blocked", "moderation_blocked"),
        ("quota", "quota"),
    ):
        openai_fake.script("chat", behaviour)
        r = enhance(srv)
        assert r.status_code == 502, (behaviour, r.text)
        error = r.json()["error"]
        assert error["code"] == code and error["message"].startswith("the prompt was not enhanced"), behaviour
        assert len(r.content) < 2000  # nothing of the hostile body is echoed
        texts.append(r.text)
    # transient failures are retried (ATELIER_ENHANCER_RETRY_ATTEMPTS=1), then given up
    openai_fake.script("chat", "server_error", "server_error")
    r = enhance(srv)
    assert r.status_code == 502 and r.json()["error"]["code"] == "provider_unavailable", r.text
    assert "gave up after 2 attempts" in r.json()["error"]["message"]
    openai_fake.script("chat", "rate_limited")
    assert enhance(srv).status_code == 200
    # quotes around the answer are taken off
    openai_fake.script("chat", "quoted")
    assert enhance(srv, "a bridge").json()["enhanced"] == "a bridge" + SUFFIX
    # a wrong key: OpenAI echoes the key it got; the answer and the log never do
    openai_fake.key = "sk-other"
    r = enhance(srv)
    assert r.status_code == 502 and r.json()["error"]["code"] == "auth", r.text
    assert "OPENAI_API_KEY" in r.json()["error"]["message"]
    texts.append(r.text)
    openai_fake.key = OPENAI_KEY
    # the server is fine: the next call works and jobs run
    assert enhance(srv).status_code == 200
    assert srv.wait_job(srv.submit(prompt="still fine", provider="instant")["id"])["status"] == "succeeded"
    assert_no_key(srv, *texts)


def test_an_enhancer_that_hangs_is_answered_504_within_the_timeout(make_server, openai_fake):
    srv = start(
        make_server, ATELIER_ENHANCER="openai", OPENAI_API_KEY=OPENAI_KEY, OPENAI_BASE_URL=openai_fake.url + "/v1"
    )
    openai_fake.script("chat", "slow")
    r = enhance(srv)
    assert r.status_code == 504, r.text
    error = r.json()["error"]
    assert error["code"] == "timeout"
    assert "did not answer within 3 s (ATELIER_ENHANCER_TIMEOUT_SECONDS)" in error["message"]
    # not retried: the timeout is also the retry budget, so a hang costs the timeout once
    assert len(openai_fake.requests_to("/chat/completions")) == 1
    assert srv.get("/api/health").status_code == 200
    assert enhance(srv).status_code == 200  # the next call is served


def test_a_hanging_enhancer_holds_nobody_else_up(make_server, openai_fake):
    srv = start(
        make_server,
        ATELIER_ENHANCER="openai",
        OPENAI_API_KEY=OPENAI_KEY,
        OPENAI_BASE_URL=openai_fake.url + "/v1",
        ATELIER_ENHANCER_TIMEOUT_SECONDS="60",
    )
    openai_fake.script("chat", "slow")
    answers = []
    caller = threading.Thread(target=lambda: answers.append(enhance(srv)))
    caller.start()
    deadline = time.monotonic() + 30
    while not openai_fake.requests_to("/chat/completions") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert openai_fake.requests_to("/chat/completions")  # the call is hanging now
    assert srv.get("/api/health").status_code == 200
    job = srv.wait_job(srv.submit(prompt="meanwhile", provider="instant")["id"])
    assert job["status"] == "succeeded"
    openai_fake.release.set()  # the hang ends with an answer of "{}": no choices
    caller.join(30)
    assert answers[0].status_code == 502 and answers[0].json()["error"]["code"] == "bad_response"


# --- off, bad input -----------------------------------------------------------------------
def test_off_answers_503_saying_how_to_turn_it_on_and_bad_input_422(make_server):
    srv = start(make_server)
    r = enhance(srv)
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "enhancer_off" and "ATELIER_ENHANCER" in r.json()["error"]["message"]
    for body, field in (
        ({}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": "x" * (MAX_PROMPT_CHARS + 1)}, "prompt"),
        ({"prompt": "a cat", "style": "no-such-style"}, "style"),
        ({"prompt": "a cat", "colour": "red"}, "colour"),
    ):
        r = srv.post("/api/prompts/enhance", json=body)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (body, r.text)
    assert (
        srv.post("/api/prompts/enhance", data="nope", headers={"Content-Type": "application/json"}).status_code == 400
    )


def test_a_missing_key_answers_503_naming_it(make_server, openai_fake):
    srv = start(make_server, ATELIER_ENHANCER="openai", OPENAI_BASE_URL=openai_fake.url + "/v1")
    r = enhance(srv)
    assert r.status_code == 503 and "OPENAI_API_KEY" in r.json()["error"]["message"], r.text
    assert not openai_fake.requests


# --- the image records both prompts -------------------------------------------------------
def test_a_job_records_the_original_prompt_beside_the_one_used(make_server):
    srv = start(make_server)
    job = srv.wait_job(
        srv.submit(prompt="a lighthouse" + SUFFIX, original_prompt="a lighthouse", provider="instant", seed=3)["id"]
    )
    assert job["status"] == "succeeded", job.get("error")
    assert job["request"]["prompt"] == "a lighthouse" + SUFFIX
    assert job["request"]["original_prompt"] == "a lighthouse"
    detail = srv.get(f"/api/images/{job['images'][0]['id']}").json()
    assert detail["parameters"]["prompt"] == "a lighthouse" + SUFFIX  # the A1111 text: the prompt used
    assert detail["metadata"]["request"]["original_prompt"] == "a lighthouse"
    plain = srv.wait_job(srv.submit(prompt="a plain boat", provider="instant")["id"])
    assert "original_prompt" not in plain["request"]
    for value in ("x" * (MAX_PROMPT_CHARS + 1), 7, ["a"]):
        r = srv.post("/api/jobs", json={"prompt": "a cat", "provider": "instant", "original_prompt": value})
        assert r.status_code == 422 and r.json()["error"]["field"] == "original_prompt", r.text


# --- in process: settings and cleaning ------------------------------------------------------
def test_settings_are_checked_at_start():
    assert not load_enhancer_settings({}).enabled
    openai = load_enhancer_settings({"ATELIER_ENHANCER": "OpenAI"})
    assert (openai.kind, openai.model, openai.base_url) == ("openai", "gpt-4o-mini", "https://api.openai.com/v1")
    gemini = load_enhancer_settings({"ATELIER_ENHANCER": "gemini", "GEMINI_BASE_URL": "http://127.0.0.1:9/"})
    assert gemini.base_url == "http://127.0.0.1:9" and gemini.model == "gemini-2.5-flash"
    for env, named in (
        ({"ATELIER_ENHANCER": "claude"}, "ATELIER_ENHANCER"),
        ({"ATELIER_ENHANCER": "openai-compatible", "ATELIER_ENHANCER_MODEL": "llama3"}, "ATELIER_ENHANCER_BASE_URL"),
        (
            {"ATELIER_ENHANCER": "openai-compatible", "ATELIER_ENHANCER_BASE_URL": "http://h/v1"},
            "ATELIER_ENHANCER_MODEL",
        ),
        ({"ATELIER_ENHANCER": "openai", "ATELIER_ENHANCER_BASE_URL": "ftp://h"}, "ATELIER_ENHANCER_BASE_URL"),
        ({"ATELIER_ENHANCER": "openai", "OPENAI_BASE_URL": "localhost"}, "OPENAI_BASE_URL"),
        ({"ATELIER_ENHANCER": "openai", "ATELIER_ENHANCER_MODEL": "a b\n"}, "ATELIER_ENHANCER_MODEL"),
        ({"ATELIER_ENHANCER_TIMEOUT_SECONDS": "inf"}, "ATELIER_ENHANCER_TIMEOUT_SECONDS"),
        ({"ATELIER_ENHANCER_RETRY_ATTEMPTS": "9"}, "ATELIER_ENHANCER_RETRY_ATTEMPTS"),
    ):
        with pytest.raises(SettingsError, match=named):
            load_enhancer_settings(env)


def test_the_answer_is_cleaned_like_a_prompt():
    assert clean_text('  "a cat"\n', "m", 100) == "a cat"
    assert clean_text("\u201ca cat\u201d", "m", 100) == "a cat"
    assert clean_text("a\x00cat\x1b[31m", "m", 100) == "a cat [31m"
    for bad in ("", ' "" ', "\x00\x01", "x" * 101):
        with pytest.raises(Exception, match="prompt"):
            clean_text(bad, "m", 100)
