"""A job as the API and the events show it, and the answers that carry jobs."""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict

from backend.shapes.errors import Warning
from backend.shapes.images import Image

Priority = Literal["high", "normal", "low"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
#: "generate", or a studio tool's kind: the tools are a registry (services/tools/registry.py,
#: GET /api/tools), so the kinds are not a closed list here; the SPA's union is generated from it
JobKind = str


class ImagePrompt(TypedDict):
    prompt: str
    styled_prompt: str


class JobRequest(TypedDict):
    """The request after validation: every value is one the chosen model supports."""

    prompt: str
    """what the person typed"""
    styled_prompt: str
    """the prompt with the style applied: what the model gets"""
    negative_prompt: str
    """what the person typed"""
    effective_negative_prompt: str
    """joined with the style's"""
    provider: str
    model: str
    style: str
    aspect_ratio: str
    width: int
    height: int
    n: int
    seed: int | None
    """null when the model takes no seed"""
    steps: int | None
    quality: str | None
    prompt_template: NotRequired[str]
    """the wildcard template typed (``prompt`` is what it resolved to for the first image)"""
    original_prompt: NotRequired[str]
    """the prompt before an enhancement the person accepted (POST /api/prompts/enhance)"""
    image_prompts: NotRequired[list[ImagePrompt]]
    """each image's resolved prompt, when a wildcard template resolves differently per image"""


class JobError(TypedDict):
    code: str
    message: str
    retryable: NotRequired[bool]


class ToolSource(TypedDict):
    image_id: str
    path: str


class ToolRequest(TypedDict):
    """The tool's own request (source image, operation, targets …). An inpaint mask shows as "attached"."""

    __pydantic_config__ = {
        "extra": "allow",
        "use_attribute_docstrings": True,
    }  # each tool has its own keys (services/tools/)

    source: NotRequired[ToolSource]


class Job(TypedDict):
    """A generation job."""

    id: str
    status: JobStatus
    created_at: str
    started_at: str | None
    finished_at: str | None
    request: JobRequest
    provider: str
    model: str | None
    session: str | None
    position: int | None
    """place in the queue (1 = next) while queued"""
    progress: float | None
    """0..1, null when it cannot be measured"""
    message: str
    images: list[Image]
    warnings: list[Warning]
    error: JobError | None
    cost_usd: float | None
    """the estimate when submitted; null: unpriced"""
    cost_actual_usd: float | None
    """set when the job ends: what the provider reported, else the estimate for what was made"""
    served_by: str | None
    """the provider that made the images (fallback)"""
    kind: JobKind
    tool: ToolRequest | None
    """null for generate"""
    retry_of: str | None
    cancel_requested: bool
    client: str | None
    """who sent it through a client API (e.g. "openai", "a1111"); null for the studio's own routes"""
    provider_notes: list[dict[str, Any]]
    priority: Priority
    """higher runs first; first come, first served within a priority"""
    owner: str | None
    """whose job it is: the account name; null without accounts (the studio's own)"""
    last_seq: int


class JobEnvelope(TypedDict):
    job: Job


class JobSubmitted(TypedDict):
    job: Job
    warnings: list[Warning]


class JobPage(TypedDict):
    items: list[Job]
    next_cursor: str | None


class QueueItem(Job):
    """A queued job, in the order the queue runs them."""

    job_id: str
    """the job's id (= id)"""


class Queue(TypedDict):
    paused: bool
    """paused: running jobs finish, nothing new starts"""
    items: list[QueueItem]
    """the queued jobs, next to run first"""


class QueuePaused(TypedDict):
    paused: bool
    changed: bool
    """false: it already was (resuming a queue that runs is no error)"""


class QueueCancelled(TypedDict):
    cancelled: list[str]
    """the ids of the jobs cancelled, in queue order"""
