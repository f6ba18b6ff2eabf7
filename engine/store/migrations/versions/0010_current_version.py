"""An explicit current version per variant: new campaigns start on it, not on the highest version number

Publishing an older version again (``kaohe publish``) makes it current. An existing database gets the
highest version of each variant as its current one, which is what campaigns started on before.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("process_version", sa.Column("is_current", sa.Boolean(), nullable=False,
                                               server_default=sa.false()))
    version = sa.table("process_version", sa.column("variant", sa.String), sa.column("version", sa.Integer),
                       sa.column("is_current", sa.Boolean))
    other = version.alias("other")
    highest = sa.select(sa.func.max(other.c.version)).where(other.c.variant == version.c.variant).scalar_subquery()
    op.execute(version.update().where(version.c.version == highest).values(is_current=True))
    op.create_index("ux_version_current", "process_version", ["variant"], unique=True,
                    sqlite_where=sa.text("is_current"), postgresql_where=sa.text("is_current"))


def downgrade() -> None:
    op.drop_index("ux_version_current", table_name="process_version")
    # Not batch mode: recreating process_version on SQLite would break the instances' foreign keys to it.
    op.drop_column("process_version", "is_current")
