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

from backend.services.schema import Field, ValidationError
from backend.services.validation import SESSION_PATTERN
from backend.storage.gallery_index import ImageQuery

MAX_IDS = 10_000
MAX_Q = 1000
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_ID = re.compile(ID_PATTERN)
_TERM = re.compile(r"^(seed|model):(.*)$", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]+")  # str.isdigit() also takes '²', which int() refuses
_WORD = re.compile(r"\w", re.UNICODE)
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
_DATE = "YYYY-MM-DD (a 'to' day is included whole) or an ISO 8601 date-time (UTC if no zone)"

#: The selection parameters of GET /api/images and GET /api/export.zip, read by build_query
#: and by the OpenAPI document. provider/style values are checked against ``known_values``.
SELECTION = (
    Field("provider", "string", "exact; a provider the studio offers or the gallery holds"),
    Field("model", "string", "exact model id"),
    Field("style", "string", "exact; a style the studio offers or the gallery holds"),
    Field(
        "aspect_ratio", "string", "e.g. 16:9", pattern=r"^\d{1,3}:\d{1,3}$", message="aspect_ratio must look like 16:9"
    ),
    Field("from", "string", f"inclusive; {_DATE}", extra={"anyOf": [{"format": "date"}, {"format": "date-time"}]}),
    Field("to", "string", f"exclusive; {_DATE}", extra={"anyOf": [{"format": "date"}, {"format": "date-time"}]}),
    Field(
        "favorite",
        "string",
        "favourites only (true) or none of them (false)",
        enum=_TRUE + _FALSE,
        message="favorite must be true or false",
    ),
    Field("job", "string", "job id", pattern=ID_PATTERN, message="job must be a job id"),
    Field(
        "session",
        "string",
        "client session id (as sent with POST /api/jobs)",
        pattern=SESSION_PATTERN,
        message="session must be 1-64 letters, digits, '-' or '_'",
    ),
    Field(
        "q",
        "string",
        "words searched in prompt and negative prompt (every word required, prefix match); "
        "seed:123 and model:xyz terms",
        max_length=MAX_Q,
        message=f"q must be at most {MAX_Q} characters",
    ),
    Field(
        "order",
        "string",
        "newest or oldest first",
        enum=("newest", "oldest"),
        default="newest",
        message="order must be newest or oldest",
    ),
    Field("board", "string", "a board's id: its images only", pattern=ID_PATTERN, message="board must be a board id"),
    Field(
        "ids",
        "string",
        f"up to {MAX_IDS} comma-separated image ids",
        pattern=r"^[A-Za-z0-9_,-]*$",
        message=f"ids must be up to {MAX_IDS} comma-separated image ids",
    ),
)
#: a page of the image listing: up to MAX_LIMIT, so the whole of 20,000 images is 20 requests
MAX_LIMIT = 1000
LIMIT = Field("limit", "integer", "items per page", default=50, minimum=1, maximum=MAX_LIMIT)
CURSOR = Field("cursor", "string", "next_cursor of the previous page")
FILTERS = tuple(f.name for f in SELECTION)
PAGING = (CURSOR.name, LIMIT.name)
SELECTION_BY_NAME = {f.name: f for f in SELECTION}


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
    except (ValueError, OverflowError):  # OverflowError: a zone or a whole day past year 1 or 9999
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
                if not _DIGITS.fullmatch(value) or len(value) > 20 or int(value) >= 2**64:
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

    def checked(name: str) -> str | None:
        return SELECTION_BY_NAME[name].check_bounds(value(name))

    order = checked("order") or "newest"
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
    if (raw := checked("aspect_ratio")) is not None:
        query.aspect_ratio = raw
    if (raw := value("favorite")) is not None:
        query.favorite = SELECTION_BY_NAME["favorite"].check_bounds(raw.lower()) in _TRUE
    if (raw := checked("job")) is not None:
        query.job_id = raw
    if (raw := checked("session")) is not None:
        query.session = raw
    if (raw := value("from")) is not None:
        query.created_from = parse_date("from", raw, end=False)
    if (raw := value("to")) is not None:
        query.created_to = parse_date("to", raw, end=True)
    if query.created_from and query.created_to and query.created_from >= query.created_to:
        raise ValidationError("to", "to must be after from")
    if (raw := checked("ids")) is not None:
        ids = [i for i in raw.split(",") if i]
        if len(ids) > MAX_IDS or not all(_ID.match(i) for i in ids):
            raise SELECTION_BY_NAME["ids"].fail("")
        query.ids = ids
    if (raw := checked("q")) is not None:
        parse_search(raw, query)
    return query
