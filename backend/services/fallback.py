"""ATELIER_FALLBACK: where a job's missing images go when its provider is down.

A job whose provider fails with provider_unavailable, timeout or rate_limited (after its
retries) continues on the next available provider of the ordered list, with the request
re-fitted to that provider's default model and every change reported as a warning.
The same chain runs in the studio's own pool and on a worker; a worker's chain holds only
the providers that worker serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.providers.base import GenerationRequest, ProviderError
from backend.providers.registry import ProviderRegistry
from backend.services.validation import ValidationError, Warning_, renormalize_for_provider

#: failures after which a job moves on to the next provider of ATELIER_FALLBACK
FALLBACK_CODES = frozenset({"provider_unavailable", "timeout", "rate_limited"})
MAX_MOVE_WARNINGS = 16
MAX_TEXT = 2000


@dataclass(frozen=True)
class Moved:
    """What the job record learns when the job moves on: a worker sends it as JSON."""

    from_provider: str
    to_provider: str
    code: str
    message: str
    warnings: tuple[Warning_, ...]  # why, and what re-fitting the request changed
    cost_usd: float | None  # the job's re-estimated cost

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.from_provider,
            "to": self.to_provider,
            "code": self.code,
            "message": self.message,
            "warnings": [w.to_json() for w in self.warnings],
            "cost_usd": self.cost_usd,
        }

    @classmethod
    def from_json(cls, data: Any) -> Moved:
        """The move a worker reported, or ValueError naming what is wrong with it."""
        if not isinstance(data, dict):
            raise ValueError("the body must be an object")
        texts = {k: data.get(k) for k in ("from", "to", "code", "message")}
        for key, value in texts.items():
            if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
                raise ValueError(f"{key} must be a non-empty string of at most {MAX_TEXT} characters")
        raw = data.get("warnings")
        if not isinstance(raw, list) or len(raw) > MAX_MOVE_WARNINGS:
            raise ValueError(f"warnings must be a list of at most {MAX_MOVE_WARNINGS}")
        warnings = []
        for w in raw:
            if not (isinstance(w, dict) and isinstance(w.get("field"), str) and isinstance(w.get("message"), str)):
                raise ValueError("each warning must be an object with a field and a message")
            warnings.append(Warning_(w["field"][:100], w["message"][:MAX_TEXT], w.get("requested"), w.get("used")))
        cost = data.get("cost_usd")
        if cost is not None and (isinstance(cost, bool) or not isinstance(cost, int | float) or not 0 <= cost < 1e9):
            raise ValueError("cost_usd must be null or a finite number of dollars")
        return cls(texts["from"], texts["to"], texts["code"], texts["message"], tuple(warnings), cost)


def before_moves(warnings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A job's warnings without those its provider moves added (each move appends its note,
    a provider warning from one provider to another, then what re-fitting changed): what a
    retry of the job starts with."""
    for i, w in enumerate(warnings):
        if w.get("field") == "provider" and w.get("requested") != w.get("used"):
            return warnings[:i]
    return warnings


@dataclass(frozen=True)
class Switch:
    request: GenerationRequest  # the remaining images, for the next provider
    moved: Moved


class FallbackChain:
    def __init__(self, registry: ProviderRegistry, order: tuple[str, ...]) -> None:
        self.registry = registry
        self.order = order

    def __bool__(self) -> bool:
        return bool(self.order)

    def only(self, providers: tuple[str, ...]) -> FallbackChain:
        """The chain a worker can follow: the providers it serves, in the same order."""
        return FallbackChain(self.registry, tuple(p for p in self.order if p in providers))

    def next(
        self,
        warnings: list[dict[str, Any]],
        request: GenerationRequest,
        failed: GenerationRequest,
        error: ProviderError,
        done: int,
        tried: set[str],
    ) -> Switch | None:
        """The switch to the next available provider after ``failed``, or None.
        ``warnings``: the job's, where the aspect ratio first asked for is noted."""
        if error.code not in FALLBACK_CODES or not self.order:
            return None
        asked = next((w["requested"] for w in warnings if w.get("field") == "aspect_ratio"), None)
        order = list(self.order)
        start = order.index(failed.provider) + 1 if failed.provider in order else 0
        for provider_id in order[start:]:
            provider = self.registry.get(provider_id)
            if provider_id in tried or provider is None or not provider.availability()[0]:
                continue
            try:
                fallback, notes = renormalize_for_provider(request, provider_id, request.n - done, self.registry, asked)
            except ValidationError:
                continue
            message = f"{failed.provider} failed ({error.code}); continuing on {provider_id}"
            note = Warning_("provider", f"{message}: {error.message}", failed.provider, provider_id)
            original = self.registry.get(request.provider)
            costs = [
                original.estimate_cost(request) if original and done else 0.0,
                provider.estimate_cost(fallback),
            ]
            cost = None if None in costs else round(costs[0] * done / request.n + costs[1], 6)
            moved = Moved(failed.provider, provider_id, error.code, message, (note, *notes), cost)
            return Switch(fallback, moved)
        return None
