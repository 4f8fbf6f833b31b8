"""The table of studio tools: adding a tool is one module and one line here.

Everything that lists the tools reads this table when it is asked: the routes and their
OpenAPI paths (web/api_tools.py registers ``POST /api/<kind>`` per tool), the paths the
rate limit counts (web/security.py), ``GET /api/tools``, the job producers of the studio
and the workers (producers.py) and the SPA's tool kinds
(``frontend/src/tools/toolKinds.ts``, written by ``python -m backend.services.tools.registry``
and checked against this table by tests/test_tool_registry.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from backend.services.tools.base import Tool, tool_path
from backend.services.tools.edit import EditTool
from backend.services.tools.social import SocialTool
from backend.services.tools.upscale import UpscaleTool
from backend.shapes import ToolInfo

#: kind -> tool, in the order the SPA shows them
TOOLS: dict[str, Tool] = {tool.kind: tool for tool in (EditTool(), UpscaleTool(), SocialTool())}


def tools_json() -> list[ToolInfo]:
    """``GET /api/tools``: each registered tool's kind, label, route and summary."""
    return [
        ToolInfo(kind=tool.kind, label=tool.label, path=tool_path(tool), summary=tool.summary)
        for tool in TOOLS.values()
    ]


class SubmissionPaths:
    """The paths that queue a job: the given ones and each registered tool's route, read
    from the table when asked (a tool registered later counts too)."""

    def __init__(self, *fixed: str) -> None:
        self.fixed = fixed

    def add(self, *paths: str) -> None:
        """More paths that queue a job (a client API's, e.g. ``/v1/images/generations``)."""
        self.fixed = (*self.fixed, *(p for p in paths if p not in self.fixed))

    def __iter__(self) -> Iterator[str]:
        yield from self.fixed
        yield from (tool_path(tool) for tool in TOOLS.values())

    def __contains__(self, path: object) -> bool:
        return any(path == known for known in self)


def typescript() -> str:
    """``frontend/src/tools/toolKinds.ts``: the registered tools for the SPA."""
    rows = "".join(f"  {{ kind: {json.dumps(t.kind)}, label: {json.dumps(t.label)} }},\n" for t in TOOLS.values())
    return (
        "// Generated from backend/services/tools/registry.py by\n"
        "// `python -m backend.services.tools.registry > frontend/src/tools/toolKinds.ts`: do not edit.\n"
        "// tests/test_tool_registry.py fails when this file and the table differ.\n"
        f"export const TOOL_KINDS = [\n{rows}] as const;\n"
        "\n"
        'export type ToolKind = (typeof TOOL_KINDS)[number]["kind"];\n'
    )


if __name__ == "__main__":
    print(typescript(), end="")
