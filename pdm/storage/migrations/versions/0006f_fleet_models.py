"""fleet models: one cluster-owned model per asset class for assets without their own yet

Revision ID: 0006f
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = '0006f'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fleet_models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_class', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('detector', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('trained_from', sa.Float(), nullable=False),
    sa.Column('trained_to', sa.Float(), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('feature_names', sa.JSON(), nullable=False),
    sa.Column('nominal', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('envelope', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fleet_models')),
    sa.UniqueConstraint('asset_class', 'version', name=op.f('uq_fleet_models_asset_class_version'))
    )


def downgrade() -> None:
    op.drop_table('fleet_models')
