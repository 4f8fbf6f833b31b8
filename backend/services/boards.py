"""Boards: named collections of images, private to their owner or shared with every user.

A member sees their own boards and the shared ones; only the owner (or an admin) changes
a board, so a shared board is read-only for the other members. Images join a board by id
and are kept by path (storage/boards.py), so membership survives a rebuild of the index.
What a member may see is decided here on top of ``Principal.sees``: their own folder, plus
every image in a shared board.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Literal

from backend import shapes
from backend.services.gallery import Gallery, image_id_for, utc_now_iso
from backend.services.ownership import owner_filter, path_visible
from backend.services.principal import Principal
from backend.services.schema import ValidationError
from backend.storage.boards import BoardRecord, BoardStore, Visibility
from backend.storage.gallery_index import ImageQuery, ImageRow

BOARDS_FILE = ".atelier/boards.json"
MAX_NAME = 64
MAX_BOARDS = 1000
MAX_BOARD_IMAGES = 10_000
VISIBILITIES: tuple[Visibility, ...] = ("private", "shared")
#: a change to one board, given every board (to remove it) and the board
Change = Callable[[dict[str, BoardRecord], BoardRecord], object]


class BoardNotFound(Exception):
    """No board with this id that the caller may see (the same answer either way)."""


class BoardReadOnly(Exception):
    """A board the caller sees but may not change (another's shared board)."""


class ImageNotFound(Exception):
    """An image id the caller cannot see: none with this id, or not theirs."""

    def __init__(self, image_id: str) -> None:
        super().__init__(image_id)
        self.image_id = image_id


def check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("name", f"name must be a non-empty string of at most {MAX_NAME} characters")
    name = name.strip()
    if len(name) > MAX_NAME or not name.isprintable():
        raise ValidationError("name", f"name must be printable text of at most {MAX_NAME} characters")
    return name


def check_visibility(value: object) -> Visibility:
    if value not in VISIBILITIES:
        raise ValidationError("visibility", "visibility must be private or shared")
    return value  # type: ignore[return-value]


class BoardService:
    def __init__(self, gallery: Gallery) -> None:
        self.gallery = gallery
        self.store = BoardStore(gallery.root / BOARDS_FILE)

    # --- who sees what -------------------------------------------------------------------
    def shared_paths(self) -> frozenset[str]:
        return self.store.shared_paths()

    def image_visible(self, viewer: Principal, path: str) -> bool:
        """May ``viewer`` see the image at ``path`` (its own folder, or a shared board)?"""
        return path_visible(viewer, path, self.shared_paths)

    def visible_image(self, viewer: Principal, image_id: str) -> ImageRow | None:
        """The indexed image, when ``viewer`` may see it; None as for no such image."""
        row = self.gallery.get(image_id)
        return row if row is not None and self.image_visible(viewer, row.path) else None

    def own_image(self, viewer: Principal, image_id: str) -> ImageRow | None:
        """The image, when ``viewer`` may change it (trash, favourite): an admin any, a member
        those in their own folder (a shared board lends sight, not ownership)."""
        row = self.gallery.get(image_id)
        if row is None:
            return None
        own = owner_filter(viewer)
        return row if own is None or (own and row.path.startswith(own + "/")) else None

    def scope(self, query: ImageQuery, viewer: Principal) -> ImageQuery:
        """Narrow a listing or an export to what ``viewer`` may see."""
        own = owner_filter(viewer)
        if own is not None:
            query.folder = own + "/" if own else "\x00"  # no account: no folder matches
            query.also_paths = sorted(self.shared_paths())
        return query

    @staticmethod
    def may_see(viewer: Principal, board: BoardRecord) -> bool:
        return board.visibility == "shared" or viewer.sees(board.owner)

    @staticmethod
    def may_change(viewer: Principal, board: BoardRecord) -> bool:
        return viewer.is_admin or (board.owner is not None and board.owner == viewer.owner)

    # --- reads ---------------------------------------------------------------------------
    def list(self, viewer: Principal) -> list[BoardRecord]:
        boards = [b for b in self.store.all() if self.may_see(viewer, b)]
        return sorted(boards, key=lambda b: (b.created_at, b.id))

    def get(self, viewer: Principal, board_id: str) -> BoardRecord:
        board = self.store.get(board_id)
        if board is None or not self.may_see(viewer, board):
            raise BoardNotFound(board_id)
        return board

    def select(self, query: ImageQuery, viewer: Principal, board_id: str) -> ImageQuery:
        """``query`` narrowed to a board's images (BoardNotFound when the viewer sees no such board)."""
        query.paths = self.get(viewer, board_id).paths
        return query

    def board_json(self, board: BoardRecord, viewer: Principal) -> shapes.Board:
        count = self.gallery.index.total(self.scope(ImageQuery(paths=board.paths), viewer)) if board.paths else 0
        return {
            "id": board.id,
            "name": board.name,
            "visibility": board.visibility,
            "owner": board.owner,
            "cover_id": image_id_for(board.cover) if board.cover else None,
            "count": count,
            "created_at": board.created_at,
            "writable": self.may_change(viewer, board),
        }

    # --- changes -------------------------------------------------------------------------
    def create(self, viewer: Principal, name: str, visibility: Visibility) -> BoardRecord:
        board = BoardRecord(uuid.uuid4().hex, name, visibility, viewer.owner, utc_now_iso())

        def add(boards: dict[str, BoardRecord]) -> BoardRecord:
            if len(boards) >= MAX_BOARDS:
                raise ValidationError("name", f"the studio holds {MAX_BOARDS} boards already; delete one first")
            boards[board.id] = board
            return board

        return self.store.change(add)

    def _changing(self, viewer: Principal, board_id: str, fn: Change) -> BoardRecord:
        def change(boards: dict[str, BoardRecord]) -> BoardRecord:
            board = boards.get(board_id)
            if board is None or not self.may_see(viewer, board):
                raise BoardNotFound(board_id)
            if not self.may_change(viewer, board):
                raise BoardReadOnly(board_id)
            fn(boards, board)
            return board

        board = self.store.change(change)
        return board

    def update(
        self,
        viewer: Principal,
        board_id: str,
        name: str | None = None,
        visibility: Visibility | None = None,
        cover_id: str | None | Literal[False] = False,
    ) -> BoardRecord:
        """Rename, share or unshare, choose the cover (an image of the board; None: none;
        False: leave it)."""

        def apply(_: dict[str, BoardRecord], board: BoardRecord) -> None:
            if name is not None:
                board.name = name
            if visibility is not None:
                board.visibility = visibility
            if cover_id is None:
                board.cover = None
            elif cover_id is not False:
                cover = next((p for p in board.paths if image_id_for(p) == cover_id), None)
                if cover is None:
                    raise ValidationError("cover_id", "cover_id must be the id of an image in this board")
                board.cover = cover

        return self._changing(viewer, board_id, apply)

    def delete(self, viewer: Principal, board_id: str) -> None:
        self._changing(viewer, board_id, lambda boards, board: boards.pop(board.id))

    def add_images(self, viewer: Principal, board_id: str, ids: list[str]) -> BoardRecord:
        """Add images ``viewer`` may see (ImageNotFound names the first that is not one)."""
        self.get(viewer, board_id)  # a board the caller cannot see is not found before any image is looked at
        paths = []
        for image_id in ids:
            row = self.visible_image(viewer, image_id)
            if row is None:
                raise ImageNotFound(image_id)
            paths.append(row.path)

        def apply(_: dict[str, BoardRecord], board: BoardRecord) -> None:
            merged = list(dict.fromkeys([*board.paths, *paths]))
            if len(merged) > MAX_BOARD_IMAGES:
                raise ValidationError("ids", f"a board holds at most {MAX_BOARD_IMAGES} images")
            board.paths = merged

        return self._changing(viewer, board_id, apply)

    def remove_images(self, viewer: Principal, board_id: str, ids: list[str]) -> BoardRecord:
        """Take images out (ids that are not in the board are ignored)."""
        gone = set(ids)

        def apply(_: dict[str, BoardRecord], board: BoardRecord) -> None:
            board.paths = [p for p in board.paths if image_id_for(p) not in gone]
            if board.cover and image_id_for(board.cover) in gone:
                board.cover = None

        return self._changing(viewer, board_id, apply)
