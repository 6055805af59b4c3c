"""Join the branches made from 0005: fleet models (0006f), model lifecycle (0006l) and partitioned readings with
retention (0006p).

Revision ID: 0007
Revises: 0006f, 0006l, 0006p
"""

revision = "0007"
down_revision = ("0006f", "0006l", "0006p")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
