"""Settings: every value is checked once, at start, and a bad one stops the start with one
line naming the variable and what it allows.

In-process tests of ``load_settings`` (and the providers' own HTTP settings) for every
setting and its bad values; a few subprocess tests that ``python -m backend`` and
``python -m backend.worker`` fail in exactly one line, and that the defaults still start.
"""

from __future__ import annotations

import math
import os
import re
import select
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from backend import config
from backend.config import Settings, SettingsError, load_settings
from backend.providers.http_api import HttpSettings
from tests.support.server import ROOT, ServerProcess


def _env(tmp: Path, **values: str) -> dict[str, str]:
    return {
        "ATELIER_ENV_FILE": str(tmp / "no.env"),
        "ATELIER_GALLERY_DIR": str(tmp / "gallery"),
        "ATELIER_DATA_DIR": str(tmp / "data"),
        **values,
    }


def _load(tmp: Path, **values: str) -> Settings:
    return load_settings(_env(tmp, **values))


NON_FINITE = ("nan", "NaN", "inf", "-inf", "infinity", "1e400")

#: (variable, bad value): each must stop the start
BAD_VALUES: list[tuple[str, str]] = [
    *(("ATELIER_WATCH_INTERVAL_SECONDS", v) for v in (*NON_FINITE, "0", "-1", "1e20", "soon")),
    *(("ATELIER_SOCKET_PING_TIMEOUT_SECONDS", v) for v in (*NON_FINITE, "1e20", "0", "0.5", "-5")),
    *(("ATELIER_TRASH_DAYS", v) for v in (*NON_FINITE, "0", "-1", "1e9")),
    *(("ATELIER_MONTHLY_BUDGET_USD", v) for v in (*NON_FINITE, "-0.01", "1e12", "ten")),
    *(("ATELIER_EVENT_RETENTION_SECONDS", v) for v in (*NON_FINITE, "0", "-1", "1e9")),
    *(("ATELIER_PREVIEWS_PER_SECOND", v) for v in (*NON_FINITE, "0", "-1", "1000")),
    *(("ATELIER_WORKER_HEARTBEAT_SECONDS", v) for v in (*NON_FINITE, "0", "1e6")),
    *(("ATELIER_JOB_TIMEOUT_SECONDS", v) for v in ("nan", "inf", "0", "-1", "1.5", "99999999999")),
    *(("ATELIER_PORT", v) for v in ("-1", "65536", "http", "5000.0", "nan", "５０００")),
    *(("ATELIER_TRASH_DAYS", v) for v in ("３", "٣")),  # digits int() and float() read, a person would not type
    *(("ATELIER_MAX_CONCURRENT_JOBS", v) for v in ("0", "1001", "inf", "2.5")),
    *(("ATELIER_PREVIEW_SIZE", v) for v in ("63", "513", "nan")),
    *(("ATELIER_MAX_UPLOAD_MB", v) for v in ("0", "4097", "inf")),
    *(("ATELIER_PROVIDER_CONCURRENCY", v) for v in ("offline", "offline=0", "offline=-1", "offline=nan", "=2")),
    *(("ATELIER_PROVIDER_CONCURRENCY", v) for v in ("offline=1001", "offline=2,openai=x")),
    *(("ATELIER_RATE_LIMIT", v) for v in ("1/0second", "1/0minutes", "0/minute", "1/fortnight", "many")),
    *(("ATELIER_RATE_LIMIT", v) for v in ("2000000/minute", "1/999999hour", "1/-1second")),
    *(("ATELIER_BASE_PATH", v) for v in ("/..", "/.", "/studio/..", "/../etc", "/a/./b", "studio", "/a b", "/a?b")),
    *(("ATELIER_TRUST_PROXY", v) for v in ("-1", "11", "maybe", "1.5", "²", "١")),
    ("ATELIER_ALLOW_OPEN", "perhaps"),
    # sent in an Authorization header: a browser's fetch throws on a character past U+00FF
    *(("ATELIER_TOKEN", v) for v in ("пароль-studio", "tok\u0000en", "two words")),
    *(("ATELIER_WORKER_SECRET", v) for v in ("секрет", "tab\tsecret")),
    *(("ATELIER_ALLOWED_ORIGINS", v) for v in ("http://[::1", "ftp://x.org", "https://x.org/path", "x.org")),
    ("ATELIER_ALLOWED_ORIGINS", "https://ok.org,http://x.org:99999"),
    *(("ATELIER_SERVER_URL", v) for v in ("studio:5000", "http://", "ftp://studio", "http://h:port")),
    *(
        ("ATELIER_REDIS_URL", v)
        for v in ("http://localhost:6379", "redis://localhost:99999/0", "redis://h:abc", "redis://[::1")
    ),
    *(("ATELIER_ASYNC_MODE", v) for v in ("gevent", "asyncio")),
    *(("ATELIER_LOG_LEVEL", v) for v in ("LOUD", "verbose", "10")),
    *(("ATELIER_PROVIDER_MODULES", v) for v in ("no.such.module", "tests.support.nope", "os..path", "1abc")),
    *(("ATELIER_HOST", v) for v in ("::1", "[::1]", "::", "fe80::1")),  # eventlet (the default) cannot
    *(("ATELIER_HOST", v) for v in ("local host", "http://127.0.0.1", "127.0.0.1:5000", "[::1")),
    *(("ATELIER_HOST", v) for v in ("a..b", "-studio.org", "studio-.org", "a" * 254, "a" * 64 + ".org")),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_a_bad_value_stops_the_start_naming_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        _load(tmp_path, **{name: value})
    message = str(refused.value)
    assert name in message, message
    assert "\n" not in message
    assert "use" in message, f"says what is allowed: {message}"


#: (variable, accepted value, attribute path, parsed value)
GOOD_VALUES: list[tuple[str, str, str, object]] = [
    ("ATELIER_WATCH_INTERVAL_SECONDS", "0.05", "watch_interval_seconds", 0.05),
    ("ATELIER_WATCH_INTERVAL_SECONDS", "3600", "watch_interval_seconds", 3600.0),
    ("ATELIER_SOCKET_PING_TIMEOUT_SECONDS", "1", "socket_ping_timeout", 1.0),
    ("ATELIER_SOCKET_PING_TIMEOUT_SECONDS", "3600", "socket_ping_timeout", 3600.0),
    ("ATELIER_TRASH_DAYS", "0.5", "trash_days", 0.5),
    ("ATELIER_MONTHLY_BUDGET_USD", "0", "monthly_budget_usd", 0.0),
    ("ATELIER_MONTHLY_BUDGET_USD", "12.5", "monthly_budget_usd", 12.5),
    ("ATELIER_MONTHLY_BUDGET_USD", "", "monthly_budget_usd", None),
    ("ATELIER_EVENT_RETENTION_SECONDS", "1", "event_retention_seconds", 1.0),
    ("ATELIER_RATE_LIMIT", "30/minute", "scaleout.rate_limit", (30, 60)),
    ("ATELIER_RATE_LIMIT", "5/10seconds", "scaleout.rate_limit", (5, 10)),
    ("ATELIER_RATE_LIMIT", "1/hour", "scaleout.rate_limit", (1, 3600)),
    ("ATELIER_BASE_PATH", "/studio/v1.2/", "scaleout.base_path", "/studio/v1.2"),
    ("ATELIER_BASE_PATH", "/.well-known", "scaleout.base_path", "/.well-known"),
    ("ATELIER_TOKEN", " s3cret-Token_1.~!$ ", "scaleout.token", "s3cret-Token_1.~!$"),
    ("ATELIER_TRUST_PROXY", "yes", "scaleout.trust_proxy", 1),
    ("ATELIER_TRUST_PROXY", "2", "scaleout.trust_proxy", 2),
    ("ATELIER_ALLOW_OPEN", "off", "scaleout.allow_open", False),
    ("ATELIER_ALLOWED_ORIGINS", "*", "scaleout.allowed_origins", ("*",)),
    ("ATELIER_ALLOWED_ORIGINS", "https://a.org/, http://[::1]:3000", "scaleout.allowed_origins", None),
    ("ATELIER_SERVER_URL", "http://studio:5000/base/", "scaleout.server_url", "http://studio:5000/base"),
    ("ATELIER_WORKER_PROVIDERS", "offline, local,offline", "scaleout.worker_providers", ("offline", "local")),
    ("ATELIER_JOB_TIMEOUT_SECONDS", "600", "scaleout.job_timeout_seconds", 600),
    ("ATELIER_PORT", "0", "port", 0),
    ("ATELIER_PROVIDER_CONCURRENCY", "offline=2, openai=4", "provider_concurrency", {"offline": 2, "openai": 4}),
    ("ATELIER_PROVIDER_MODULES", "tests.support.providers", "provider_modules", ("tests.support.providers",)),
    ("ATELIER_LOG_LEVEL", "debug", "log_level", "DEBUG"),
    ("ATELIER_ASYNC_MODE", "Threading", "async_mode", "threading"),
    ("ATELIER_HOST", "0.0.0.0", "host", "0.0.0.0"),
    ("ATELIER_HOST", "localhost", "host", "localhost"),
    ("ATELIER_HOST", "studio.example.org", "host", "studio.example.org"),
]


@pytest.mark.parametrize(("name", "value", "attribute", "expected"), GOOD_VALUES)
def test_a_good_value_is_read(tmp_path: Path, name: str, value: str, attribute: str, expected: object) -> None:
    found: object = _load(tmp_path, **{name: value})
    for part in attribute.split("."):
        found = getattr(found, part)
    if expected is None and value:
        assert found  # parsed; the exact form is not the point
    else:
        assert found == expected


def test_defaults_are_within_their_own_bounds(tmp_path: Path) -> None:
    settings = _load(tmp_path)
    assert (settings.host, settings.port, settings.async_mode, settings.log_level) == (
        "127.0.0.1",
        5000,
        "eventlet",
        "INFO",
    )
    assert settings.monthly_budget_usd is None and settings.scaleout.rate_limit is None
    numbers = [
        settings.watch_interval_seconds,
        settings.socket_ping_timeout,
        settings.trash_days,
        settings.event_retention_seconds,
        settings.previews_per_second,
    ]
    assert all(math.isfinite(n) and n > 0 for n in numbers)


def test_eventlet_refuses_ipv6_but_threading_listens_on_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="127.0.0.1.*threading"):
        _load(tmp_path, ATELIER_HOST="::1")
    assert _load(tmp_path, ATELIER_HOST="[::1]", ATELIER_ASYNC_MODE="threading").host == "::1"


