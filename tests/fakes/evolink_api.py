"""Fake EvoLink z-image-turbo task API (provider-apis.md 5.4): create, poll, download."""

from __future__ import annotations

import itertools
import time

from tests.fakes.base import FakeApi, Recorded, Reply, png_bytes

RATIOS = {"1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "1:2", "2:1"}


def error(status: int, message: str, type_: str, code: int | str | None = None) -> Reply:
    return Reply.json(status, {"error": {"code": code or status, "message": message, "type": type_}})


class FakeEvoLink(FakeApi):
    def __init__(self, key: str = "test-key") -> None:
        super().__init__(key)
        self.tasks: dict[str, dict] = {}
        self.counter = itertools.count(1)
        #: what the next task does: a list of statuses it reports, poll after poll
        self.result_host: str | None = None  # override the host of result URLs (SSRF tests)

    def handle(self, req: Recorded) -> Reply:
        if req.path.startswith("/files/"):
            return self.file(req)
        auth = req.headers.get("authorization", "")
        if auth != f"Bearer {self.key}":
            return error(401, f"Invalid API key {auth}", "authentication_error")
        if req.method == "POST" and req.path == "/v1/images/generations":
            return self.create(req)
        if req.method == "GET" and req.path.startswith("/v1/tasks/"):
            return self.poll(req.path.removeprefix("/v1/tasks/"))
        return error(404, f"no route {req.path}", "not_found_error")

    def create(self, req: Recorded) -> Reply:
        try:
            body = req.json()
        except ValueError:
            return error(400, "body is not JSON", "invalid_request_error")
        if body.get("model") != "z-image-turbo" or not body.get("prompt"):
            return error(400, "model and prompt are required", "invalid_request_error")
        size = body.get("size", "1:1")
        if size not in RATIOS:
            try:
                w, h = map(int, size.split("x"))
                assert 376 <= w <= 1536 and 376 <= h <= 1536
            except (ValueError, AssertionError):
                return error(400, f"invalid size {size}", "invalid_request_error")
        if "seed" in body and not 1 <= body["seed"] <= 2147483647:
            return error(400, "seed out of range", "invalid_request_error")
        behaviour = self.behaviour("create")
        if behaviour == "rate_limited":
            return Reply.json(
                429,
                {"error": {"code": 429, "message": "Too many requests", "type": "rate_limit_error"}},
                **{"Retry-After": "0.01"},
            )
        if behaviour == "quota":
            return error(402, "Insufficient balance", "insufficient_quota_error")
        if behaviour == "server_error":
            return error(503, "Service temporarily unavailable", "service_unavailable_error")
        task_id = f"task-unified-{int(time.time())}-{next(self.counter):08d}"
        plan = self.behaviour("task")  # ok | failed_policy | failed_service | stuck | bad_url | private_url | ...
        self.tasks[task_id] = {"plan": plan, "polls": 0}
        return Reply.json(
            200,
            {
                "created": int(time.time()),
                "id": task_id,
                "model": "z-image-turbo",
                "object": "image.generation.task",
                "progress": 0,
                "status": "pending",
                "task_info": {"can_cancel": True, "estimated_time": 10},
                "type": "image",
                "usage": {"billing_rule": "per_call", "credits_reserved": 0.026, "user_group": "default"},
            },
        )

    def poll(self, task_id: str) -> Reply:
        if not task_id.startswith("task-unified-"):
            return Reply.json(
                400,
                {
                    "error": {
                        "code": "invalid_task_id",
                        "message": "Invalid task ID format, must start with 'task-unified-'",
                        "type": "invalid_request_error",
                        "param": "task_id",
                    }
                },
            )
        task = self.tasks.get(task_id)
        if task is None:
            return error(404, "task not found", "not_found_error")
        task["polls"] += 1
        base = {"id": task_id, "model": "z-image-turbo", "object": "image.generation.task", "type": "image"}
        plan, polls = task["plan"], task["polls"]
        if plan == "stuck" or polls == 1:
            return Reply.json(200, {**base, "status": "pending", "progress": 0})
        if polls == 2:
            return Reply.json(200, {**base, "status": "processing", "progress": 40})
        if plan.startswith("failed_"):
            code = {"failed_policy": "content_policy_violation", "failed_service": "service_error"}[plan]
            return Reply.json(
                200,
                {**base, "status": "failed", "progress": 0, "error": {"code": code, "message": f"task failed: {code}"}},
            )
        host = self.result_host or self.url.removeprefix("http://")
        url = {
            "bad_url": "file:///etc/passwd",
            "private_url": "http://10.0.0.7/files/x.png",
            "metadata_url": "http://169.254.169.254/latest/meta-data",
        }.get(plan, f"http://{host}/files/{task_id}.png")
        if plan in ("garbage", "truncated", "redirect"):
            url = f"http://{host}/files/{task_id}.png?{plan}=1"
        return Reply.json(
            200, {**base, "status": "completed", "progress": 100, "results": [url], "task_info": {"can_cancel": False}}
        )

    def file(self, req: Recorded) -> Reply:
        if "redirect" in req.query:
            return Reply(302, b"", {"Location": "http://10.1.2.3/elsewhere.png"})
        if "garbage" in req.query:
            return Reply(200, b"<html>expired</html>", {"Content-Type": "image/png"})
        return Reply(
            200, png_bytes(1024, 1024, (120, 20, 140)), {"Content-Type": "image/png"}, truncate="truncated" in req.query
        )
