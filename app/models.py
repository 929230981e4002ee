"""Imports every model so the metadata (Alembic, create_all) sees all tables."""

from app.creditors.models import ApiKey, Creditor
from app.db import Base
from app.debts.models import Debt, Debtor, Event
from app.messaging.models import Message

__all__ = ["ApiKey", "Base", "Creditor", "Debt", "Debtor", "Event", "Message"]
