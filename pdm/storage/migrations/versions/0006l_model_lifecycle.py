"""model lifecycle: each model version's status (active, retired, rejected) and the reason for it

Revision ID: 0006l
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = '0006l'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='active', nullable=False))
        batch_op.add_column(sa.Column('reason', sa.Text(), nullable=True))
    # Versions stored before this revision: the inactive ones were replaced, never compared.
    op.execute(sa.text("UPDATE model_versions SET status = 'retired' WHERE NOT active"))


def downgrade() -> None:
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_column('reason')
        batch_op.drop_column('status')