@pytest.mark.parametrize(
    ("name", "attribute"), [("ATELIER_DATA_DIR", "data_dir"), ("ATELIER_GALLERY_DIR", "gallery_dir")]
)
def test_a_folder_that_is_a_file_or_under_a_file_is_refused(tmp_path: Path, name: str, attribute: str) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("not a folder")
    for value in (str(a_file), str(a_file / "data")):
        with pytest.raises(SettingsError, match=f"{name}.*is a file.*; use a folder"):
            _load(tmp_path, **{name: value})
    assert not (tmp_path / "data").exists(), "reading settings creates nothing"
    assert getattr(_load(tmp_path, **{name: str(tmp_path / "new" / "f")}), attribute) == tmp_path / "new" / "f"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to any folder")
def test_data_dir_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        for value in (str(locked), str(locked / "data")):
            with pytest.raises(SettingsError, match="ATELIER_DATA_DIR"):
                _load(tmp_path, ATELIER_DATA_DIR=value)
    finally:
        locked.chmod(0o700)


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / "studio.env"
    env_file.write_text(
        "export ATELIER_ASYNC_MODE=threading\nATELIER_SPA_DIR=spa\nATELIER_TRASH_DAYS=7 # a week\nATELIER_PORT=6000\n"
    )
    settings = _load(tmp_path, ATELIER_ENV_FILE=str(env_file), ATELIER_PORT="7000")
    assert settings.async_mode == "threading"
    assert settings.spa_dir == Path("spa").absolute()
    assert settings.trash_days == 7.0
    assert settings.port == 7000
    assert config.early_async_mode({"ATELIER_ENV_FILE": str(env_file)}) == "threading"
    assert config.early_async_mode({"ATELIER_ENV_FILE": str(env_file), "ATELIER_ASYNC_MODE": "Eventlet"}) == "eventlet"
    env_file.write_text("ATELIER_WATCH_INTERVAL_SECONDS=nan\n")
    with pytest.raises(SettingsError, match="ATELIER_WATCH_INTERVAL_SECONDS"):
        _load(tmp_path, ATELIER_ENV_FILE=str(env_file))


