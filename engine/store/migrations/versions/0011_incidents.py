"""Incidents (a failed run of an instance, kept for an administrator) and the message sweep's bookkeeping:
attempts, the next try and the last error on each message row

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime()))
        batch.add_column(sa.Column("error", sa.Text))
        batch.add_column(sa.Column("failed_at", sa.DateTime()))
    op.create_index("ix_message_due", "message", ["delivered_at", "failed_at", "next_attempt_at"])
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("instance_id", sa.Integer, sa.ForeignKey("instance.id", ondelete="CASCADE"), nullable=False),
        sa.Column("campaign_id", sa.Integer, sa.ForeignKey("campaign.id")),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("bpmn_id", sa.String(100)),
        sa.Column("element", sa.String(200)),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime()),
        sa.Column("resolved_by", sa.String(100)),
        sa.Column("resolution", sa.String(16)),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_incident_open", "incident", ["resolved_at", "instance_id"])


def downgrade() -> None:
    op.drop_index("ix_incident_open", table_name="incident")
    op.drop_table("incident")
    op.drop_index("ix_message_due", table_name="message")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("failed_at")
        batch.drop_column("error")
        batch.drop_column("next_attempt_at")
        batch.drop_column("attempts")
