"""How an instance's state is kept in its column: lz4-compressed on SQLite, as PostgreSQL's TOAST does it.

PostgreSQL compresses the ``state`` text itself (lz4, migration 0004), so it is stored as text there and
never compressed twice. SQLite compresses nothing, so the engine writes an lz4 frame (a BLOB; the frame
starts with lz4's magic number) and reads either that or the plain text of rows written before 0012.
"""

from __future__ import annotations

import lz4.frame
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator


def compress(state: str) -> bytes:
    """The state as an lz4 frame of its UTF-8 bytes."""
    return lz4.frame.compress(state.encode())


def decompress(stored: bytes | str) -> str:
    """The state from what the column holds: an lz4 frame, or the text of an older row."""
    return lz4.frame.decompress(stored).decode() if isinstance(stored, bytes) else stored


class StateColumn(TypeDecorator):
    """The ``instance.state`` column: text in Python, compressed where the database does not compress it."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or dialect.name == "postgresql":
            return value
        return compress(value)

    def process_result_value(self, value, dialect):
        return None if value is None else decompress(value)
