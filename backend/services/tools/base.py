"""The protocol every studio tool implements: one module per tool, one entry in the table.

A tool has a kind (the job kind and its route, ``POST /api/<kind>``), the shape of its
request body (read by its validator and by the OpenAPI document), ``build`` (a body into a
job, or a ValidationError naming the field), ``estimate`` (what the job will cost) and its
``producer`` (what makes the images when the job runs, in the studio or on a worker).
The table is ``backend.services.tools.registry.TOOLS``; the routes, the OpenAPI paths, the
rate-limited paths, ``GET /api/tools`` and the SPA's tool kinds all come from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from backend.providers.base import GenerationRequest
from backend.providers.registry import ProviderRegistry
from backend.services.schema import Shape
from backend.services.tools.common import SourceFinder, SourceReader, ToolProducer


@dataclass(frozen=True)
class ToolJob:
    """A validated tool request: what the job runs and the kind-specific ``tool`` dict saved with it."""

    request: GenerationRequest
    tool: dict[str, Any]
    session: str | None


@dataclass(frozen=True)
class ToolContext:
    """What ``build`` may consult: the providers and the request's source images."""

    registry: ProviderRegistry
    sources: SourceFinder


class Tool(Protocol):
    #: the job kind; the tool's route is ``POST /api/<kind>``
    kind: str
    #: the SPA's name of the tool (its tab)
    label: str
    #: the OpenAPI summary and description of the route
    summary: str
    description: str
    #: the request body: read by ``build`` and by the OpenAPI document
    request: Shape

    def build(self, body: Any, ctx: ToolContext) -> ToolJob:
        """The job of a request body, or a ValidationError naming the field. Writes nothing."""
        ...

    def estimate(self, job: ToolJob, registry: ProviderRegistry) -> float | None:
        """The job's cost in USD (0.0: free; None: the provider cannot price it)."""
        ...

    def producer(self, registry: ProviderRegistry, read_source: SourceReader) -> ToolProducer:
        """What makes the job's images, reading its sources through ``read_source``."""
        ...


def tool_path(tool: Tool) -> str:
    """The route of a tool's jobs."""
    return f"/api/{tool.kind}"
