"""API keys (their lifecycle is in app/api_keys.py) and who a request acts as (the
Principal). The FastAPI dependencies that use them are in app/deps.py."""

from __future__ import annotations

from dataclasses import dataclass

from app.api_keys import create_api_key, find_api_key, generate_api_key
from app.creditors.models import ApiKey, Creditor
from app.errors import Forbidden

__all__ = ["Principal", "create_api_key", "find_api_key", "generate_api_key"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: one key of one creditor."""

    creditor: Creditor
    api_key: ApiKey

    @property
    def actor(self) -> str:
        return f"api_key:{self.api_key.id}"

    @property
    def is_admin(self) -> bool:
        return self.api_key.role == "admin"

    def require_admin(self) -> None:
        """Refuse agent keys on settings that only the finance team may change."""
        if not self.is_admin:
            raise Forbidden("this API key's role may not change settings; use an admin key")
