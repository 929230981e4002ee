"""Imports every model so the metadata (Alembic, create_all) sees all tables."""

from app.callbacks.models import Callback, CallbackCalendar
from app.conversations.models import Conversation, Promise
from app.creditors.models import ApiKey, Creditor
from app.db import Base
from app.debts.models import Debt, Debtor, Event
from app.messaging.models import Message, PhoneOptOut
from app.offers.models import Installment, OfferRule, OfferRuleVersion, Plan
from app.payments.models import Payment, PaymentCode
from app.users.models import User

__all__ = [
    "ApiKey",
    "Base",
    "Callback",
    "CallbackCalendar",
    "Conversation",
    "Creditor",
    "Debt",
    "Debtor",
    "Event",
    "Installment",
    "Message",
    "OfferRule",
    "OfferRuleVersion",
    "Payment",
    "PaymentCode",
    "PhoneOptOut",
    "Plan",
    "Promise",
    "User",
]
