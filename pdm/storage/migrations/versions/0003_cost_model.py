"""cost model: cluster-wide cost defaults per asset class, per-asset overrides

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 22:55:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cost_defaults',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_class', sa.String(length=64), nullable=False),
    sa.Column('costs', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cost_defaults')),
    sa.UniqueConstraint('asset_class', name=op.f('uq_cost_defaults_asset_class'))
    )
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cost_overrides', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_column('cost_overrides')
    op.drop_table('cost_defaults')
