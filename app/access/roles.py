"""The three roles API keys and console users share, and what each may do.

PRODUCT.md: `admin` (everything), `agent` (conversations, callbacks, messages; never
debts' amounts, imports or settings), `viewer` (reads only). Every endpoint and page
names the one permission it needs; this table is the only place that decides which
role holds it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args

RoleName = Literal["admin", "agent", "viewer"]
ROLES: tuple[RoleName, ...] = get_args(RoleName)


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    VIEWER = "viewer"


class Permission(StrEnum):
    # Read what is not money: debts' identity and status, debtors, conversations,
    # messages, callbacks, the calendar, the creditor's settings, events.
    VIEW = "view"
    # Read money: debts' amounts and balances, offers, plans, payment codes, payments,
    # offer rules, recovery analytics.
    VIEW_AMOUNTS = "view_amounts"
    # Bulk CSV exports (debts, messages, payments).
    EXPORT = "export"
    # Work the conversations: reply, mark handled, queue a statement; claim, complete,
    # reschedule and cancel callbacks.
    WORK = "work"
    # Change debts: import (JSON or CSV), close, resume, clear review flags, simulate
    # an inbound text.
    MANAGE_DEBTS = "manage_debts"
    # Change settings: the creditor, offer rules, the callback calendar, users.
    CONFIGURE = "configure"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.AGENT: frozenset({Permission.VIEW, Permission.WORK}),
    Role.VIEWER: frozenset({Permission.VIEW, Permission.VIEW_AMOUNTS, Permission.EXPORT}),
}


def role_allows(role: Role | str, permission: Permission) -> bool:
    """Whether `role` holds `permission` (an unknown role holds nothing)."""
    try:
        return permission in GRANTS[Role(role)]
    except ValueError:
        return False
