"""The demo tenant `make run` starts with: a creditor, a few debts, a fresh key and a
console user with a fresh password."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from app.actions.debts import import_debts
from app.callbacks.service import get_calendar, save_calendar
from app.clock import Clock
from app.config import Settings
from app.creditors.service import get_or_create_creditor
from app.offers.service import create_rule, creditor_rules
from app.security import create_api_key
from app.users.service import create_user, find_user_by_email, set_password

DEMO_USER_EMAIL = "demo@example.com"


@dataclass(frozen=True)
class DemoLogin:
    """What `parley demo` prints: a new API key and the console user's sign-in."""

    api_key: str
    user_email: str
    user_password: str


def seed_demo(session: Session, clock: Clock, settings: Settings) -> DemoLogin:
    """Create (or refresh) the demo creditor, its debts and its admin console user;
    return a new API key and a new password for that user."""
    creditor = get_or_create_creditor(session, clock, settings.bootstrap_creditor)
    creditor.contact_phone = creditor.contact_phone or "+14155550100"
    today = clock.now().date()
    rows = [
        {
            "external_id": "DEMO-1001",
            "debtor": {"name": "Alex Morgan", "phone": "+14155550123", "language": "en"},
            "amount": 12360,
            "currency": "USD",
            "due_date": (today - timedelta(days=27)).isoformat(),
            "description": "Invoice 1001",
        },
        {
            "external_id": "DEMO-1002",
            "debtor": {"name": "Joana Silva", "phone": "+5511987654321", "language": "pt-BR"},
            "amount": 45990,
            "currency": "BRL",
            "due_date": (today - timedelta(days=12)).isoformat(),
            "description": "Fatura 1002",
        },
        {
            "external_id": "DEMO-1003",
            "debtor": {"name": "Luis Herrera", "phone": "+525512345678", "language": "es"},
            "amount": 189900,
            "currency": "MXN",
            "due_date": (today + timedelta(days=3)).isoformat(),
            "description": "Factura 1003",
        },
    ]
    failed = [
        outcome
        for outcome in import_debts(session, creditor, rows, now=clock.now(), actor="demo")
        if outcome.status == "error"
    ]
    if failed:
        raise RuntimeError(f"demo rows failed to import: {failed}")
    now = clock.now()
    # An offer rule and a callback calendar, so PLAN and CALL show their menus.
    if not creditor_rules(session, creditor.id):
        create_rule(
            session,
            creditor,
            {
                "name": "Demo standard",
                "priority": 10,
                "lump_sum_discount_pct": "10",
                "lump_sum_valid_days": 7,
                "installment_counts": [3, 6, 12],
                "monthly_interest_pct": "0",
                "min_installment": 1000,
                "first_installment_in_days": 30,
            },
            now=now,
            actor="demo",
        )
    if get_calendar(session, creditor.id) is None:
        weekdays = {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
        save_calendar(
            session,
            creditor,
            {
                "timezone": "America/New_York",
                "hours": weekdays,
                "slot_minutes": 30,
                "capacity": 2,
                "holiday_country": "US",
            },
            now=now,
            actor="demo",
        )
    _, key = create_api_key(session, creditor, clock, name="demo", role="admin")
    password = secrets.token_urlsafe(12)
    user = find_user_by_email(session, DEMO_USER_EMAIL)
    if user is None:
        create_user(
            session,
            creditor,
            email=DEMO_USER_EMAIL,
            password=password,
            role="admin",
            now=now,
            actor="demo",
        )
    else:
        set_password(session, user, password, now=now, actor="demo")
    return DemoLogin(api_key=key, user_email=DEMO_USER_EMAIL, user_password=password)
