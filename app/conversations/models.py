"""Conversations (one per debtor, with the menu last offered) and promises to pay."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal, TypedDict, cast, get_args

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import ID, Base, new_id

# open: being kept; kept: paid by the date; broken: the date passed unpaid;
# canceled: superseded (a plan was agreed, the debt was settled or disputed).
PromiseStatus = Literal["open", "kept", "broken", "canceled"]
PROMISE_STATUSES: tuple[PromiseStatus, ...] = get_args(PromiseStatus)
MenuKind = Literal["plan", "callback"]
MENU_KINDS: tuple[MenuKind, ...] = get_args(MenuKind)
# How long a menu sent in answer to a text stays valid.
MENU_TTL = timedelta(hours=48)


class MenuOption(TypedDict, total=False):
    """One option of the menu last sent; `key` is what the debtor replies ("1", "B",
    "X"). Plan options carry the installment amounts and the rule version they were
    computed from; slot options the call's start and end; a cancel option the call."""

    key: str
    # plan options
    count: int
    amounts: list[int]
    total: int
    balance: int
    rule_version_id: str
    # a negotiated (or hardship) plan: its own due dates (ISO), period and down payment
    due_dates: list[str]
    periodicity: str
    down_payment: int
    proposal: bool
    hardship: bool
    # callback slot options (ISO 8601 instants)
    starts_at: str
    ends_at: str
    # the "X to cancel" option of a booked call
    action: Literal["cancel"]
    callback_id: str


class Conversation(Base):
    """The running SMS exchange with one debtor: the last menu sent (so that "2" or "B"
    can be resolved against it), the debt in focus, and whether a human must look."""

    __tablename__ = "conversations"
    __table_args__ = (CheckConstraint(f"menu_kind IN {MENU_KINDS}", name="menu_kind"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), index=True)
    debtor_id: Mapped[str] = mapped_column(ForeignKey("debtors.id"), unique=True)
    focus_debt_id: Mapped[str | None] = mapped_column(ForeignKey("debts.id"))
    menu_kind: Mapped[MenuKind | None] = mapped_column(String(16))
    # [{"key": "1", ...option fields}] (MenuOption), meaning depends on menu_kind.
    menu_options: Mapped[list[Any] | None]
    menu_debt_id: Mapped[str | None] = mapped_column(ForeignKey("debts.id"))
    menu_expires_at: Mapped[datetime | None]
    # The text that offered the menu, shown again when a reply picks no option on it.
    menu_prompt: Mapped[str | None] = mapped_column(Text)
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    attention_reason: Mapped[str | None] = mapped_column(String(200))
    last_inbound_at: Mapped[datetime | None]
    last_intent: Mapped[str | None] = mapped_column(String(16))
    handled_at: Mapped[datetime | None]
    handled_by: Mapped[str | None] = mapped_column(String(64))
    # The person working it ("user:<id>" or "api_key:<id>"), so two agents do not both
    # answer the same debtor.
    assigned_to: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    # ------------------------------------------------------------------ the menu
    def open_menu(
        self,
        kind: MenuKind,
        options: list[MenuOption],
        debt_id: str | None,
        *,
        expires_at: datetime,
        now: datetime,
        prompt: str | None = None,
    ) -> None:
        """Remember the menu just offered so that a CHOICE can be resolved against it,
        and its text (`prompt`), shown again when a reply picks nothing on it."""
        self.menu_prompt = prompt
        self.menu_kind = kind
        self.menu_options = [dict(option) for option in options]
        self.menu_debt_id = debt_id
        self.menu_expires_at = expires_at
        self.updated_at = now

    def close_menu(self) -> None:
        self.menu_prompt = None
        self.menu_kind = None
        self.menu_options = None
        self.menu_debt_id = None
        self.menu_expires_at = None

    def menu_is_open(self, now: datetime) -> bool:
        return (
            self.menu_kind is not None
            and self.menu_expires_at is not None
            and self.menu_expires_at > now
        )

    def menu_keys(self, now: datetime) -> list[str]:
        """The keys of the menu still open (empty when none is)."""
        if not self.menu_is_open(now):
            return []
        return [str(option.get("key", "")).upper() for option in self.menu()]

    def menu(self) -> list[MenuOption]:
        """The options of the menu last sent (open or not)."""
        return [cast(MenuOption, option) for option in self.menu_options or []]

    def menu_option(self, key: str, now: datetime) -> MenuOption | None:
        """The option `key` of the menu still open, if it has one."""
        if not self.menu_is_open(now):
            return None
        wanted = key.strip().upper()
        for option in self.menu():
            if str(option.get("key", "")).upper() == wanted:
                return option
        return None


class Promise(Base):
    """A debtor's promise to pay a debt by a date (PROMISE replies)."""

    __tablename__ = "promises"
    __table_args__ = (
        CheckConstraint(f"status IN {PROMISE_STATUSES}", name="status"),
        # The promise job reads the open promises on every tick.
        Index(
            "ix_promises_open",
            "promised_date",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), index=True)
    debtor_id: Mapped[str] = mapped_column(ForeignKey("debtors.id"))
    debt_id: Mapped[str] = mapped_column(ForeignKey("debts.id"), index=True)
    promised_date: Mapped[date] = mapped_column(Date)
    # The balance when promised: a promise is kept when the balance drops below it.
    balance_at_promise: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[PromiseStatus] = mapped_column(String(16), default="open")
    source_message_id: Mapped[str | None] = mapped_column(ForeignKey("messages.id"))
    reminded_at: Mapped[datetime | None]
    followed_up_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


__all__ = ["Conversation", "Promise"]
