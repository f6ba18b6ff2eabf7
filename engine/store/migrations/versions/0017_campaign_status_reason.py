"""A campaign can be suspended, resumed and cancelled with a reason: the last one's reason, time and actor are
kept on the campaign for its board (every change is in the audit log)

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: a batch copy of the table would fail on SQLite, whose instances refer to it.
    op.add_column("campaign", sa.Column("status_reason", sa.Text()))
    op.add_column("campaign", sa.Column("status_changed_at", sa.DateTime()))
    op.add_column("campaign", sa.Column("status_changed_by", sa.String(64)))


def downgrade() -> None:
    for column in ("status_changed_by", "status_changed_at", "status_reason"):
        op.drop_column("campaign", column)
