"""companies.share_notes and similar_case_feedback: past cases shown beside an alert, and what technicians said of them

Revision ID: 0017
Revises: 0016
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, never a batch copy (see 0009: a copy would cascade to the company's rows).
    op.add_column('companies', sa.Column('share_notes', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        'similar_case_feedback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('company_id', sa.Integer(), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=False),
        sa.Column('case_alert_id', sa.Integer(), nullable=False),
        sa.Column('verdict', sa.String(length=16), nullable=False),
        sa.Column('by', sa.String(length=100), nullable=False),
        sa.Column('at', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_similar_case_feedback_company_id_companies'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_similar_case_feedback_alert_id_alerts'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['case_alert_id'], ['alerts.id'], name=op.f('fk_similar_case_feedback_case_alert_id_alerts'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_similar_case_feedback')),
        sa.UniqueConstraint('alert_id', 'case_alert_id', 'by', name=op.f('uq_similar_case_feedback_alert_id_case_alert_id_by')),
    )
    op.create_index(op.f('ix_similar_case_feedback_company_id'), 'similar_case_feedback', ['company_id'])
    op.create_index(op.f('ix_similar_case_feedback_case_alert_id'), 'similar_case_feedback', ['case_alert_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_similar_case_feedback_case_alert_id'), table_name='similar_case_feedback')
    op.drop_index(op.f('ix_similar_case_feedback_company_id'), table_name='similar_case_feedback')
    op.drop_table('similar_case_feedback')
    op.drop_column('companies', 'share_notes')
