"""Prompt enhancement: a text model the owner configures rewrites a prompt on request.

One module per kind over :mod:`.base`: ``openai`` and ``openai-compatible`` (chat
completions, :mod:`.openai_chat`), ``gemini`` (generateContent, :mod:`.gemini_text`).
Nothing is changed by an enhancement: the caller shows it and the person decides.
"""

from __future__ import annotations

from collections.abc import Mapping

from backend.enhancer_config import EnhancerSettings
from backend.services.enhancers.base import Enhanced, Enhancer
from backend.services.enhancers.gemini_text import GeminiEnhancer
from backend.services.enhancers.openai_chat import CompatibleChatEnhancer, OpenAIChatEnhancer

__all__ = ["Enhanced", "Enhancer", "OFF_MESSAGE", "build_enhancer"]

KINDS: dict[str, type[Enhancer]] = {
    "openai": OpenAIChatEnhancer,
    "gemini": GeminiEnhancer,
    "openai-compatible": CompatibleChatEnhancer,
}
OFF_MESSAGE = (
    "prompt enhancement is off: set ATELIER_ENHANCER to openai, gemini or openai-compatible "
    "(with ATELIER_ENHANCER_BASE_URL and ATELIER_ENHANCER_MODEL for a local Ollama or llama.cpp server) "
    "and restart the server"
)


def build_enhancer(settings: EnhancerSettings, env: Mapping[str, str], max_prompt_chars: int) -> Enhancer | None:
    """The configured enhancer, or None when ATELIER_ENHANCER is empty."""
    if not settings.enabled:
        return None
    return KINDS[settings.kind](settings, env, max_prompt_chars)
