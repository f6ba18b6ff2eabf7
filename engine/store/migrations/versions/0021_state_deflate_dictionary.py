"""Workflow state deflated with a dictionary of typical states, as bytes on both databases; a campaign's
region count and its gathered messages' tally kept, so that each region's report reads neither list

Every state is rewritten in codec 1 (``engine/store/state.py``): raw deflate primed with
``state-dictionary-1.txt``, about a third of lz4's size for a national region. PostgreSQL's ``state``
column becomes ``bytea`` (its text was compressed by TOAST only above 2 KB); SQLite's lz4 frames (0012)
and plain text become codec 1 BLOBs. Downgrading gives back lz4 frames on SQLite and text on PostgreSQL.

``campaign.region_count`` (filled from each row's list) and ``message_tally`` (filled from the messages its
campaign instances have not caught) spare a region's report a count over every region (issue 13, item 2).

Revision ID: 0021
Revises: 0019
"""

import lz4.frame
import sqlalchemy as sa
from alembic import op

from engine.store.state import compress, decompress

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

#: Rows converted per statement batch, so that a large database is not read into memory at once.
BATCH = 500


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE instance ALTER COLUMN state TYPE bytea USING convert_to(state, 'UTF8')")
    _convert(lambda stored: compress(decompress(stored)))
    op.add_column("campaign", sa.Column("region_count", sa.Integer(), nullable=True))
    op.execute("UPDATE campaign SET region_count = json_array_length(regions)")
    op.create_table(
        "message_tally",
        sa.Column("target_id", sa.Integer(), sa.ForeignKey("instance.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("sent", sa.Integer(), nullable=False),
    )
    op.execute("INSERT INTO message_tally (target_id, name, sent) SELECT m.target_id, m.name, count(*) "
               "FROM message m JOIN instance i ON i.id = m.target_id "
               "WHERE m.delivered_at IS NULL AND i.region IS NULL GROUP BY m.target_id, m.name")


def downgrade() -> None:
    op.drop_table("message_tally")
    op.drop_column("campaign", "region_count")
    if op.get_bind().dialect.name == "postgresql":
        _convert(lambda stored: decompress(stored).encode())
        op.execute("ALTER TABLE instance ALTER COLUMN state TYPE text USING convert_from(state, 'UTF8')")
    else:
        _convert(lambda stored: lz4.frame.compress(decompress(stored).encode()))


def _convert(change) -> None:
    bind = op.get_bind()
    select = sa.text("SELECT id, state FROM instance WHERE id > :after ORDER BY id LIMIT :n")
    update = sa.text("UPDATE instance SET state = :state WHERE id = :id")
    after = 0
    while rows := bind.execute(select, {"after": after, "n": BATCH}).all():
        bind.execute(update, [{"id": id_, "state": change(state)} for id_, state in rows])
        after = rows[-1][0]
