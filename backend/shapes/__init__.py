"""Every answer of the REST API, declared once as a TypedDict.

The code that builds an answer returns one of these (``image_json`` -> ``Image``,
``job_json`` -> ``Job``, ``Provider.to_json`` -> ``ProviderInfo`` …): a TypedDict is a plain
dict at run time, so an answer costs nothing more to build. The OpenAPI document's
``components/schemas`` are generated from the same classes by pydantic
(``component_schemas``), and the SPA's types from the document (web/api_types.py), so the
code, the document and the TypeScript types cannot drift apart without a test failing
(tests/test_shapes.py, tests/test_openapi.py).

Objects list the keys always present as ``required``; ``NotRequired`` marks the ones that
may be absent; a string below a key is its description in the document. The document
leaves ``additionalProperties`` open for clients (a new key is not a breaking change);
tests/test_shapes.py closes them to check our own answers exactly.

This package imports nothing of the rest of Atelier, and pydantic only when the document
is built: providers, storage, services, web and workers may all use it at no cost.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType
from typing import Any

from backend.shapes import (
    accounts,
    boards,
    errors,
    gallery_status,
    images,
    jobs,
    matrix,
    meta,
    prompts,
    providers,
    tools,
    usage,
)
from backend.shapes.accounts import AuthInfo, KeyCreated, Keys, Me, SessionStarted, UserEnvelope, Users
from backend.shapes.boards import Board, BoardEnvelope, Boards
from backend.shapes.errors import Error, ErrorBody, Warning, error_body
from backend.shapes.gallery_status import GalleryStatus, IndexStatus
from backend.shapes.images import (
    Deleted,
    Image,
    ImageDetail,
    ImageEnvelope,
    ImagePage,
    Imported,
    Parameters,
    ParsedMetadata,
    Trash,
)
from backend.shapes.jobs import (
    Job,
    JobEnvelope,
    JobError,
    JobPage,
    JobRequest,
    JobSubmitted,
    Queue,
    QueueCancelled,
    QueuePaused,
)
from backend.shapes.matrix import Matrix, MatrixEnvelope, MatrixSubmitted
from backend.shapes.meta import AspectRatios, Health, Style, Styles, Templates
from backend.shapes.prompts import PromptEnhancement, PromptExpansions, PromptPage
from backend.shapes.providers import ModelInfo, ProviderInfo, Providers, ProviderSettings, ProviderTest, StepRange
from backend.shapes.tools import EditOperations, SocialFormats, ToolInfo, Tools
from backend.shapes.usage import Budget, Estimate, Usage

__all__ = [
    "COMPONENTS",
    "Board",
    "Error",
    "ErrorBody",
    "GalleryStatus",
    "IndexStatus",
    "Image",
    "Job",
    "JobError",
    "Matrix",
    "JobRequest",
    "ModelInfo",
    "ProviderInfo",
    "StepRange",
    "Style",
    "ToolInfo",
    "Warning",
    "component_schemas",
    "error_body",
]

#: the answers routes name in ``responses=`` (web/openapi.py); what they contain (Image,
#: ModelInfo, …) becomes a component too, under its class name
COMPONENTS: tuple[Any, ...] = (
    Error,
    Warning,
    Image,
    ImagePage,
    ImageEnvelope,
    ImageDetail,
    Parameters,
    Deleted,
    Trash,
    ParsedMetadata,
    Imported,
    Job,
    JobEnvelope,
    JobSubmitted,
    JobPage,
    Queue,
    QueuePaused,
    QueueCancelled,
    Health,
    Providers,
    ProviderSettings,
    ProviderTest,
    Styles,
    AspectRatios,
    Tools,
    EditOperations,
    SocialFormats,
    Templates,
    Budget,
    Usage,
    Estimate,
    PromptPage,
    PromptExpansions,
    PromptEnhancement,
    MatrixEnvelope,
    MatrixSubmitted,
    AuthInfo,
    SessionStarted,
    Me,
    Users,
    UserEnvelope,
    Keys,
    KeyCreated,
    Boards,
    BoardEnvelope,
    GalleryStatus,
)

REF_TEMPLATE = "#/components/schemas/{model}"
MODULES: tuple[ModuleType, ...] = (
    accounts,
    boards,
    errors,
    gallery_status,
    images,
    jobs,
    matrix,
    meta,
    prompts,
    providers,
    tools,
    usage,
)


def _read_key_docstrings() -> None:
    """Tell pydantic to take each key's description from the string below it."""
    for module in MODULES:
        for value in vars(module).values():
            if isinstance(value, type) and hasattr(value, "__required_keys__"):  # a TypedDict
                config = getattr(value, "__pydantic_config__", None) or {}
                value.__pydantic_config__ = {**config, "use_attribute_docstrings": True}  # type: ignore[attr-defined]


@cache
def component_schemas() -> dict[str, dict[str, Any]]:
    """``components/schemas`` of the OpenAPI document, by component name (built once)."""
    from pydantic import TypeAdapter
    from pydantic.json_schema import GenerateJsonSchema

    class OpenApiSchema(GenerateJsonSchema):
        """pydantic's JSON Schema without a ``title`` on each property (the key says it)."""

        def field_title_should_be_set(self, schema: Any) -> bool:
            return False

    _read_key_docstrings()
    _, top = TypeAdapter.json_schemas(
        [(shape, "serialization", TypeAdapter(shape)) for shape in COMPONENTS],
        ref_template=REF_TEMPLATE,
        schema_generator=OpenApiSchema,
    )
    schemas = top["$defs"]
    for schema in schemas.values():
        schema.pop("title", None)  # the component's name says it
    return dict(sorted(schemas.items()))
