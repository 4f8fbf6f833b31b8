"""The web studio at ``/`` (the built SPA in frontend/dist), a plain page when it is not
built, and the API docs it links."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, send_from_directory

bp = Blueprint("pages", __name__)
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
YEAR = 365 * 24 * 3600

INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Atelier</title>
<style>body{font:16px/1.5 system-ui,sans-serif;background:#111;color:#ddd;max-width:40em;margin:4em auto;padding:0 1em}
a{color:#8cf}code{background:#222;padding:.1em .3em}</style></head>
<body><h1>Atelier</h1>
<p>A self-hosted AI image studio. The web studio is not built on this server yet; the API is running.</p>
<ul>
<li><a href="/docs/api.md">REST API</a> (its <a href="/api/openapi.json">OpenAPI document</a>) and
<a href="/docs/events.md">Socket.IO events</a></li>
<li><a href="/api/health">/api/health</a>, <a href="/api/providers">/api/providers</a>,
<a href="/api/styles">/api/styles</a>, <a href="/api/images">/api/images</a>, <a href="/api/jobs">/api/jobs</a></li>
</ul>
<p>Try: <code>curl -X POST localhost:5000/api/jobs -H 'Content-Type: application/json'
 -d '{"prompt":"a lake at sunset"}'</code></p>
</body></html>"""


def _spa_dir() -> Path:
    return current_app.extensions["atelier"].settings.spa_dir


@bp.get("/")
def index() -> Response:
    spa_dir = _spa_dir()
    if (spa_dir / "index.html").is_file():
        # never cached: it names the hashed assets of the current build
        response = send_from_directory(spa_dir, "index.html", max_age=0)
        response.headers["Cache-Control"] = "no-cache"
        return response
    return Response(INDEX, mimetype="text/html")


@bp.get("/assets/<path:name>")
def spa_asset(name: str) -> Response:
    """Vite's hashed build files: the name changes with the content, so cache for a year."""
    folder = _spa_dir() / "assets"
    if not folder.is_dir():
        abort(404)
    response = send_from_directory(folder, name, max_age=YEAR)
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/docs/<name>.md")
def doc(name: str) -> Response:
    if name not in ("api", "events", "benchmarks"):
        abort(404)
    path = DOCS / f"{name}.md"
    if not path.is_file():
        abort(404)
    return Response(path.read_text(encoding="utf-8"), mimetype="text/markdown; charset=utf-8")
