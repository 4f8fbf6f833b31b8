"""Prompt history and wildcard previews."""

from __future__ import annotations

from typing import NotRequired

from typing_extensions import TypedDict


class PromptSettings(TypedDict):
    """The settings the prompt was last used with, as the job was asked for (after validation)."""

    negative_prompt: NotRequired[str]
    provider: NotRequired[str]
    model: NotRequired[str]
    style: NotRequired[str]
    aspect_ratio: NotRequired[str]
    n: NotRequired[int]
    seed: NotRequired[int | None]
    steps: NotRequired[int | None]
    quality: NotRequired[str | None]


class PromptEntry(TypedDict):
    id: int
    prompt: str
    """as typed: a wildcard template stays a template"""
    uses: int
    """how many jobs used it"""
    first_used: str
    last_used: str
    settings: PromptSettings


class PromptPage(TypedDict):
    items: list[PromptEntry]
    next_cursor: str | None


class PromptExpansions(TypedDict):
    prompts: list[str]
    """image i's prompt (seed + i)"""


class EnhancerInfo(TypedDict):
    kind: str
    """openai, gemini or openai-compatible (ATELIER_ENHANCER)"""
    model: str


class PromptEnhancement(TypedDict):
    original: str
    """the prompt as sent"""
    enhanced: str
    """the text model's rewrite; nothing uses it until the person accepts it"""
    enhancer: EnhancerInfo
