"""companies.share_notes and similar_case_feedback: past cases shown beside an alert, and what technicians said of them;
failure_modes.iso14224: the ISO 14224 failure mechanism each failure mode is filed under

Revision ID: 0017
Revises: 0016
"""
from alembic import op
import sqlalchemy as sa

# A copy, not an import of pdm.alerts.iso14224: a migration must stay as it was when written.
STARTING_CODES = {
    "bearing_wear": "2.4", "cavitation": "2.1", "clogging_filter": "5.1", "cooling_failure": "2.7",
    "imbalance": "1.2", "misalignment": "1.3", "lubrication": "1.0", "seal_leak": "1.1",
    "electrical": "4.0", "sensor_fault": "3.3", "other": "6.3",
}


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
    op.add_column('failure_modes', sa.Column('iso14224', sa.String(length=8), nullable=True))
    modes = sa.table('failure_modes', sa.column('code', sa.String), sa.column('iso14224', sa.String))
    for code, mechanism in STARTING_CODES.items():
        op.execute(modes.update().where(modes.c.code == code).values(iso14224=mechanism))


def downgrade() -> None:
    op.drop_column('failure_modes', 'iso14224')
    op.drop_index(op.f('ix_similar_case_feedback_case_alert_id'), table_name='similar_case_feedback')
    op.drop_index(op.f('ix_similar_case_feedback_company_id'), table_name='similar_case_feedback')
    op.drop_table('similar_case_feedback')
    op.drop_column('companies', 'share_notes')
