"""outbox priority, retry deadline, review and expired states

Revision ID: deebab1fbd3c
Revises: 23cb6fd2330c
Create Date: 2026-12-02 01:58:57.822515
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = "deebab1fbd3c"
down_revision: str | None = "23cb6fd2330c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = (
    "'queued', 'scheduled', 'sending', 'submitted', 'sent', 'delivered', 'undelivered', "
    "'failed', 'read', 'canceled', 'received'"
)
NEW_STATUSES = (
    "'queued', 'scheduled', 'sending', 'needs_review', 'expired', 'submitted', 'sent', "
    "'delivered', 'undelivered', 'failed', 'read', 'canceled', 'received'"
)


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        # Existing rows: answers first, initiated texts last, the rest in between.
        batch_op.add_column(
            sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="1")
        )
        batch_op.add_column(
            sa.Column("retry_until", app.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reconcile_since", app.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.drop_constraint(op.f("ck_messages_status"), type_="check")
        batch_op.create_check_constraint("status", f"status IN ({NEW_STATUSES})")
        batch_op.create_check_constraint("priority", "priority IN (0, 1, 2)")
        batch_op.create_index(
            "ix_messages_claim", ["status", "priority", "send_after"], unique=False
        )
    op.execute("UPDATE messages SET priority = 0 WHERE is_reply")
    op.execute("UPDATE messages SET priority = 2 WHERE initiated")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.alter_column("priority", server_default=None)


def downgrade() -> None:
    op.execute("UPDATE messages SET status = 'failed' WHERE status IN ('needs_review', 'expired')")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_claim")
        batch_op.drop_constraint(op.f("ck_messages_priority"), type_="check")
        batch_op.drop_constraint(op.f("ck_messages_status"), type_="check")
        batch_op.create_check_constraint("status", f"status IN ({OLD_STATUSES})")
        batch_op.drop_column("reconcile_since")
        batch_op.drop_column("retry_until")
        batch_op.drop_column("priority")
