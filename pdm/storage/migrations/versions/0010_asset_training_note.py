"""assets.training_note: why the asset's latest training gave no model (every detector refused it, an error)

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


# Plain ALTER TABLE, never a batch copy (see 0009: a copy of ``assets`` would cascade to its tags).
def upgrade() -> None:
    op.add_column('assets', sa.Column('training_note', sa.Text(), nullable=True))
    op.add_column('assets', sa.Column('training_note_at', sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column('assets', 'training_note_at')
    op.drop_column('assets', 'training_note')