def test_an_env_file_that_is_not_utf8_text_is_refused_in_one_line(tmp_path: Path) -> None:
    env_file = tmp_path / "studio.env"
    env_file.write_bytes(b"ATELIER_PORT=\xff\xfe\n")
    with pytest.raises(SettingsError) as refused:
        _load(tmp_path, ATELIER_ENV_FILE=str(env_file))
    message = str(refused.value)
    assert "ATELIER_ENV_FILE" in message and "UTF-8" in message and "\n" not in message


def test_spa_dir_from_the_env_file_is_what_the_studio_serves(tmp_path: Path) -> None:
    from backend.app import create_app

    spa = tmp_path / "my-spa"
    spa.mkdir()
    (spa / "index.html").write_text("<!doctype html><title>my own build</title>")
    env_file = tmp_path / "studio.env"
    env_file.write_text(f"ATELIER_SPA_DIR={spa}\nATELIER_ASYNC_MODE=threading\n")
    app, _ = create_app(_load(tmp_path, ATELIER_ENV_FILE=str(env_file)))
    page = app.test_client().get("/")
    assert page.status_code == 200
    assert b"my own build" in page.data


#: the providers' HTTP settings (read by every cloud provider from Settings.env)
BAD_PROVIDER_VALUES: list[tuple[str, str]] = [
    *(("ATELIER_HTTP_TIMEOUT_SECONDS", v) for v in (*NON_FINITE, "0", "1e9", "soon")),
    *(("ATELIER_HTTP_CONNECT_TIMEOUT_SECONDS", v) for v in ("nan", "inf", "0", "1e9")),
    *(("ATELIER_RETRY_MAX_SECONDS", v) for v in ("nan", "inf", "-1", "1e9")),
    *(("ATELIER_RETRY_ATTEMPTS", v) for v in ("nan", "inf", "-1", "21", "2.5")),
    *(("ATELIER_RETRY_BACKOFF_SECONDS", v) for v in ("nan", "inf", "-1", "1e9")),
    *(("ATELIER_POLL_INTERVAL_SECONDS", v) for v in ("nan", "inf", "0", "1e9")),
    *(("ATELIER_TASK_TIMEOUT_SECONDS", v) for v in ("nan", "inf", "0", "1e9")),
    *(("ATELIER_STATUS_INTERVAL_SECONDS", v) for v in ("nan", "inf", "0.01", "1e9")),
    *(("ATELIER_MAX_DOWNLOAD_MB", v) for v in ("nan", "inf", "0", "1e9")),
]


