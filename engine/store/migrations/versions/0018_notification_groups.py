"""Notices say which campaign and step they are about (the notification centre groups them) and when a
reminder or escalation went out in the day's digest mail

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

COLUMNS = (("campaign_id", sa.Integer()), ("bpmn_id", sa.String(100)), ("step_name", sa.String(200)),
           ("mailed_at", sa.DateTime()))


def upgrade() -> None:
    for name, kind in COLUMNS:
        op.add_column("notification", sa.Column(name, kind))
    # Notices written before this version were mailed one by one when they were made.
    op.execute("UPDATE notification SET mailed_at = at")


def downgrade() -> None:
    for name, _kind in reversed(COLUMNS):
        op.drop_column("notification", name)
