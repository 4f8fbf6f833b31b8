"""What the studio offers: health, providers, styles, aspect ratios."""

from __future__ import annotations

from flask import Blueprint, jsonify

from backend import __version__
from backend.providers.base import ASPECT_RATIOS
from backend.services.styles import load_styles
from backend.web.context import principal, studio
from backend.web.openapi import api_route

bp = Blueprint("meta", __name__, url_prefix="/api")


@bp.get("/health")
@api_route("Health, version and the queue", responses={200: "Health"}, tags=("meta",))
def health():
    s = studio()
    return jsonify(
        {
            "status": "ok",
            "version": __version__,
            "async_mode": s.settings.async_mode,
            "default_provider": s.settings.default_provider,
            "queue": s.jobs.queue_snapshot(principal()),  # a member: the others' jobs as places
        }
    )


@bp.get("/providers")
@api_route("Providers and their models", responses={200: "Providers"}, tags=("meta",))
def providers():
    return jsonify({"providers": [p.to_json() for p in studio().registry]})


@bp.get("/styles")
@api_route("Style presets", responses={200: "Styles"}, tags=("meta",))
def styles():
    return jsonify({"styles": [s.to_json() for s in load_styles().values()]})


@bp.get("/aspect-ratios")
@api_route("Aspect ratios", responses={200: "AspectRatios"}, tags=("meta",))
def aspect_ratios():
    return jsonify({"aspect_ratios": [{"id": name, "ratio": round(r, 6)} for name, r in ASPECT_RATIOS.items()]})
