"""A campaign's results as rows (one per region, ranked once all are in) instead of a list inside the campaign
instance's state; an index to count the regions that have sent a message the campaign gathers

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "result",
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaign.id"), primary_key=True),
        sa.Column("region", sa.String(12), primary_key=True),
        sa.Column("instance_id", sa.Integer, sa.ForeignKey("instance.id"), nullable=False),
        sa.Column("score", sa.String(32), nullable=False),
        sa.Column("grade", sa.String(32)),
        sa.Column("vetoed", sa.Boolean, nullable=False),
        sa.Column("veto_items", sa.JSON),
        sa.Column("rank", sa.Integer),
        sa.Column("consequences", sa.JSON),
        sa.Column("reported_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_result_rank", "result", ["campaign_id", "rank", "region"])
    op.create_index("ix_message_gather", "message", ["target_id", "name", "delivered_at", "source_id"])


def downgrade() -> None:
    op.drop_index("ix_message_gather", table_name="message")
    op.drop_index("ix_result_rank", table_name="result")
    op.drop_table("result")
