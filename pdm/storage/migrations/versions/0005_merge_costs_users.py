"""Join the cost-model (0003) and users/audit (0004) branches, both made from 0002.

Revision ID: 0005
Revises: 0003, 0004
"""

revision = "0005"
down_revision = ("0003", "0004")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
