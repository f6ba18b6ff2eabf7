"""Workflow state compressed with lz4 on SQLite too, written as an lz4 frame by the engine

PostgreSQL already compresses the ``state`` text with lz4 (0004) and is left alone, so nothing is
compressed twice. On SQLite each row's text becomes an lz4 frame (a BLOB in the same column);
downgrading turns the frames back into text. The engine reads both (engine/store/state.py).

Revision ID: 0012
Revises: 0011
"""

import lz4.frame
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

#: Rows converted per statement batch, so that a large database is not read into memory at once.
BATCH = 500


def upgrade() -> None:
    _convert("text", lambda state: lz4.frame.compress(state.encode()))


def downgrade() -> None:
    _convert("blob", lambda state: lz4.frame.decompress(state).decode())


def _convert(stored_as: str, change) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    select = sa.text("SELECT id, state FROM instance WHERE typeof(state) = :kind AND id > :after ORDER BY id LIMIT :n")
    update = sa.text("UPDATE instance SET state = :state WHERE id = :id")
    after = 0
    while rows := bind.execute(select, {"kind": stored_as, "after": after, "n": BATCH}).all():
        bind.execute(update, [{"id": id_, "state": change(state)} for id_, state in rows])
        after = rows[-1][0]
