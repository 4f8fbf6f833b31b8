"""Listing and export parameters -> an ImageQuery, with a 422 naming any bad one.

``q`` is free text searched in prompts and negative prompts, plus ``seed:123`` and
``model:xyz`` terms. Every other word becomes a quoted FTS5 prefix term, so FTS syntax
(``"``, ``*``, ``NEAR``, ``AND``, parentheses) is searched as text and can never make a
query fail; a search with no letters or digits at all falls back to a substring match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from backend.services.validation import SESSION_RE, ValidationError
from backend.storage.gallery_index import ImageQuery

FILTERS = (
    "provider",
    "model",
    "style",
    "aspect_ratio",
    "from",
    "to",
    "favorite",
    "job",
    "session",
    "q",
    "order",
    "ids",
)
PAGING = ("cursor", "limit")
MAX_IDS = 10_000
_ASPECT = re.compile(r"^\d{1,3}:\d{1,3}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TERM = re.compile(r"^(seed|model):(.*)$", re.IGNORECASE)
_WORD = re.compile(r"\w", re.UNICODE)
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def parse_date(name: str, raw: str, end: bool) -> str:
    """``2026-11-21`` (whole day) or an ISO date-time -> the ISO UTC form created_at uses."""
    text = raw.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            when = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            if end:
                when += timedelta(days=1)  # 'to' a day includes that whole day
        else:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except ValueError:
        raise ValidationError(name, f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 date-time") from None
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fts_expression(words: list[str]) -> str:
    """Each word a quoted prefix term (quotes doubled), all required."""
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words)


def parse_search(q: str, query: ImageQuery) -> None:
    words: list[str] = []
    for token in q.split():
        term = _TERM.match(token)
        if term and term.group(2):
            kind, value = term.group(1).lower(), term.group(2)
            if kind == "seed":
                if not value.isdigit() or int(value) >= 2**63:
                    raise ValidationError("q", "seed: must be followed by a whole number, e.g. seed:1234")
                query.seed = int(value)
            else:
                query.model_like = value
            continue
        if _WORD.search(token):
            words.append(token)
    if words:
        query.fts = fts_expression(words)
    elif q.strip() and not (query.seed is not None or query.model_like):
        query.text_like = q.strip()


def build_query(
    args: Mapping[str, str],
    known_values: Callable[[str], set[str]],
    allowed: tuple[str, ...] = FILTERS + PAGING,
) -> ImageQuery:
    """``known_values(name)`` lists the values a provider / style filter may take."""
    for name in args:
        if name not in allowed:
            raise ValidationError(name, f"unknown parameter {name!r}; known: {', '.join(allowed)}")
    query = ImageQuery()

    def value(name: str) -> str | None:
        raw = args.get(name)
        return raw if raw not in (None, "") else None

    order = value("order") or "newest"
    if order not in ("newest", "oldest"):
        raise ValidationError("order", "order must be newest or oldest")
    query.newest_first = order == "newest"

    for name in ("provider", "style"):
        raw = value(name)
        if raw is not None:
            known = known_values(name)
            if raw not in known:
                raise ValidationError(name, f"unknown {name} {raw!r}; known: {', '.join(sorted(known)) or 'none'}")
            setattr(query, name, raw)
    if (raw := value("model")) is not None:
        query.model = raw
    if (raw := value("aspect_ratio")) is not None:
        if not _ASPECT.match(raw):
            raise ValidationError("aspect_ratio", "aspect_ratio must look like 16:9")
        query.aspect_ratio = raw
    if (raw := value("favorite")) is not None:
        if raw.lower() not in _TRUE + _FALSE:
            raise ValidationError("favorite", "favorite must be true or false")
        query.favorite = raw.lower() in _TRUE
    if (raw := value("job")) is not None:
        if not _ID.match(raw):
            raise ValidationError("job", "job must be a job id")
        query.job_id = raw
    if (raw := value("session")) is not None:
        if not SESSION_RE.match(raw):
            raise ValidationError("session", "session must be 1-64 letters, digits, '-' or '_'")
        query.session = raw
    if (raw := value("from")) is not None:
        query.created_from = parse_date("from", raw, end=False)
    if (raw := value("to")) is not None:
        query.created_to = parse_date("to", raw, end=True)
    if query.created_from and query.created_to and query.created_from >= query.created_to:
        raise ValidationError("to", "to must be after from")
    if (raw := value("ids")) is not None:
        ids = [i for i in raw.split(",") if i]
        if len(ids) > MAX_IDS or not all(_ID.match(i) for i in ids):
            raise ValidationError("ids", f"ids must be up to {MAX_IDS} comma-separated image ids")
        query.ids = ids
    if (raw := value("q")) is not None:
        if len(raw) > 1000:
            raise ValidationError("q", "q must be at most 1000 characters")
        parse_search(raw, query)
    return query