@pytest.mark.parametrize(("name", "value"), BAD_PROVIDER_VALUES)
def test_a_bad_provider_http_setting_is_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as refused:
        HttpSettings.from_env({name: value})
    assert name in str(refused.value) and "use" in str(refused.value)


def test_provider_http_settings_at_their_bounds() -> None:
    low = HttpSettings.from_env(
        {
            "ATELIER_HTTP_TIMEOUT_SECONDS": "0.001",
            "ATELIER_RETRY_ATTEMPTS": "0",
            "ATELIER_RETRY_BACKOFF_SECONDS": "0",
            "ATELIER_MAX_DOWNLOAD_MB": "1",
        }
    )
    assert (low.read_timeout, low.max_retries, low.backoff_seconds) == (0.001, 0, 0.0)
    assert low.max_download_bytes == 1024 * 1024
    assert HttpSettings.from_env({}) == HttpSettings()


def test_the_studio_keeps_the_budget_of_its_settings_not_a_second_reading_of_the_environment(
    tmp_path: Path,
) -> None:
    """Settings built in code (tests, embedders) carry the budget; ``env`` only holds provider keys."""
    from dataclasses import replace

    from backend.app import create_app

    settings = replace(_load(tmp_path, ATELIER_ASYNC_MODE="threading"), monthly_budget_usd=2.5)
    app, _ = create_app(settings)
    budget = app.test_client().get("/api/usage").get_json()["budget"]
    assert budget["monthly_budget_usd"] == 2.5


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OPENAI_BASE_URL", "localhost:8080/v1"),
        ("STABILITY_BASE_URL", "ftp://api.stability.ai"),
        ("GEMINI_BASE_URL", "https://:443"),
        ("EVOLINK_BASE_URL", "http://api.evolink.ai:99999"),
        ("HF_BASE_URL", "https://[::1"),
    ],
)
def test_a_provider_base_url_that_is_no_http_url_is_refused(name: str, value: str) -> None:
    from backend.providers.registry import ProviderRegistry

    with pytest.raises(SettingsError) as refused:
        ProviderRegistry.discover({name: value}, ())
    message = str(refused.value)
    assert message.startswith(name) and "use http" in message and "\n" not in message
    assert ProviderRegistry.discover({name: "http://127.0.0.1:8080/v1/"}, ()) is not None


@pytest.mark.parametrize("name", ["ATELIER_DIFFUSERS_ALLOW_DOWNLOAD", "ATELIER_DIFFUSERS_CPU_OFFLOAD"])
def test_a_diffusers_flag_that_is_no_yes_or_no_is_refused(name: str) -> None:
    """``perhaps`` was read as off: a user who meant on waits for a download that never starts."""
    from backend.providers.registry import ProviderRegistry

    with pytest.raises(SettingsError, match=f"^{name}=.*use 1 or 0"):
        ProviderRegistry.discover({name: "perhaps"}, ())
    assert ProviderRegistry.discover({name: "Yes"}, ()).get("diffusers") is not None


