"""endpoints.kind: which connector reads the endpoint (opcua, mqtt)

Revision ID: 0016
Revises: 0015
"""
from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


# Every endpoint before this revision is OPC UA. A kind's own settings (an MQTT broker's client id,
# QoS, CA file, ...) live in endpoints.settings with the rest, validated by the kind's model.
# Plain ALTER TABLE, never a batch copy (see 0009: a copy would cascade to the child rows).
def upgrade() -> None:
    op.add_column('endpoints', sa.Column('kind', sa.String(length=16), nullable=False, server_default='opcua'))


def downgrade() -> None:
    op.drop_column('endpoints', 'kind')
