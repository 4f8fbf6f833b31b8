"""What the API answers, as JSON Schema data: the components of the OpenAPI document.

Each shape follows the function that makes it (``jobs.job_json``, ``gallery.image_json``,
``Provider.to_json``, ``errors.error_response``); the schemathesis run in the tests checks
every response against these. Objects list the keys always present as ``required`` and
leave ``additionalProperties`` open, so a new key is not a breaking change.
"""

from __future__ import annotations

from typing import Any

from backend.services.schema import nullable, ref

STRING: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
NUMBER: dict[str, Any] = {"type": "number"}
BOOL: dict[str, Any] = {"type": "boolean"}
OPT_STRING: dict[str, Any] = {"type": ["string", "null"]}
OPT_INT: dict[str, Any] = {"type": ["integer", "null"]}
OPT_NUMBER: dict[str, Any] = {"type": ["number", "null"]}
ANY_OBJECT: dict[str, Any] = {"type": "object"}


def obj(properties: dict[str, Any], description: str = "", optional: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": [k for k in properties if k not in optional],
    }
    if description:
        schema["description"] = description
    return schema


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


SAFE_ZONE = obj({side: NUMBER for side in ("top", "bottom", "left", "right")}, "fractions kept clear of the UI")
USAGE_SUMS: dict[str, Any] = {
    "jobs": INT,
    "images": INT,
    "failures": INT,
    "pending": INT,
    "cost_usd": NUMBER,
    "estimated_usd": NUMBER,
    "unpriced_jobs": INT,
}

