"""several workers: ingest worker registry, endpoint leases, endpoint health in the database

Revision ID: 0006w
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = '0006w'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ingest_workers',
    sa.Column('worker_id', sa.String(length=200), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.Float(), nullable=False),
    sa.Column('heartbeat_at', sa.Float(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('worker_id', name=op.f('pk_ingest_workers'))
    )
    op.create_table('endpoint_leases',
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.String(length=200), nullable=False),
    sa.Column('acquired_at', sa.Float(), nullable=False),
    sa.Column('heartbeat_at', sa.Float(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['endpoint_id'], ['endpoints.id'], name=op.f('fk_endpoint_leases_endpoint_id_endpoints'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('endpoint_id', name=op.f('pk_endpoint_leases'))
    )
    op.create_index(op.f('ix_endpoint_leases_worker_id'), 'endpoint_leases', ['worker_id'], unique=False)
    op.create_table('endpoint_health',
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.Column('readings_per_s', sa.Float(), nullable=False),
    sa.Column('errors_last_hour', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('spool_rows', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_endpoint_health_company_id_companies'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['endpoint_id'], ['endpoints.id'], name=op.f('fk_endpoint_health_endpoint_id_endpoints'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('endpoint_id', name=op.f('pk_endpoint_health'))
    )
    op.create_index(op.f('ix_endpoint_health_company_id'), 'endpoint_health', ['company_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_endpoint_health_company_id'), table_name='endpoint_health')
    op.drop_table('endpoint_health')
    op.drop_index(op.f('ix_endpoint_leases_worker_id'), table_name='endpoint_leases')
    op.drop_table('endpoint_leases')
    op.drop_table('ingest_workers')
