"""Timers that lost a race are recorded as cancelled (``timer.cancelled_at``), no longer as fired or deleted

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timer") as batch:
        batch.drop_index("ix_timer_due")
        batch.add_column(sa.Column("cancelled_at", sa.DateTime()))
        batch.create_index("ix_timer_due", ["fired_at", "cancelled_at", "due_at"], unique=False)


def downgrade() -> None:
    # A cancelled timer was deleted before this revision: its row goes again.
    op.execute(sa.text("DELETE FROM timer WHERE cancelled_at IS NOT NULL"))
    with op.batch_alter_table("timer") as batch:
        batch.drop_index("ix_timer_due")
        batch.drop_column("cancelled_at")
        batch.create_index("ix_timer_due", ["fired_at", "due_at"], unique=False)
