"""Prompt history: what a submitted job adds to it, and an entry as the API shows it."""

from __future__ import annotations

import logging
import sqlite3

from backend.providers.base import GenerationRequest
from backend.shapes.prompts import PromptEntry as PromptEntryJson
from backend.shapes.prompts import PromptSettings
from backend.storage.prompt_store import PromptEntry, PromptStore

log = logging.getLogger(__name__)


def history_settings(request: GenerationRequest) -> PromptSettings:
    """The settings a person restores with the prompt: what the job was asked for."""
    return {
        "negative_prompt": request.user_negative_prompt,
        "provider": request.provider,
        "model": request.model,
        "style": request.style,
        "aspect_ratio": request.aspect_ratio,
        "n": request.n,
        "seed": request.seed,
        "steps": request.steps,
        "quality": request.quality,
    }


def record_prompt(store: PromptStore, request: GenerationRequest, at: str, owner: str | None = None) -> None:
    """One more use of the prompt the person typed (a wildcard template stays one), in
    ``owner``'s history (None: the studio's). The job is queued already: a history that
    cannot be written is logged, not the job's failure."""
    typed = request.prompt_template if request.prompt_template is not None else request.prompt
    try:
        store.record(typed, dict(history_settings(request)), at, owner or "")
    except sqlite3.Error as exc:
        log.warning("the prompt history could not be written: %s", exc)


def entry_json(entry: PromptEntry) -> PromptEntryJson:
    settings: PromptSettings = entry.settings  # type: ignore[assignment]  # written by history_settings
    return {
        "id": entry.id,
        "prompt": entry.prompt,
        "uses": entry.uses,
        "first_used": entry.first_used,
        "last_used": entry.last_used,
        "settings": settings,
    }


__all__ = ["entry_json", "history_settings", "record_prompt"]
