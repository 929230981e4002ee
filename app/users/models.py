"""Console users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.access.roles import ROLES, RoleName
from app.db import ID, Base, new_id


class User(Base):
    """A person who signs in to the console. The email is unique across all creditors,
    since the login form asks only for an email and a password; the password is kept
    only as an argon2id hash."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES}", name="role"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    creditor_id: Mapped[str] = mapped_column(ForeignKey("creditors.id"), index=True)
    # Normalised (see users.service.normalize_email), so look-ups are exact.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[RoleName] = mapped_column(String(8))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    # A disabled user cannot sign in; the row stays, for the events that name it.
    disabled_at: Mapped[datetime | None]
