"""The order of the queue: where a new job goes, where a moved one lands, and the ranks
that keep that order across restarts.

The order is a list of queued jobs. A new job goes behind the last queued job of its
priority or higher, so higher priorities run first and each priority is first come,
first served; a job someone moved keeps the place it was moved to (a new job never jumps
it unless the new job's priority puts it there). Each job stores a ``rank``, a number
that sorts like the list, so a restart rebuilds the same order from the job store.
A job's new rank is the midpoint of its neighbours' ranks; when two neighbours are too
close to split, every queued job is ranked again 1, 2, 3 …

Fair round robin between users (accounts, issue 13) fits here: ``insert_index`` would
take the user of each queued job and put a new job behind the last one of its priority
*and of its turn*, the turn counting that user's jobs already queued at that priority.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Priority = Literal["high", "normal", "low"]
PRIORITIES: tuple[Priority, ...] = ("high", "normal", "low")
DEFAULT_PRIORITY: Priority = "normal"
#: the smallest gap between two ranks that a midpoint still splits safely
MIN_GAP = 1e-9


def weight(priority: str) -> int:
    """Higher runs first: high 2, normal 1, low 0 (an unknown one counts as normal)."""
    return {"high": 2, "normal": 1, "low": 0}.get(priority, 1)


def insert_index(queued_priorities: Sequence[str], priority: str) -> int:
    """Where a new job of ``priority`` goes in a queue whose jobs have
    ``queued_priorities`` (in queue order): behind the last job of its priority or higher."""
    mine = weight(priority)
    for index in range(len(queued_priorities) - 1, -1, -1):
        if weight(queued_priorities[index]) >= mine:
            return index + 1
    return 0


def rank_between(before: float | None, after: float | None) -> float | None:
    """A rank between two neighbours' (None: no neighbour on that side); None when the
    gap is too small to split, and the whole queue needs ranking again."""
    if before is None and after is None:
        return 1.0
    if before is None:
        assert after is not None
        return after - 1.0
    if after is None:
        return before + 1.0
    if after - before < MIN_GAP:
        return None
    return (before + after) / 2


def move_index(to: int | str, length: int) -> int:
    """The index a job moves to: ``"front"``, ``"back"`` or a 1-based position, already
    checked to be within 1..``length`` (the queue's length, the moved job included)."""
    if to == "front":
        return 0
    if to == "back":
        return length - 1
    assert isinstance(to, int) and 1 <= to <= length
    return to - 1
