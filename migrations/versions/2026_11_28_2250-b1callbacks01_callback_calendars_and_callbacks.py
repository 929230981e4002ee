"""callback calendars and callbacks

Revision ID: b1callbacks01
Revises: a1payments01
Create Date: 2026-11-28 22:49:29.421990
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.db


revision: str = 'b1callbacks01'
down_revision: str | None = 'a1payments01'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('callback_calendars',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('creditor_id', sa.String(length=36), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('hours', sa.JSON(), nullable=False),
    sa.Column('slot_minutes', sa.Integer(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('holiday_country', sa.String(length=2), nullable=True),
    sa.Column('holiday_subdivision', sa.String(length=8), nullable=True),
    sa.Column('closed_dates', sa.JSON(), nullable=True),
    sa.Column('lead_minutes', sa.Integer(), nullable=False),
    sa.Column('reminder_minutes_before', sa.Integer(), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creditor_id'], ['creditors.id'], name=op.f('fk_callback_calendars_creditor_id_creditors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callback_calendars')),
    sa.UniqueConstraint('creditor_id', name=op.f('uq_callback_calendars_creditor_id'))
    )
    op.create_table('callbacks',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('creditor_id', sa.String(length=36), nullable=False),
    sa.Column('debt_id', sa.String(length=36), nullable=True),
    sa.Column('debtor_id', sa.String(length=36), nullable=False),
    sa.Column('starts_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seat', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('agent', sa.String(length=120), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('reminder_sent_at', app.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IN ('reached', 'no_answer', 'promise_to_pay', 'plan_agreed', 'refused')", name=op.f('ck_callbacks_outcome')),
    sa.CheckConstraint("status IN ('booked', 'claimed', 'completed', 'canceled')", name=op.f('ck_callbacks_status')),
    sa.ForeignKeyConstraint(['creditor_id'], ['creditors.id'], name=op.f('fk_callbacks_creditor_id_creditors')),
    sa.ForeignKeyConstraint(['debt_id'], ['debts.id'], name=op.f('fk_callbacks_debt_id_debts')),
    sa.ForeignKeyConstraint(['debtor_id'], ['debtors.id'], name=op.f('fk_callbacks_debtor_id_debtors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callbacks')),
    sa.UniqueConstraint('creditor_id', 'starts_at', 'seat', name=op.f('uq_callbacks_creditor_id_starts_at_seat'))
    )
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_callbacks_creditor_id'), ['creditor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_callbacks_debt_id'), ['debt_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_callbacks_debtor_id'), ['debtor_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('callbacks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_callbacks_debtor_id'))
        batch_op.drop_index(batch_op.f('ix_callbacks_debt_id'))
        batch_op.drop_index(batch_op.f('ix_callbacks_creditor_id'))

    op.drop_table('callbacks')
    op.drop_table('callback_calendars')
