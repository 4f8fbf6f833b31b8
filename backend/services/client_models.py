"""The names client APIs give Atelier's models: one stable id per provider model,
``<provider>/<model>`` (``openai/gpt-image-1``, ``huggingface/black-forest-labs/FLUX.1-schnell``,
``offline/procedural-v1``), plus aliases for the names clients send by habit (``dall-e-3``).

The OpenAI Images API lists them as models (``GET /v1/models``); the AUTOMATIC1111 API as
checkpoints (``GET /sdapi/v1/sd-models``, ``sd_model_checkpoint``). Aliases come from
``ATELIER_MODEL_ALIASES`` (``dall-e-3=openai/gpt-image-1,...``); a name not set there among
:data:`DEFAULT_ALIASES` means the studio's default provider's default model, so a fresh
install answers every client on the offline renderer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from backend.providers.registry import ProviderRegistry

#: names OpenAI clients send without being asked (their own defaults); each maps to the
#: default provider's default model unless ATELIER_MODEL_ALIASES says otherwise
DEFAULT_ALIASES = ("dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5")


@dataclass(frozen=True)
class ClientModel:
    """One model as clients name it."""

    id: str
    provider: str
    model: str
    label: str
    available: bool


def model_id(provider: str, model: str) -> str:
    return f"{provider}/{model}"


def client_models(registry: ProviderRegistry) -> list[ClientModel]:
    """Every provider's models, in the registry's order (offline first)."""
    found = []
    for provider in registry:
        available = provider.availability()[0]
        for info in provider.models():
            found.append(ClientModel(model_id(provider.id, info.id), provider.id, info.id, info.label, available))
    return found


def resolve_model(
    name: str,
    registry: ProviderRegistry,
    aliases: Mapping[str, str],
    default_provider: str,
) -> ClientModel | None:
    """The model a client's ``name`` means: a stable id, an alias, or a bare model id that
    one provider alone has; None when it names none (the dialect answers 404)."""
    models = client_models(registry)
    by_id = {m.id: m for m in models}
    if name in by_id:
        return by_id[name]
    target = aliases.get(name)
    if target is None and name in DEFAULT_ALIASES:
        provider = registry.get(default_provider)
        target = model_id(default_provider, provider.default_model()) if provider else None
    if target is not None:
        return by_id.get(target)
    bare = [m for m in models if m.model == name]
    return bare[0] if len(bare) == 1 else None