_ENV_READ = re.compile(r"\bos\.environ\b|\bos\.getenv\b|\bgetenv\(|from os import [^\n]*\benviron\b|\bdotenv\b")


def test_no_module_but_config_reads_the_environment() -> None:
    readers = []
    for path in sorted((ROOT / "backend").rglob("*.py")):
        if path == ROOT / "backend" / "config.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _ENV_READ.search(line):
                readers.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert readers == []


# --- the real start -----------------------------------------------------------------------


def _start(tmp: Path, module: str = "backend", **values: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
    env.update(_env(tmp, ATELIER_PORT="0", **values))
    return subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


START_REFUSALS = [
    ("ATELIER_WATCH_INTERVAL_SECONDS", "nan"),
    ("ATELIER_SOCKET_PING_TIMEOUT_SECONDS", "inf"),
    ("ATELIER_LOG_LEVEL", "LOUD"),
    ("ATELIER_PROVIDER_MODULES", "no.such.module"),
    ("ATELIER_HOST", "::1"),
    ("ATELIER_HTTP_TIMEOUT_SECONDS", "nan"),  # a provider's own setting, read while the app is built
    ("ATELIER_DATA_DIR", "a-file"),
    ("ATELIER_GALLERY_DIR", "a-file"),
    ("ATELIER_ENV_FILE", "not-utf8"),
    ("ATELIER_TRUST_PROXY", "²"),
    ("ATELIER_REDIS_URL", "redis://127.0.0.1:99999/0"),
    # names the studio has no provider for: a typo would leave every job without a provider or fallback
    ("ATELIER_DEFAULT_PROVIDER", "ofline"),
    ("ATELIER_FALLBACK", "offline,opanai"),
    ("ATELIER_PROVIDER_CONCURRENCY", "offline=2,opanai=4"),
    ("OPENAI_BASE_URL", "localhost:8080/v1"),  # no scheme: every job would fail, none would say why
]


@pytest.mark.parametrize(("name", "value"), START_REFUSALS)
def test_python_m_backend_refuses_a_bad_value_in_one_line(tmp_path: Path, name: str, value: str) -> None:
    if value == "a-file":
        value = str(tmp_path / "a-file")
        Path(value).write_text("")
    if value == "not-utf8":
        value = str(tmp_path / "studio.env")
        Path(value).write_bytes(b"ATELIER_TRASH_DAYS=\xff\n")
    result = _start(tmp_path, **{name: value})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("atelier: ") and name in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("name", "value"), [("ATELIER_HTTP_TIMEOUT_SECONDS", "inf"), ("ATELIER_TRASH_DAYS", "inf")])
def test_the_worker_refuses_a_bad_value_in_one_line(tmp_path: Path, name: str, value: str) -> None:
    result = _start(tmp_path, "backend.worker", ATELIER_REDIS_URL="redis://127.0.0.1:1/0", **{name: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("atelier-worker: ") and name in lines[0], result.stderr


def test_the_server_with_default_settings_still_starts(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, "eventlet").start()
    try:
        assert requests.get(f"{server.url}/api/health", timeout=10).status_code == 200
    finally:
        server.stop()


def test_env_example_documents_every_setting_and_loads_as_is(tmp_path: Path) -> None:
    example = ROOT / ".env.example"
    documented = set(re.findall(r"^#? ?(ATELIER_[A-Z_]+)=", example.read_text(encoding="utf-8"), re.MULTILINE))
    readers = ("config.py", "scaleout_config.py", "providers/http_api.py", "providers/diffusers_local.py")
    read = set()
    for reader in readers:
        read |= set(re.findall(r"\"(ATELIER_[A-Z_]+)\"", (ROOT / "backend" / reader).read_text(encoding="utf-8")))
    assert read - documented == set()
    settings = _load(tmp_path, ATELIER_ENV_FILE=str(example))  # a copy of the example as .env starts
    assert settings.port == 5000 and settings.monthly_budget_usd is None


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_threading_mode_serves_on_ipv6_loopback(tmp_path: Path) -> None:
    """What the eventlet refusal of ::1 advises works: threading mode listens on ::1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
    env.update(_env(tmp_path, ATELIER_PORT="0", ATELIER_HOST="::1", ATELIER_ASYNC_MODE="threading"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)  # a deadline, not a hang
        line = proc.stdout.readline().decode() if ready else ""  # the "running at" line, or "" if it exited
        url = re.search(r"running at (http://\[::1\]:\d+)/", line)  # the address as a URL has it
        assert url, line
        assert requests.get(f"{url.group(1)}/api/health", timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
