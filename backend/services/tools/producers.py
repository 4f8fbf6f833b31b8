"""The producer of each tool kind, given how it reads its source images.

The studio's own process reads them from its gallery; a worker on another machine reads
them from the studio over HTTP. Nothing here imports Flask or Socket.IO.
"""

from __future__ import annotations

from backend.providers.registry import ProviderRegistry
from backend.services.tools.common import SourceReader, ToolProducer
from backend.services.tools.edit import EditTool
from backend.services.tools.social import SocialTool
from backend.services.tools.upscale import UpscaleTool


def tool_producers(registry: ProviderRegistry, read_source: SourceReader) -> dict[str, ToolProducer]:
    """Job kind -> the producer of its images."""
    return {
        "edit": EditTool(registry, read_source),
        "upscale": UpscaleTool(registry, read_source),
        "social": SocialTool(read_source),
    }
