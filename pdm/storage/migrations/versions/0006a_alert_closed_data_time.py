"""alerts remember the data clock at closing: the silent period runs on the data's own time

Revision ID: 0006a
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = '0006a'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_data_at', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('closed_data_at')
