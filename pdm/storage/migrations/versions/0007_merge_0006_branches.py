"""Join the branches made from 0005: alert closing on the data's clock (0006a), fleet models (0006f),
model lifecycle (0006l), partitioned readings with retention (0006p) and worker leases (0006w).

Revision ID: 0007
Revises: 0006a, 0006f, 0006l, 0006p, 0006w
"""

revision = "0007"
down_revision = ("0006a", "0006f", "0006l", "0006p", "0006w")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
