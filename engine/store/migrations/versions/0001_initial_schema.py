"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 02:49:18.848963
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.Column('bpmn_id', sa.String(length=100), nullable=True),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_instance', ['instance_id', 'id'], unique=False)

    op.create_table('process_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('variant', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('manifest', sa.JSON(), nullable=False),
    sa.Column('scheme', sa.JSON(), nullable=False),
    sa.Column('files', sa.JSON(), nullable=False),
    sa.Column('specs', sa.Text(), nullable=False),
    sa.Column('deployed_at', sa.DateTime(), nullable=False),
    sa.Column('deployed_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('content_hash'),
    sa.UniqueConstraint('variant', 'version')
    )
    with op.batch_alter_table('process_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_version_variant'), ['variant'], unique=False)

    op.create_table('region',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('region_set', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    with op.batch_alter_table('region', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_region_region_set'), ['region_set'], unique=False)

    op.create_table('role',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('user_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('password_hash', sa.String(length=300), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('variant', sa.String(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('started_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['version_id'], ['process_version.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('role_assignment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('variant', sa.String(length=64), nullable=True),
    sa.Column('region', sa.String(length=12), nullable=True),
    sa.Column('unit', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['role'], ['role.code'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'role', 'variant', 'region', 'unit')
    )
    with op.batch_alter_table('role_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_role_assignment_user_id'), ['user_id'], unique=False)

    op.create_table('instance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('process_id', sa.String(length=100), nullable=False),
    sa.Column('region', sa.String(length=12), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('serializer_version', sa.String(length=16), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['version_id'], ['process_version.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('instance', schema=None) as batch_op:
        batch_op.create_index('ix_instance_campaign_region', ['campaign_id', 'region'], unique=False)
        batch_op.create_index(batch_op.f('ix_instance_version_id'), ['version_id'], unique=False)

    op.create_table('inbox_task',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('variant', sa.String(length=64), nullable=False),
    sa.Column('bpmn_id', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('lane', sa.String(length=100), nullable=True),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('region', sa.String(length=12), nullable=True),
    sa.Column('unit', sa.String(length=64), nullable=True),
    sa.Column('form', sa.String(length=200), nullable=True),
    sa.Column('assignee', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['instance_id'], ['instance.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('inbox_task', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_campaign', ['campaign_id', 'bpmn_id'], unique=False)
        batch_op.create_index('ix_inbox_role_region', ['role', 'region', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbox_task_instance_id'), ['instance_id'], unique=False)

    op.create_table('message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('delivered_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
    sa.ForeignKeyConstraint(['source_id'], ['instance.id'], ),
    sa.ForeignKeyConstraint(['target_id'], ['instance.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index('ix_message_pending', ['target_id', 'delivered_at'], unique=False)


    _audit_log_append_only()


def _audit_log_append_only() -> None:
    """The audit log refuses UPDATE and DELETE in the database itself, not only in our code."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$""")
        op.execute("""CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
                      FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER audit_log_no_{action.lower()} BEFORE {action} ON audit_log
                           BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_pending')

    op.drop_table('message')
    with op.batch_alter_table('inbox_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbox_task_instance_id'))
        batch_op.drop_index('ix_inbox_role_region')
        batch_op.drop_index('ix_inbox_campaign')

    op.drop_table('inbox_task')
    with op.batch_alter_table('instance', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_instance_version_id'))
        batch_op.drop_index('ix_instance_campaign_region')

    op.drop_table('instance')
    with op.batch_alter_table('role_assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_role_assignment_user_id'))

    op.drop_table('role_assignment')
    op.drop_table('campaign')
    op.drop_table('user_account')
    op.drop_table('role')
    with op.batch_alter_table('region', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_region_region_set'))

    op.drop_table('region')
    with op.batch_alter_table('process_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_version_variant'))

    op.drop_table('process_version')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_instance')

    op.drop_table('audit_log')
