"""login_attempts: source and successes (throttle by name and source); cli_sessions for `pdmctl login`; host_keys for --local-admin

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('login_attempts', sa.Column('source', sa.String(128), nullable=False, server_default=''))
    op.add_column('login_attempts', sa.Column('succeeded', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index('ix_login_attempts_name_source', 'login_attempts', ['username', 'source'])
    op.create_table(
        'cli_sessions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('token_sha256', sa.String(64), nullable=False, unique=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='CASCADE'), nullable=False),
        sa.Column('token_epoch', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.Column('source', sa.String(128), nullable=False),
    )
    op.create_index('ix_cli_sessions_user_id', 'cli_sessions', ['user_id'])
    op.create_table(
        'host_keys',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('fingerprint', sa.String(64), nullable=False, unique=True),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('created_by', sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('host_keys')
    op.drop_index('ix_cli_sessions_user_id', 'cli_sessions')
    op.drop_table('cli_sessions')
    op.drop_index('ix_login_attempts_name_source', 'login_attempts')
    with op.batch_alter_table('login_attempts') as batch:
        batch.drop_column('succeeded')
        batch.drop_column('source')
