"""indexes for the hot queries: the outbox claim in claim order (replacing
ix_messages_claim), the last texts sent to a debtor, the neutral answer to an unknown
sender, the open promises and installments the periodic jobs read (all partial)

Revision ID: 09c062a5e28f
Revises: 389eed30d7d0
Create Date: 2026-12-02 05:21:33.898319
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "09c062a5e28f"
down_revision: str | None = "389eed30d7d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("installments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_installments_open",
            ["due_date"],
            unique=False,
            postgresql_where=sa.text("status IN ('pending', 'late')"),
            sqlite_where=sa.text("status IN ('pending', 'late')"),
        )

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_claim"))
        batch_op.create_index(
            "ix_messages_debtor_outbound",
            ["debtor_id", "created_at"],
            unique=False,
            postgresql_where=sa.text("direction = 'outbound'"),
            sqlite_where=sa.text("direction = 'outbound'"),
        )
        batch_op.create_index(
            "ix_messages_neutral_to",
            ["to_phone", "created_at"],
            unique=False,
            postgresql_where=sa.text("kind = 'neutral'"),
            sqlite_where=sa.text("kind = 'neutral'"),
        )
        batch_op.create_index(
            "ix_messages_pending",
            ["priority", "send_after", "id"],
            unique=False,
            postgresql_where=sa.text("status IN ('queued', 'scheduled')"),
            sqlite_where=sa.text("status IN ('queued', 'scheduled')"),
        )

    with op.batch_alter_table("promises", schema=None) as batch_op:
        batch_op.create_index(
            "ix_promises_open",
            ["promised_date"],
            unique=False,
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("promises", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_promises_open",
            postgresql_where=sa.text("status = 'open'"),
            sqlite_where=sa.text("status = 'open'"),
        )

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_messages_pending",
            postgresql_where=sa.text("status IN ('queued', 'scheduled')"),
            sqlite_where=sa.text("status IN ('queued', 'scheduled')"),
        )
        batch_op.drop_index(
            "ix_messages_neutral_to",
            postgresql_where=sa.text("kind = 'neutral'"),
            sqlite_where=sa.text("kind = 'neutral'"),
        )
        batch_op.drop_index(
            "ix_messages_debtor_outbound",
            postgresql_where=sa.text("direction = 'outbound'"),
            sqlite_where=sa.text("direction = 'outbound'"),
        )
        batch_op.create_index(
            batch_op.f("ix_messages_claim"), ["status", "priority", "send_after"], unique=False
        )

    with op.batch_alter_table("installments", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_installments_open",
            postgresql_where=sa.text("status IN ('pending', 'late')"),
            sqlite_where=sa.text("status IN ('pending', 'late')"),
        )
