"""The producer of each tool kind, given how it reads its source images.

The studio's own process reads them from its gallery; a worker on another machine reads
them from the studio over HTTP. The kinds are the registered tools (registry.TOOLS).
Nothing here imports Flask or Socket.IO.
"""

from __future__ import annotations

from backend.providers.registry import ProviderRegistry
from backend.services.tools.common import SourceReader, ToolProducer
from backend.services.tools.registry import TOOLS


def tool_producers(registry: ProviderRegistry, read_source: SourceReader) -> dict[str, ToolProducer]:
    """Job kind -> the producer of its images."""
    return {kind: tool.producer(registry, read_source) for kind, tool in TOOLS.items()}
