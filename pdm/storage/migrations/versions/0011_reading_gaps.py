"""gaps: stretches of a tag's (or an endpoint's) data never stored, neither polled nor backfilled, and why

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gaps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=True),
    sa.Column('start_ts', sa.Float(), nullable=False),
    sa.Column('end_ts', sa.Float(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('recorded_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_gaps_company_id_companies'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['endpoint_id'], ['endpoints.id'], name=op.f('fk_gaps_endpoint_id_endpoints'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_gaps_tag_id_tags'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gaps'))
    )
    op.create_index(op.f('ix_gaps_company_id'), 'gaps', ['company_id'], unique=False)
    op.create_index('ix_gaps_endpoint_start', 'gaps', ['endpoint_id', 'start_ts'], unique=False)
    op.create_index(op.f('ix_gaps_tag_id'), 'gaps', ['tag_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_gaps_tag_id'), table_name='gaps')
    op.drop_index('ix_gaps_endpoint_start', table_name='gaps')
    op.drop_index(op.f('ix_gaps_company_id'), table_name='gaps')
    op.drop_table('gaps')
