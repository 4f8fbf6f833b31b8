"""ATELIER_FALLBACK: where a job's missing images go when its provider is down.

A job whose provider fails with provider_unavailable, timeout or rate_limited (after its
retries) continues on the next available provider of the ordered list, with the request
re-fitted to that provider's default model and every change reported as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.providers.base import GenerationRequest, ProviderError
from backend.providers.registry import ProviderRegistry
from backend.services.validation import ValidationError, Warning_, renormalize_for_provider
from backend.storage.job_store import JobRecord

#: failures after which a job moves on to the next provider of ATELIER_FALLBACK
FALLBACK_CODES = frozenset({"provider_unavailable", "timeout", "rate_limited"})


@dataclass(frozen=True)
class Switch:
    request: GenerationRequest  # the remaining images, for the next provider
    warnings: list[Warning_]  # why, and what re-fitting the request changed
    message: str
    cost_usd: float | None  # the job's re-estimated cost


class FallbackChain:
    def __init__(self, registry: ProviderRegistry, order: tuple[str, ...]) -> None:
        self.registry = registry
        self.order = order

    def __bool__(self) -> bool:
        return bool(self.order)

    def next(
        self,
        job: JobRecord,
        request: GenerationRequest,
        failed: GenerationRequest,
        error: ProviderError,
        done: int,
        tried: set[str],
    ) -> Switch | None:
        """The switch to the next available provider after ``failed``, or None."""
        if error.code not in FALLBACK_CODES or not self.order:
            return None
        asked = next((w["requested"] for w in job.warnings if w.get("field") == "aspect_ratio"), None)
        order = list(self.order)
        start = order.index(failed.provider) + 1 if failed.provider in order else 0
        for provider_id in order[start:]:
            provider = self.registry.get(provider_id)
            if provider_id in tried or provider is None or not provider.availability()[0]:
                continue
            try:
                fallback, warnings = renormalize_for_provider(
                    request, provider_id, request.n - done, self.registry, asked
                )
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
            return Switch(fallback, [note, *warnings], message, cost)
        return None
