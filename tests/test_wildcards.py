"""Wildcard prompts (issue 15): the Dynamic Prompts syntax, resolved per image from its seed.

In-process: the parser and expander (alternatives, nesting, weights, files in folders,
comments, escapes; determinism; every bad template a WildcardError naming its problem;
hypothesis: any text either expands within the bounds or is refused, never anything else).
Real server: POST /api/prompts/expand, a job of several images whose prompts differ (each
image's prompt, its A1111 parameters and its metadata hold the resolved prompt, the
template kept in ``request.prompt_template``, one provider call per image), and the bad
inputs, each a 422 naming the problem that queues nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.providers.base import GenerationRequest
from backend.services.wildcards import (
    MAX_FILE_BYTES,
    MAX_RESULT_CHARS,
    WildcardError,
    WildcardFiles,
    expand,
    expand_many,
    parse,
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "wildcards"
    (root / "people").mkdir(parents=True)
    (root / "colors.txt").write_text("# primary colours\nred\n\nblue\n  green  \n", encoding="utf-8")
    (root / "people" / "job.txt").write_text("painter\nsailor of the __colors__ sea\n", encoding="utf-8")
    (root / "self.txt").write_text("again __self__\n", encoding="utf-8")
    (root / "ping.txt").write_text("__pong__\n", encoding="utf-8")
    (root / "pong.txt").write_text("__ping__\n", encoding="utf-8")
    return root


# --- the expander, in process ------------------------------------------------------------


def test_alternatives_are_picked_from_the_seed_and_the_same_seed_gives_the_same_prompt(folder):
    files = WildcardFiles(folder)
    seen = {expand("a {red|blue|green} cat", seed, files) for seed in range(200)}
    assert seen == {"a red cat", "a blue cat", "a green cat"}
    for seed in (0, 7, 2**32 - 1):
        assert expand("{a|b|c} {d|e} __colors__", seed, files) == expand("{a|b|c} {d|e} __colors__", seed, files)


def test_nested_alternatives_and_empty_options():
    seen = {expand("{x|{y|z}}", seed, None) for seed in range(200)}
    assert seen == {"x", "y", "z"}
    assert {expand("a{| b}", seed, None) for seed in range(100)} == {"a", "a b"}


def test_weights_bias_the_choice_and_weight_zero_is_never_picked():
    picks = [expand("{3::red|blue}", seed, None) for seed in range(2000)]
    assert 0.65 < picks.count("red") / len(picks) < 0.85
    assert {expand("{0::never|always}", seed, None) for seed in range(300)} == {"always"}


def test_several_alternatives_at_once_are_different_and_joined():
    for seed in range(100):
        two = expand("{2$$a|b|c}", seed, None).split(", ")
        assert len(two) == 2 and len(set(two)) == 2 and set(two) <= {"a", "b", "c"}
        some = expand("{1-3$$ and $$x|y|z|w}", seed, None).split(" and ")
        assert 1 <= len(some) <= 3 and len(set(some)) == len(some)
    assert expand("{5$$a|b}", 1, None) in {"a, b", "b, a"}  # no more than there are
    assert {expand("{1-2$$a|b|c}", seed, None).count(",") for seed in range(100)} == {0, 1}


def test_wildcard_files_pick_a_line_ignoring_comments_and_blank_lines_and_folders_nest(folder):
    files = WildcardFiles(folder)
    assert {expand("__colors__", seed, files) for seed in range(200)} == {"red", "blue", "green"}
    jobs = {expand("__people/job__", seed, files) for seed in range(300)}
    assert jobs == {"painter", "sailor of the red sea", "sailor of the blue sea", "sailor of the green sea"}


def test_image_i_uses_seed_plus_i(folder):
    files = WildcardFiles(folder)
    many = expand_many("{a|b|c|d} __colors__", 41, 5, files)
    assert many == [expand("{a|b|c|d} __colors__", 41 + i, files) for i in range(5)]
    assert expand_many("{a|b}", 2**32 - 1, 2, None)[1] == expand("{a|b}", 0, None)  # wraps as seeds do


def test_the_images_of_one_job_choose_independently():
    # consecutive seeds are the images of one job: they must not all make the same choice
    for start in range(0, 50, 5):
        assert len(set(expand_many("{a|b} {c|d|e}", start, 5, None))) > 1


def test_a_request_with_prompts_per_image_travels_as_json_unchanged():
    # the job store, retries and the workers (RQ) carry the request as JSON
    request = GenerationRequest(
        prompt="a red boat",
        styled_prompt="a red boat, oil",
        negative_prompt="",
        provider="offline",
        model="m",
        style="oil",
        aspect_ratio="1:1",
        width=64,
        height=64,
        n=2,
        seed=9,
        prompt_template="a {red|blue} boat",
        per_image=(("a red boat", "a red boat, oil"), ("a blue boat", "a blue boat, oil")),
    )
    assert GenerationRequest.from_json(request.to_json()) == request
    second = request.for_image(1)
    assert (second.prompt, second.styled_prompt, second.n, second.seed) == ("a blue boat", "a blue boat, oil", 1, 10)
    assert second.prompt_template == "a {red|blue} boat" and second.per_image is None


def test_escapes_and_lone_underscores_are_text():
    assert expand(r"a \{literal\} \| b", 1, None) == "a {literal} | b"
    assert expand("snake__case and a|b", 1, None) == "snake__case and a|b"
    markup = "<img onerror=window.__pwned=1><script>window.__pwned=2</script> __ x __"
    assert expand(markup, 1, None) == markup  # only a name between __ and __ is a wildcard
    assert expand(r"A1111 \(escapes\) stay, C:\path {x}", 1, None) == r"A1111 \(escapes\) stay, C:\path x"


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("a {red|blue", "never closed"),
        ("a red|blue}", "closes no"),
        ("{{a|b}", "never closed"),
        ("{0::a|0::b}", "weight 0"),
        ("{3-1$$a|b}", "backwards"),
        ("{" * 30 + "x" + "}" * 30, "deeper than"),
    ],
)
def test_bad_templates_name_their_problem(template, words):
    with pytest.raises(WildcardError, match=words):
        expand(template, 1, None)


def test_bad_wildcards_name_their_problem(folder, tmp_path):
    files = WildcardFiles(folder)
    outside = tmp_path / "secret.txt"
    outside.write_text("the secret\n", encoding="utf-8")
    os.symlink(outside, folder / "leak.txt")
    (folder / "big.txt").write_bytes(b"x\n" * (MAX_FILE_BYTES // 2 + 1))
    (folder / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (folder / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (folder / "empty.txt").write_text("# nothing\n\n", encoding="utf-8")
    cases = {
        "__nowhere__": "unknown wildcard __nowhere__",
        "__../../etc/passwd__": "not a name inside the wildcards folder",
        "__../secret__": "not a name inside the wildcards folder",
        "__/etc/passwd__": "not a name inside the wildcards folder",
        "__leak__": "outside the wildcards folder",
        "__self__": r"recursion: __self__ → __self__",
        "__ping__": r"recursion: __ping__ → __pong__ → __ping__",
        "__big__": "limit is 1 MB",
        "__binary__": "binary",
        "__latin1__": "not UTF-8",
        "__empty__": "no options",
    }
    for template, words in cases.items():
        with pytest.raises(WildcardError, match=words.replace("(", r"\(")):
            expand(template, 3, files)
    with pytest.raises(WildcardError, match="no wildcards folder"):
        expand("__colors__", 1, None)


def test_deep_includes_and_huge_results_are_refused(tmp_path):
    root = tmp_path / "w"
    root.mkdir()
    for i in range(30):
        (root / f"d{i}.txt").write_text(f"__d{i + 1}__\n", encoding="utf-8")
    (root / "d30.txt").write_text("end\n", encoding="utf-8")
    with pytest.raises(WildcardError, match="deeper than"):
        expand("__d0__", 1, WildcardFiles(root))
    (root / "wide.txt").write_text(" ".join(["__long__"] * 50) + "\n", encoding="utf-8")
    (root / "long.txt").write_text("x" * 500 + "\n", encoding="utf-8")
    with pytest.raises(WildcardError, match=f"longer than {MAX_RESULT_CHARS}"):
        expand("__wide__", 1, WildcardFiles(root))


def test_a_changed_file_is_read_again(folder):
    files = WildcardFiles(folder)
    assert expand("__colors__", 1, files) in {"red", "blue", "green"}
    (folder / "colors.txt").write_text("violet\n", encoding="utf-8")
    os.utime(folder / "colors.txt", ns=(1, 1))  # a new mtime whatever the clock's resolution
    assert expand("__colors__", 1, files) == "violet"


TOKENS = [*"ab{}|_\\:2 ", "__colors__", "__self__", "__nowhere__", "{2::", "__"]
TEMPLATE_TEXT = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template=TEMPLATE_TEXT, seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_any_text_expands_within_bounds_or_is_refused_and_is_deterministic(folder, template, seed):
    files = WildcardFiles(folder)
    try:
        first = expand(template, seed, files)
    except WildcardError as exc:
        assert exc.message
        return
    assert len(first) <= MAX_RESULT_CHARS
    assert expand(template, seed, files) == first


@settings(max_examples=200, deadline=None)
@given(template=st.text(max_size=200))
def test_any_unicode_parses_or_is_refused(template):
    try:
        parse(template)
        expand(template, 0, None)
    except WildcardError:
        pass


# --- the real server ---------------------------------------------------------------------


@pytest.fixture
def srv(make_server, folder):
    return make_server("eventlet", ATELIER_WILDCARDS_DIR=str(folder))


def test_expand_previews_the_prompts_of_each_image(srv):
    r = srv.post("/api/prompts/expand", json={"prompt": "a {red|blue|green} __people/job__", "seed": 10, "n": 6})
    assert r.status_code == 200, r.text
    prompts = r.json()["prompts"]
    assert len(prompts) == 6 and all(p.startswith("a ") and "{" not in p and "__" not in p for p in prompts)
    again = srv.post("/api/prompts/expand", json={"prompt": "a {red|blue|green} __people/job__", "seed": 10, "n": 6})
    assert again.json()["prompts"] == prompts
    one = srv.post("/api/prompts/expand", json={"prompt": "a {red|blue|green} __people/job__", "seed": 12})
    assert one.json()["prompts"] == [prompts[2]]


def test_every_image_records_its_resolved_prompt_and_the_template(srv):
    template = "a {red|blue|green|violet|gold|grey} boat, __colors__ sky"
    preview = srv.post("/api/prompts/expand", json={"prompt": template, "seed": 100, "n": 4}).json()["prompts"]
    assert len(set(preview)) > 1  # (seed 100 chosen so that they differ)
    job = srv.wait_job(srv.submit(prompt=template, provider="instant", seed=100, n=4)["id"])
    assert job["status"] == "succeeded", job.get("error")
    assert job["request"]["prompt_template"] == template
    assert [p["prompt"] for p in job["request"]["image_prompts"]] == preview
    by_index = sorted(job["images"], key=lambda i: i["seed"])
    assert [i["prompt"] for i in by_index] == preview
    for i, image in enumerate(by_index):
        detail = srv.get(f"/api/images/{image['id']}").json()
        assert detail["parameters"]["prompt"] == preview[i]  # the A1111 parameters in the file
        assert detail["metadata"]["request"]["prompt_template"] == template
        assert detail["metadata"]["request"]["prompt"] == preview[i]
        assert detail["metadata"]["request"]["n"] == 1  # one provider call per image
        assert detail["metadata"]["seed"] == 100 + i


def test_a_template_that_resolves_the_same_for_every_image_is_one_call(srv):
    job = srv.wait_job(srv.submit(prompt="a {boat}", provider="instant", seed=5, n=2)["id"])
    assert job["status"] == "succeeded"
    assert job["request"]["prompt"] == "a boat" and job["request"]["prompt_template"] == "a {boat}"
    assert "image_prompts" not in job["request"]
    detail = srv.get(f"/api/images/{job['images'][0]['id']}").json()
    assert detail["metadata"]["request"]["n"] == 2 and detail["parameters"]["prompt"] == "a boat"


def test_a_plain_prompt_is_unchanged(srv):
    job = srv.wait_job(srv.submit(prompt="a plain boat", provider="instant", seed=5)["id"])
    assert job["request"]["prompt"] == "a plain boat" and "prompt_template" not in job["request"]


def test_bad_templates_are_422_naming_the_problem_and_queue_nothing(srv, folder):
    (folder / "huge.txt").write_bytes(b"x" * (50 * 1024 * 1024))
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 10)
    cases = {
        "a __nowhere__": "unknown wildcard __nowhere__",
        "a {red|blue": "unbalanced braces",
        "a red}": "unbalanced braces",
        "__../../etc/passwd__": "not a name inside the wildcards folder",
        "__self__": "recursion",
        "__huge__": "is 50.0 MB; the limit is 1 MB",
        "__binary__": "binary",
    }
    before = len(srv.get("/api/jobs?limit=200").json()["items"])
    for template, words in cases.items():
        for path, body in (
            ("/api/jobs", {"prompt": template, "provider": "instant"}),
            ("/api/prompts/expand", {"prompt": template, "seed": 1, "n": 2}),
        ):
            r = srv.post(path, json=body)
            assert r.status_code == 422, (path, template, r.text)
            error = r.json()["error"]
            assert error["field"] == "prompt" and words in error["message"], (template, error)
    assert len(srv.get("/api/jobs?limit=200").json()["items"]) == before
    assert srv.get("/api/prompts").json()["items"] == []  # a refused job is not history


BAD_BODIES = [
    ({"prompt": "x", "n": 101}, "n"),
    ({"prompt": "x", "n": 0}, "n"),
    ({"prompt": "x", "seed": -1}, "seed"),
    ({"prompt": "x", "seed": "1"}, "seed"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": "x" * 4001}, "prompt"),
    ({"seed": 1}, "prompt"),
    ({"prompt": "x", "extra": 1}, "extra"),
]


def test_expand_refuses_bad_bodies_naming_the_field(srv):
    for body, field in BAD_BODIES:
        r = srv.post("/api/prompts/expand", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == field, (body, r.text)


def test_a_job_run_by_a_worker_resolves_each_image_the_same_way(tmp_path, folder):
    # scale-out (ATELIER_REDIS_URL): the request travels to an RQ worker as JSON, which runs
    # the images one call each and sends them back through the studio's internal endpoints
    from tests.support.cluster import Cluster

    cluster = Cluster(tmp_path, ATELIER_WILDCARDS_DIR=str(folder))
    try:
        template = "a {red|blue|green|violet|gold|grey} kite over __colors__ water"
        preview = cluster.b.post("/api/prompts/expand", json={"prompt": template, "seed": 100, "n": 3}).json()
        job = cluster.a.wait_job(cluster.a.submit(prompt=template, provider="instant", seed=100, n=3)["id"])
        assert job["status"] == "succeeded", job.get("error")
        assert [i["prompt"] for i in sorted(job["images"], key=lambda i: i["seed"])] == preview["prompts"]
    finally:
        cluster.close()
