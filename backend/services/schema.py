"""Request shapes declared once, as data (the answers are TypedDicts: backend/shapes/).

A ``Field`` holds a value's type, bounds, pattern and allowed values. The validators
(services/validation.py, services/gallery_query.py, web/context.py, the upload routes)
check requests against these declarations, and the OpenAPI document
(web/openapi.py) is rendered from the very same objects, so a bound lives in one place.

Allowed values may be a callable evaluated when the document is built (the registered
providers, the style names): it receives the ``env`` the document is built for (the
running Studio) and returns the values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

Enum = Sequence[Any] | Callable[[Any], Iterable[Any]]

_TYPE_WORDS = {"string": "a string", "integer": "an integer", "boolean": "true or false", "array": "a list"}


class ValidationError(Exception):
    """A request value that cannot be used: HTTP 422 naming ``field``."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Field:
    """One named value of a request: a body property, a query, path or form parameter."""

    name: str
    type: str  # JSON Schema type: string, integer, number, boolean, array, object
    description: str = ""
    required: bool = False
    nullable: bool = False  # null is accepted and means "the default"
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None  # a Python regex (and an ECMA one: keep to the common subset)
    enum: Enum | None = None
    format: str | None = None  # "binary" for an uploaded file, "date-time", …
    items: Field | None = None  # for arrays
    min_items: int | None = None
    max_items: int | None = None
    #: the message for any bound / pattern / enum failure, instead of the generic one; a
    #: callable gets the refused value (e.g. ``lambda v: f"unknown mode {v!r}"``)
    message: str | Callable[[Any], str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # more JSON Schema keywords, as they are

    # --- the document ------------------------------------------------------------------
    def values(self, env: Any = None) -> list[Any] | None:
        if self.enum is None:
            return None
        values = self.enum(env) if callable(self.enum) else self.enum
        return list(dict.fromkeys(values))

    def json_schema(self, env: Any = None) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": [self.type, "null"] if self.nullable else self.type}
        if self.description:
            schema["description"] = self.description
        if self.default is not None:
            schema["default"] = self.default
        for key, value in (
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("minLength", self.min_length),
            ("maxLength", self.max_length),
            ("pattern", self.pattern),
            ("format", self.format),
            ("minItems", self.min_items),
            ("maxItems", self.max_items),
        ):
            if value is not None:
                schema[key] = value
        values = self.values(env)
        if values is not None:
            schema["enum"] = values + [None] if self.nullable else values
        if self.items is not None:
            schema["items"] = self.items.json_schema(env)
        schema.update(self.extra)
        return schema

    # --- the checks --------------------------------------------------------------------
    def fail(self, generic: str, value: Any = None) -> ValidationError:
        message = self.message(value) if callable(self.message) else self.message
        return ValidationError(self.name, message or generic)

    def check_type(self, value: Any) -> Any:
        """``value`` if it has this field's type, else a 422. None (absent) passes: whether a
        field may be left out is the caller's check, with its own message."""
        if value is None:
            return None
        ok = {
            "string": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "array": isinstance(value, list),
            "object": isinstance(value, dict),
        }[self.type]
        if not ok:
            raise ValidationError(self.name, f"{self.name} must be {_TYPE_WORDS.get(self.type, self.type)}")
        return value

    def check_bounds(self, value: Any, env: Any = None) -> Any:
        """The declared bounds, pattern and allowed values (None always passes)."""
        if value is None:
            return None
        if self.minimum is not None or self.maximum is not None:
            low = self.minimum if self.minimum is not None else value
            high = self.maximum if self.maximum is not None else value
            if not low <= value <= high:
                if self.minimum is not None and self.maximum is not None:
                    raise self.fail(f"{self.name} must be between {self.minimum} and {self.maximum}", value)
                bound = f"at least {self.minimum}" if self.minimum is not None else f"at most {self.maximum}"
                raise self.fail(f"{self.name} must be {bound}", value)
        if self.max_length is not None and isinstance(value, str) and len(value) > self.max_length:
            raise self.fail(f"{self.name} must be at most {self.max_length} characters", value)
        if self.min_length is not None and isinstance(value, str) and len(value) < self.min_length:
            raise self.fail(f"{self.name} must be at least {self.min_length} characters", value)
        if self.pattern is not None and isinstance(value, str) and not matches(self.pattern, value):
            raise self.fail(f"{self.name} is not in the expected form", value)
        if isinstance(value, list):
            if self.min_items is not None and len(value) < self.min_items:
                raise self.fail(f"{self.name} must have at least {self.min_items} items", value)
            if self.max_items is not None and len(value) > self.max_items:
                raise self.fail(f"{self.name} must have at most {self.max_items} items", value)
            if self.items is not None:
                for item in value:
                    if item is None:  # null is "absent" for a value, never for a list item
                        raise self.fail(f"{self.name} must not hold null", value)
                    self.items.check(item, env)
        if self.enum is not None and not callable(self.enum) and value not in self.enum:
            raise self.fail(f"{self.name} must be one of {', '.join(map(str, self.enum))}", value)
        return value

    def check(self, value: Any, env: Any = None) -> Any:
        return self.check_bounds(self.check_type(value), env)


@dataclass(frozen=True)
class Shape:
    """A JSON object of declared fields (a request body)."""

    fields: tuple[Field, ...]
    description: str = ""
    additional: bool = False  # unknown keys allowed?

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    def json_schema(self, env: Any = None) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {f.name: f.json_schema(env) for f in self.fields},
            "additionalProperties": self.additional,
        }
        required = [f.name for f in self.fields if f.required]
        if required:
            schema["required"] = required
        if self.description:
            schema["description"] = self.description
        return schema

    def with_fields(self, *fields: Field, without: Iterable[str] = (), description: str = "") -> Shape:
        """This shape with ``fields`` added (or replaced by name) and ``without`` left out."""
        dropped = set(without) | {f.name for f in fields}
        kept = tuple(f for f in self.fields if f.name not in dropped)
        return Shape(kept + fields, description or self.description, self.additional)

    def check_object(self, body: Any) -> dict[str, Any]:
        """The body as a dict with no unknown keys, else a 422 naming the first unknown one."""
        if not isinstance(body, dict):
            raise ValidationError(None, "the request body must be a JSON object")
        if not self.additional:
            unknown = sorted(set(body) - self.names)
            if unknown:
                raise ValidationError(unknown[0], f"unknown field {unknown[0]!r}")
        return body


@dataclass(frozen=True)
class AnyOf:
    """A JSON body that is one of several shapes (e.g. an estimate of any job kind)."""

    shapes: tuple[Shape, ...]
    description: str = ""

    def json_schema(self, env: Any = None) -> dict[str, Any]:
        schema: dict[str, Any] = {"anyOf": [shape.json_schema(env) for shape in self.shapes]}
        if self.description:
            schema["description"] = self.description
        return schema


def matches(pattern: str, value: str) -> bool:
    """``pattern`` as JSON Schema (ECMA) reads it: a final ``$`` is the very end of the
    text, never before a trailing newline as in Python."""
    found = re.search(pattern, value)
    return found is not None and (not pattern.endswith("$") or found.end() == len(value))


def ref(name: str) -> dict[str, str]:
    """A reference to a named response schema (components/schemas)."""
    return {"$ref": f"#/components/schemas/{name}"}
