"""How an instance's state is kept in its column: deflated with a dictionary of typical states (codec 1).

SpiffWorkflow's state is JSON whose keys, task names and data repeat from one instance to the next, so
deflate primed with a few shipped states (``state-dictionary-1.txt``, made by
``benchmarks/state_dictionary.py``) stores a national region's 4 KB state in about 0.5 KB, where lz4
alone needs 1.4 KB. The column is a BLOB on SQLite and ``bytea`` on PostgreSQL (migration 0021); each
value starts with its codec's mark, so rows written before stay readable:

- ``\\x01``: raw deflate with dictionary 1 (since 0021);
- an lz4 frame (``\\x04\\x22\\x4d\\x18``): SQLite rows from 0012 to 0021;
- anything else: the plain UTF-8 text of a row older than that (PostgreSQL's text became bytes in 0021).

The dictionary is part of the format: a different one is a new mark and a new file, the old kept for reading.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import lz4.frame
from sqlalchemy import LargeBinary, Text
from sqlalchemy.types import TypeDecorator

DEFLATE_1 = b"\x01"
LZ4_FRAME = b"\x04\x22\x4d\x18"
DICTIONARY_1 = (Path(__file__).parent / "state-dictionary-1.txt").read_bytes()
#: deflate's state once primed with the dictionary; copied for each state, which costs less than priming again.
_PRIMED = zlib.compressobj(9, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY_1)


def compress(state: str) -> bytes:
    """The state as codec 1: its mark, then its UTF-8 bytes deflated with dictionary 1."""
    deflate = _PRIMED.copy()
    return DEFLATE_1 + deflate.compress(state.encode()) + deflate.flush()


def decompress(stored: bytes | str) -> str:
    """The state from what the column holds, whichever codec wrote it."""
    if isinstance(stored, str):
        return stored
    stored = bytes(stored)  # psycopg gives bytea as memoryview
    if stored.startswith(DEFLATE_1):
        inflate = zlib.decompressobj(-15, zdict=DICTIONARY_1)
        return (inflate.decompress(stored[1:]) + inflate.flush()).decode()
    if stored.startswith(LZ4_FRAME):
        return lz4.frame.decompress(stored).decode()
    return stored.decode()


class StateColumn(TypeDecorator):
    """The ``instance.state`` column: text in Python, codec 1 in the database (a BLOB or ``bytea``)."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(LargeBinary() if dialect.name == "postgresql" else Text())

    def process_bind_param(self, value, dialect):
        return None if value is None else compress(value)

    def process_result_value(self, value, dialect):
        return None if value is None else decompress(value)
