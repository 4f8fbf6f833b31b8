from __future__ import annotations

import pytest

from tests.support.server import ServerProcess
from tests.support.sio import EventRecorder


@pytest.fixture(params=["eventlet", "threading"])
def async_mode(request) -> str:
    return request.param


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
