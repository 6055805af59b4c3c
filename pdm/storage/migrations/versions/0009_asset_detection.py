"""assets.detection: an asset's own detection settings (alarm budget, debounce, ...)

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


# Plain ALTER TABLE, never a batch copy: on SQLite a copy drops and re-creates ``assets``, and
# its foreign keys would cascade the drop to every tag and reading (SQLite >= 3.35 drops a column).
def upgrade() -> None:
    op.add_column('assets', sa.Column('detection', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('assets', 'detection')