COMPONENTS: dict[str, dict[str, Any]] = {
    "Error": obj(
        {
            "error": obj(
                {"code": STRING, "message": STRING, "field": {"type": "string", "description": "the bad value"}},
                optional=("field",),
            )
        },
        "Every 4xx/5xx answer of the API.",
    ),
    "Warning": obj(
        {"field": STRING, "message": STRING, "requested": {}, "used": {}},
        "A value the chosen model could not honour, and the one used instead.",
    ),
    "Image": obj(
        {
            "id": STRING,
            "path": {"type": "string", "description": "relative to the gallery folder"},
            "url": STRING,
            "thumb_url": STRING,
            "thumb_512_url": STRING,
            "width": OPT_INT,
            "height": OPT_INT,
            "format": OPT_STRING,
            "bytes": INT,
            "readable": BOOL,
            "favorite": BOOL,
            "prompt": STRING,
            "negative_prompt": STRING,
            "style": OPT_STRING,
            "aspect_ratio": OPT_STRING,
            "provider": OPT_STRING,
            "model": OPT_STRING,
            "seed": OPT_INT,
            "job_id": OPT_STRING,
            "session": OPT_STRING,
            "created_at": STRING,
        },
        "One image of the gallery.",
    ),
    "Job": obj(
        {
            "id": STRING,
            "status": {"enum": ["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]},
            "created_at": STRING,
            "started_at": OPT_STRING,
            "finished_at": OPT_STRING,
            "request": ANY_OBJECT,
            "provider": STRING,
            "model": OPT_STRING,
            "session": OPT_STRING,
            "position": {"type": ["integer", "null"], "description": "place in the queue (1 = next) while queued"},
            "progress": {"type": ["number", "null"], "description": "0..1, null when it cannot be measured"},
            "message": STRING,
            "images": array(ref("Image")),
            "warnings": array(ref("Warning")),
            "error": nullable(obj({"code": STRING, "message": STRING, "retryable": BOOL}, optional=("retryable",))),
            "cost_usd": {"type": ["number", "null"], "description": "the estimate when submitted; null: unpriced"},
            "cost_actual_usd": {
                "type": ["number", "null"],
                "description": "set when the job ends: what the provider reported, else the estimate for what was made",
            },
            "served_by": {"type": ["string", "null"], "description": "the provider that made the images (fallback)"},
            "kind": {"enum": ["generate", "edit", "upscale", "social"]},
            "tool": nullable(
                obj(
                    {"source": obj({"image_id": STRING, "path": STRING})},
                    "The tool's own request (source image, operation, targets …); null for generate. "
                    'An inpaint mask shows as "attached".',
                    optional=("source",),
                )
            ),
            "retry_of": OPT_STRING,
            "cancel_requested": BOOL,
            "provider_notes": array(ANY_OBJECT),
            "last_seq": INT,
        },
        "A generation job.",
    ),
    "JobEnvelope": obj({"job": ref("Job")}),
    "JobSubmitted": obj({"job": ref("Job"), "warnings": array(ref("Warning"))}),
    "JobPage": obj({"items": array(ref("Job")), "next_cursor": OPT_STRING}),
    "ImagePage": obj({"items": array(ref("Image")), "next_cursor": OPT_STRING, "total": INT}),
    "ImageEnvelope": obj({"image": ref("Image")}),
    "Parameters": nullable(
        obj({"source": STRING, "raw": {}}, "Generation parameters read from the file (A1111, ComfyUI, …).")
    ),
    "ImageDetail": obj({"image": ref("Image"), "metadata": nullable(ANY_OBJECT), "parameters": ref("Parameters")}),
    "Deleted": obj(
        {"deleted": array(STRING), "not_found": array(STRING), "restorable_days": INT}, optional=("not_found",)
    ),
    "Trash": obj(
        {"items": array(obj({"id": STRING, "path": STRING, "deleted_at": NUMBER, "purge_at": NUMBER}))},
    ),
    "ParsedMetadata": obj(
        {
            "file": STRING,
            "format": OPT_STRING,
            "width": INT,
            "height": INT,
            "found": BOOL,
            "parameters": ref("Parameters"),
        }
    ),
    "Imported": obj({"images": array(ref("Image"))}),
    "Health": obj(
        {
            "status": {"const": "ok"},
            "version": STRING,
            "async_mode": STRING,
            "default_provider": STRING,
            "queue": obj({"queued": array(STRING), "running": array(STRING)}),
        }
    ),
    "Providers": obj(
        {
            "providers": array(
                obj(
                    {
                        "id": STRING,
                        "label": STRING,
                        "available": BOOL,
                        "reason": OPT_STRING,
                        "default_model": OPT_STRING,
                        "models": array(
                            obj(
                                {
                                    "id": STRING,
                                    "label": STRING,
                                    "aspect_ratios": {
                                        "type": "object",
                                        "additionalProperties": obj({"width": INT, "height": INT}),
                                    },
                                    "default_aspect_ratio": STRING,
                                    "max_images": INT,
                                    "supports_seed": BOOL,
                                    "supports_negative_prompt": BOOL,
                                    "steps": nullable(obj({"min": INT, "max": INT, "default": INT})),
                                    "qualities": array(STRING),
                                    "default_quality": OPT_STRING,
                                    "price_per_image": OPT_NUMBER,
                                }
                            )
                        ),
                    }
                )
            )
        }
    ),
    "Styles": obj(
        {
            "styles": array(
                obj(
                    {
                        "name": STRING,
                        "label": STRING,
                        "description": STRING,
                        "prompt": STRING,
                        "negative_prompt": STRING,
                    }
                )
            )
        }
    ),
    "AspectRatios": obj({"aspect_ratios": array(obj({"id": STRING, "ratio": NUMBER}))}),
    "EditOperations": obj(
        {
            "operations": array(
                obj(
                    {
                        "id": STRING,
                        "description": STRING,
                        "fields": array(STRING),
                        "providers": array(
                            obj(
                                {
                                    "id": STRING,
                                    "label": STRING,
                                    "available": BOOL,
                                    "reason": OPT_STRING,
                                    "fields": array(STRING),
                                    "limits": {"type": "object", "additionalProperties": INT},
                                    "price_per_image": OPT_NUMBER,
                                }
                            )
                        ),
                    }
                )
            )
        }
    ),
    "SocialFormats": obj(
        {
            "platforms": array(
                obj(
                    {
                        "id": STRING,
                        "label": STRING,
                        "max_bytes": INT,
                        "formats": array(
                            obj(
                                {
                                    "id": {"type": "string", "description": "platform/format, for targets"},
                                    "platform": STRING,
                                    "format": STRING,
                                    "label": STRING,
                                    "width": INT,
                                    "height": INT,
                                    "safe_zone": SAFE_ZONE,
                                    "max_bytes": INT,
                                }
                            )
                        ),
                    }
                )
            )
        }
    ),
    "Templates": obj(
        {
            "templates": array(
                obj(
                    {
                        "id": STRING,
                        "name": STRING,
                        "description": STRING,
                        "prompt": {"type": "string", "description": "with {subject} to fill in"},
                        "tags": array(STRING),
                        "provider": STRING,
                        "model": STRING,
                        "style": STRING,
                        "aspect_ratio": STRING,
                        "social_target": OPT_STRING,
                        "width": {"type": ["integer", "null"], "description": "null: its model is not installed"},
                        "height": OPT_INT,
                        "available": BOOL,
                    }
                )
            )
        }
    ),
    "Budget": obj(
        {
            "monthly_budget_usd": {"type": ["number", "null"], "description": "ATELIER_MONTHLY_BUDGET_USD; null: none"},
            "month_spend_usd": NUMBER,
            "remaining_usd": OPT_NUMBER,
        }
    ),
    "Usage": obj(
        {
            "from": OPT_STRING,
            "to": OPT_STRING,
            "group_by": {"enum": ["provider", "model", "day", "kind"]},
            "groups": array(obj({"key": OPT_STRING, **USAGE_SUMS})),
            "totals": obj(USAGE_SUMS),
            "budget": ref("Budget"),
        }
    ),
    "Estimate": obj(
        {
            "kind": {"enum": ["generate", "edit", "upscale", "social"]},
            "provider": STRING,
            "model": OPT_STRING,
            "n": INT,
            "cost_usd": {"type": ["number", "null"], "description": "null: the provider has no price for it"},
            "priced": BOOL,
            "within_budget": BOOL,
            "budget": ref("Budget"),
            "warnings": array(ref("Warning")),
        }
    ),
}
