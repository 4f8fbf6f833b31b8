"""Templates for the composer, from backend/data/templates.json, with a size each one's
suggested model can make (checked against the registry when listed)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from backend.providers.registry import ProviderRegistry
from backend.services.schema import Field

TEMPLATES_FILE = Path(__file__).resolve().parents[1] / "data" / "templates.json"

#: The query of GET /api/templates: read by the view and by the OpenAPI document.
TEMPLATE_QUERY = (Field("q", "string", "words that must all appear in a template's name, description, tags or prompt"),)


@functools.cache
def load_templates() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(TEMPLATES_FILE.read_text(encoding="utf-8"))["templates"])


def search_templates(q: str, registry: ProviderRegistry) -> list[dict[str, Any]]:
    """Templates whose name, description, tags or prompt hold every word of ``q``, each
    with the pixel size its model makes and whether its provider is available now."""
    words = [w for w in q.lower().split() if w]
    found = []
    for template in load_templates():
        haystack = " ".join(
            [template["name"], template["description"], template["prompt"], " ".join(template["tags"])]
        ).lower()
        if not all(w in haystack for w in words):
            continue
        provider = registry.get(template["provider"])
        model = provider.model(template["model"]) if provider else None
        size = model.sizes.get(template["aspect_ratio"]) if model else None
        found.append(
            {
                **template,
                "width": size[0] if size else None,
                "height": size[1] if size else None,
                "available": bool(provider and provider.availability()[0] and size),
            }
        )
    return found
