"""Socket clients that misbehave: never read, vanish mid-replay, reconnect a thousand times.

The clients here speak the raw Engine.IO/Socket.IO wire protocol over a websocket, so a
test controls exactly what is read and when the connection dies. Each test then checks a
well-behaved client (tests/support/sio.py) still gets every event it is owed, and that
the server's open sockets and threads (read from /proc: counts, never timings) come back
to where they were.
"""

from __future__ import annotations

import json
import socket
import struct
import time

import pytest
import websocket

from tests.support.faults import open_sockets, threads
from tests.support.sio import EventRecorder

pytestmark = pytest.mark.both_modes  # sockets, scheduling, watcher, crash recovery differ per mode


class RawClient:
    """A minimal Socket.IO client on one websocket (EIO=4, namespace "/")."""

    def __init__(self, url: str, rcvbuf: int | None = None) -> None:
        opts = ((socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf),) if rcvbuf else ()
        ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(ws_url, timeout=15, sockopt=opts)
        assert self.ws.recv().startswith("0"), "no Engine.IO open packet"
        self.ws.send("40")
        self.acks = 0

    def read_until(self, prefix: str) -> str:
        while True:
            packet = self.ws.recv()
            if packet == "2":  # ping
                self.ws.send("3")
            elif packet.startswith(prefix):
                return packet

    def emit(self, event: str, data, ack: bool = False) -> None:
        ack_id = ""
        if ack:
            self.acks += 1
            ack_id = str(self.acks)
        self.ws.send(f"42{ack_id}" + json.dumps([event, data]))

    def call(self, event: str, data) -> object:
        self.emit(event, data, ack=True)
        packet = self.read_until(f"43{self.acks}")
        return json.loads(packet[len(f"43{self.acks}") :])[0]

    def close(self) -> None:
        self.ws.close()

    def reset(self) -> None:
        """Vanish without a goodbye: a TCP reset, no close frame."""
        sock = self.ws.sock
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


def _settles(pid: int, measure, limit: int, timeout: float = 60) -> int:
    """Waits (bounded) until ``measure(pid) <= limit``; returns the last reading."""
    deadline = time.monotonic() + timeout
    value = measure(pid)
    while value > limit and time.monotonic() < deadline:
        time.sleep(0.2)
        value = measure(pid)
    return value


def _run_job_watched(srv, **body) -> list[tuple[str, dict]]:
    client = EventRecorder(srv.url).connect()
    try:
        assert client.subscribe(topic="gallery")["ok"]
        job = srv.submit(**body)
        assert client.subscribe(job_id=job["id"])["ok"]
        client.wait_event("job.succeeded", job["id"])
        added = client.wait_for(
            lambda ev: sum(e == "gallery.added" and d["image"]["job_id"] == job["id"] for e, d in ev) == body["n"]
        )
        events = client.job_events(job["id"])
        seqs = [d["seq"] for _, d in events]
        assert seqs == list(range(1, len(seqs) + 1)), "a gap or a repeat in the job's events"
        assert len([e for e, _ in added if e == "gallery.added"]) == body["n"]
        return events
    finally:
        client.close()


@pytest.fixture
def busy_job(server):
    """A finished offline job with plenty of events (progress and previews) to replay."""
    job = server.wait_job(server.submit(prompt="many events", provider="offline", n=4)["id"])
    assert job["status"] == "succeeded" and job["last_seq"] > 20
    return job


def test_clients_that_never_read_do_not_stall_anyone_else(server, busy_job):
    stuck = []
    for _ in range(5):
        client = RawClient(server.url, rcvbuf=4096)
        client.emit("subscribe", {"topic": "gallery"})
        client.emit("subscribe", {"topic": "queue"})
        for _ in range(40):  # every replay queues the job's previews again: megabytes nobody reads
            client.emit("subscribe", {"job_id": busy_job["id"]})
        stuck.append(client)
    try:
        events = _run_job_watched(server, prompt="still served", provider="instant", n=4)
        assert [e for e, _ in events][-1] == "job.succeeded"
        assert server.get("/api/health").json()["status"] == "ok"
    finally:
        for client in stuck:
            client.reset()


def test_clients_vanishing_mid_replay_leave_replay_whole_for_others(server, busy_job):
    pid = server.proc.pid
    sockets_before = open_sockets(pid)
    for i in range(100):
        client = RawClient(server.url)
        client.emit("subscribe", {"job_id": busy_job["id"]})
        client.reset() if i % 2 else client.close()
    watcher = EventRecorder(server.url).connect()
    try:
        assert watcher.subscribe(job_id=busy_job["id"])["ok"]
        watcher.wait_for(lambda ev: any(e == "job.succeeded" for e, _ in ev))
        seqs = [d["seq"] for _, d in watcher.job_events(busy_job["id"])]
        assert seqs == list(range(1, busy_job["last_seq"] + 1))
    finally:
        watcher.close()
    assert _settles(pid, open_sockets, sockets_before + 5) <= sockets_before + 5


def test_a_thousand_reconnects_leak_no_sockets_or_threads(server):
    pid = server.proc.pid
    # a connection and a job first: lazily started pools (eventlet's tpool) count in the baseline
    warm = RawClient(server.url)
    warm.call("subscribe", {"topic": "gallery"})
    warm.close()
    _run_job_watched(server, prompt="warm up", provider="instant", n=2)
    sockets_before, threads_before = open_sockets(pid), threads(pid)
    for i in range(1000):
        client = RawClient(server.url)
        assert client.call("subscribe", {"topic": "gallery" if i % 2 else "queue"}) == {
            "ok": True,
            "topic": "gallery" if i % 2 else "queue",
        }
        client.reset() if i % 3 == 0 else client.close()
    events = _run_job_watched(server, prompt="after a thousand reconnects", provider="instant", n=2)
    assert events[-1][0] == "job.succeeded"
    sockets_after = _settles(pid, open_sockets, sockets_before + 5)
    threads_after = _settles(pid, threads, threads_before + 5)
    assert sockets_after <= sockets_before + 5, (sockets_before, sockets_after)
    assert threads_after <= threads_before + 5, (threads_before, threads_after)
