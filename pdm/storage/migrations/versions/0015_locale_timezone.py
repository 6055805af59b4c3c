"""companies.locale, sites.timezone, users.language: the app's language and the plant's clock

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


# Nullable, no default: NULL means "not said" (the company's locale, then English; the site's
# time zone, then UTC), so a later change of the default reaches every row that never chose.
# Plain ALTER TABLE, never a batch copy (see 0009: a copy would cascade to the child rows).
def upgrade() -> None:
    op.add_column('companies', sa.Column('locale', sa.String(length=16), nullable=True))
    op.add_column('sites', sa.Column('timezone', sa.String(length=64), nullable=True))
    op.add_column('users', sa.Column('language', sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column('users', 'language')
    op.drop_column('sites', 'timezone')
    op.drop_column('companies', 'locale')
