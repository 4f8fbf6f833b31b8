from __future__ import annotations

import pytest

from tests.support.server import ServerProcess
from tests.support.sio import EventRecorder

BOTH_MODES = ["eventlet", "threading"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``async_mode``: eventlet (the default a studio runs in) for every test, and threading
    too only for tests marked ``both_modes``, where the mode changes what is tested (socket
    transport, scheduling, the watcher, crash recovery). Running everything twice doubled the
    suite's time and proved nothing more for routes, validation or files."""
    if "async_mode" not in metafunc.fixturenames:
        return
    if any("async_mode" in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize")):
        return  # the test names its modes itself
    both = metafunc.definition.get_closest_marker("both_modes") is not None
    metafunc.parametrize("async_mode", BOTH_MODES if both else ["eventlet"])


@pytest.fixture
def server(tmp_path, async_mode):
    proc = ServerProcess(tmp_path, async_mode).start()
    yield proc
    proc.stop()


@pytest.fixture
def make_server(tmp_path):
    """Servers with custom settings; all stopped at the end."""
    started: list[ServerProcess] = []

    def make(async_mode: str = "eventlet", start: bool = True, **env: str) -> ServerProcess:
        proc = ServerProcess(tmp_path, async_mode, **env)
        started.append(proc)
        return proc.start() if start else proc

    yield make
    for proc in started:
        proc.stop()


@pytest.fixture
def sio(server):
    clients: list[EventRecorder] = []

    def connect(transports=None) -> EventRecorder:
        client = EventRecorder(server.url, transports).connect()
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()
