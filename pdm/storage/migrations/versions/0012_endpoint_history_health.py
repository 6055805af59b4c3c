"""endpoint_health: how many nodes keep history on the server, readings backfilled, quirks noted

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('endpoint_health', sa.Column('nodes', sa.Integer(), nullable=True))
    op.add_column('endpoint_health', sa.Column('history_nodes', sa.Integer(), nullable=True))
    op.add_column('endpoint_health', sa.Column('backfilled', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('endpoint_health', sa.Column('quirks', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    for column in ('quirks', 'backfilled', 'history_nodes', 'nodes'):
        op.drop_column('endpoint_health', column)
