"""Conversations: who is working one (assigned_to).

Revision ID: 23cb6fd2330c
Revises: 74762034ac74
Create Date: 2026-12-02 02:02:09.318150
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "23cb6fd2330c"
down_revision: str | None = "74762034ac74"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("assigned_to", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("conversations", "assigned_to")
