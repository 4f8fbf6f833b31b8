"""A real Socket.IO client that records every event in arrival order.

python-socketio's threaded client runs each incoming message in its own thread, so the
order its handlers see is not the wire order. The asyncio client dispatches in arrival
order; this wrapper runs it on a private event loop and offers a blocking API.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import socketio


class EventRecorder:
    def __init__(
        self,
        url: str,
        transports: list[str] | None = None,
        auth: dict | None = None,
        headers: dict | None = None,
        socketio_path: str = "socket.io",
    ) -> None:
        self.url = url
        self.auth, self.headers, self.socketio_path = auth, headers or {}, socketio_path
        self.transports = transports or ["websocket"]
        self.events: list[tuple[str, Any]] = []  # (name, payload), acks recorded as ("ack", ...)
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.client = socketio.AsyncClient(reconnection=False)
        self.client.on("*", self._on_any)

    async def _on_any(self, event: str, data: Any = None) -> None:
        with self._cond:
            self.events.append((event, data))
            self._cond.notify_all()

    def _run(self, coro, timeout: float = 15):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def connect(self) -> EventRecorder:
        self._run(
            self.client.connect(
                self.url,
                transports=self.transports,
                wait_timeout=10,
                auth=self.auth,
                headers=self.headers,
                socketio_path=self.socketio_path,
            )
        )
        return self

    def disconnect(self) -> None:
        self._run(self.client.disconnect())

    def close(self) -> None:
        try:
            if self.client.connected:
                self.disconnect()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def call(self, event: str, data: Any, timeout: float = 10) -> Any:
        """Emit with an ack; the ack is recorded among the events in arrival order."""

        async def go():
            fut = self._loop.create_future()

            def on_ack(*args):
                with self._cond:
                    self.events.append(("ack:" + event, args[0] if args else None))
                    self._cond.notify_all()
                fut.set_result(args[0] if args else None)

            await self.client.emit(event, data, callback=on_ack)
            return await asyncio.wait_for(fut, timeout)

        return self._run(go(), timeout + 1)

    def subscribe(self, **payload) -> Any:
        return self.call("subscribe", payload)

    def wait_for(self, predicate, timeout: float = 30) -> list[tuple[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.events):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"condition not met; last events: {[e for e, _ in self.events[-20:]]}")
                self._cond.wait(left)
            return list(self.events)

    def wait_event(self, name: str, job_id: str | None = None, timeout: float = 30) -> Any:
        def match(events):
            return any(e == name and (job_id is None or (d or {}).get("job_id") == job_id) for e, d in events)

        events = self.wait_for(match, timeout)
        return next(d for e, d in events if e == name and (job_id is None or (d or {}).get("job_id") == job_id))

    def job_events(self, job_id: str) -> list[tuple[str, dict]]:
        with self._cond:
            return [(e, d) for e, d in self.events if isinstance(d, dict) and d.get("job_id") == job_id]
