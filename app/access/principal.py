"""The principal of a request: one creditor, one role, and the API key or console user
acting."""

from __future__ import annotations

from dataclasses import dataclass

from app.access.roles import Permission, Role, role_allows
from app.creditors.models import ApiKey, Creditor
from app.errors import Forbidden
from app.users.models import User


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key or a console user of one creditor, with its role."""

    creditor: Creditor
    role: Role
    api_key: ApiKey | None = None
    user: User | None = None

    def __post_init__(self) -> None:
        if (self.api_key is None) == (self.user is None):
            raise ValueError("a principal is exactly one API key or one user")

    @classmethod
    def for_api_key(cls, creditor: Creditor, key: ApiKey) -> Principal:
        return cls(creditor=creditor, role=Role(key.role), api_key=key)

    @classmethod
    def for_user(cls, creditor: Creditor, user: User) -> Principal:
        return cls(creditor=creditor, role=Role(user.role), user=user)

    @property
    def creditor_id(self) -> str:
        return self.creditor.id

    @property
    def api_key_id(self) -> str | None:
        return self.api_key.id if self.api_key else None

    @property
    def user_id(self) -> str | None:
        return self.user.id if self.user else None

    @property
    def actor(self) -> str:
        """How events and messages name this principal: "api_key:<id>" or "user:<id>"."""
        if self.user is not None:
            return f"user:{self.user.id}"
        assert self.api_key is not None
        return f"api_key:{self.api_key.id}"

    @property
    def name(self) -> str:
        """A human label: the key's name or the user's email."""
        if self.user is not None:
            return self.user.email
        assert self.api_key is not None
        return self.api_key.name

    def can(self, permission: Permission) -> bool:
        """Whether this principal's role holds `permission`."""
        return role_allows(self.role, permission)

    def require(self, permission: Permission) -> None:
        """Refuse (403) unless this principal's role holds `permission`."""
        if not self.can(permission):
            raise Forbidden(
                f"the {self.role.value} role may not do this (needs '{permission.value}')"
            )

    @property
    def sees_amounts(self) -> bool:
        """Agents work conversations without seeing what debts are worth."""
        return self.can(Permission.VIEW_AMOUNTS)
