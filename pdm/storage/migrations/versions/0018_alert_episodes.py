"""alerts.active_since, normal_since, episodes: an open alert returns to normal and becomes active again
(ISA-18.2), so a technician sees whether the excursion is still on, and each new excursion is counted

Revision ID: 0018
Revises: 0017
"""
from alembic import op
import sqlalchemy as sa

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, never a batch copy (see 0009: a copy would cascade to the company's rows).
    op.add_column('alerts', sa.Column('active_since', sa.Float(), nullable=True))
    op.add_column('alerts', sa.Column('normal_since', sa.Float(), nullable=True))
    op.add_column('alerts', sa.Column('episodes', sa.Integer(), nullable=False, server_default=sa.text('1')))


def downgrade() -> None:
    op.drop_column('alerts', 'episodes')
    op.drop_column('alerts', 'normal_since')
    op.drop_column('alerts', 'active_since')
