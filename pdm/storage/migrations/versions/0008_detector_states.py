"""detector_states: where a sequential detector left off scoring each asset

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('detector_states',
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('resume_ts', sa.Float(), nullable=True),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_detector_states_asset_id_assets'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_detector_states_company_id_companies'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'],
                            name=op.f('fk_detector_states_model_version_id_model_versions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('model_version_id', name=op.f('pk_detector_states'))
    )
    op.create_index(op.f('ix_detector_states_company_id'), 'detector_states', ['company_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_detector_states_company_id'), table_name='detector_states')
    op.drop_table('detector_states')
