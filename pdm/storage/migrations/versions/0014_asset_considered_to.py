"""assets.considered_to: the latest row scoring has scored or skipped as stopped (the next pass starts there)

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


# Plain ALTER TABLE, never a batch copy (see 0009: a copy of ``assets`` would cascade to its tags).
def upgrade() -> None:
    op.add_column('assets', sa.Column('considered_to', sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column('assets', 'considered_to')
