"""The models of the OpenAI Images API (``/v1``): which model a request's ``model`` means,
and the list ``GET /v1/models`` answers (docs/api.md, "Model names").

The names are those of services/client_models.py (``<provider>/<model>``, aliases); this
module adds OpenAI's words: the default when no model is named, a 404 for a name that
means none, and the listing of the available models and aliases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backend.providers.base import ModelInfo
from backend.providers.registry import ProviderRegistry
from backend.services.client_models import DEFAULT_ALIASES, ClientModel, client_models, model_id, resolve_model
from backend.services.openai_dialect import OpenAIError


def _shown(name: str) -> str:
    return ascii(name[:200])[1:-1]


@dataclass(frozen=True)
class ModelCatalog:
    """The studio's models as an OpenAI client names them."""

    registry: ProviderRegistry
    aliases: Mapping[str, str]
    default_provider: str
    #: the ``created`` of every model (when the server started)
    created: int

    def find(self, name: str) -> ClientModel | None:
        return resolve_model(name, self.registry, self.aliases, self.default_provider)

    def require(self, name: str | None) -> ClientModel:
        """The model a request names (the default provider's default model when none), or a 404."""
        if name is None:
            provider = self.registry.get(self.default_provider)
            found = self.find(model_id(provider.id, provider.default_model())) if provider else None
        else:
            found = self.find(name)
        if found is None:
            message = f"The model '{_shown(name or '')}' does not exist (GET /v1/models lists the models here)"
            raise OpenAIError(404, message, "model", "model_not_found")
        return found

    def info(self, model: ClientModel) -> ModelInfo:
        provider = self.registry.get(model.provider)
        info = provider.model(model.model) if provider else None
        if info is None:  # the registry changed under the request
            raise OpenAIError(404, f"The model '{model.id}' does not exist", "model", "model_not_found")
        return info

    def habitual(self, name: str | None) -> bool:
        """Whether a client named no model, or one of OpenAI's by habit that the owner did not map."""
        return name is None or (name in DEFAULT_ALIASES and name not in self.aliases)

    def model_json(self, name: str, model: ClientModel) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": self.created, "owned_by": model.provider}

    def listing(self) -> dict[str, Any]:
        """``GET /v1/models``: the available models, then each alias whose model is available."""
        models = [self.model_json(m.id, m) for m in client_models(self.registry) if m.available]
        for name in dict.fromkeys([*self.aliases, *DEFAULT_ALIASES]):
            model = self.find(name)
            if model is not None and model.available and model.id != name:
                models.append(self.model_json(name, model))
        return {"object": "list", "data": models}

    def one(self, name: str) -> dict[str, Any]:
        """``GET /v1/models/<name>``: an available model, or a 404."""
        model = self.find(name)
        if model is None or not model.available:
            message = f"The model '{_shown(name)}' does not exist or is not available here (see GET /v1/models)"
            raise OpenAIError(404, message, "model", "model_not_found")
        return self.model_json(name, model)
