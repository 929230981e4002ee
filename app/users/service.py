"""Console users: creation, password checks and sign-in.

Passwords are hashed with argon2id through argon2-cffi (its RFC 9106 low-memory
profile); a hash made with older parameters is upgraded at the next sign-in.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.access.roles import ROLES
from app.creditors.models import Creditor
from app.errors import Conflict, ValidationFailed
from app.events import record_event
from app.users.models import User

MIN_PASSWORD_LENGTH = 12
# argon2 hashes whatever it is given; a cap keeps one request from costing much more.
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    # Verified against when the email is unknown, so that an unknown email costs as
    # long as a wrong password and the timing tells nothing.
    return _hasher.hash("parley-no-such-user")


def normalize_email(email: str) -> str:
    """The stored form of `email` (422 naming `email` when it is not an address)."""
    try:
        checked = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(f"not a valid email address: {exc}", field="email") from None
    return checked.normalized.lower()


def check_password_strength(password: str) -> None:
    """Refuse passwords too short to resist guessing, or too long to hash cheaply."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"must be at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"must be at most {MAX_PASSWORD_LENGTH} characters", field="password"
        )
    if not password.strip():
        raise ValidationFailed("must not be only spaces", field="password")


def hash_password(password: str) -> str:
    """An argon2id hash of `password`, with its own salt and parameters."""
    return _hasher.hash(password)


def find_user_by_email(session: Session, email: str) -> User | None:
    """The user with this email (any spelling of it), if any."""
    try:
        normalized = normalize_email(email)
    except ValidationFailed:
        return None
    return session.scalars(select(User).where(User.email == normalized)).first()


def get_user(session: Session, user_id: str) -> User | None:
    """The user with this id, if any."""
    return session.get(User, user_id)


def create_user(
    session: Session,
    creditor: Creditor,
    *,
    email: str,
    password: str,
    role: str,
    now: datetime,
    actor: str,
) -> User:
    """A new console user of `creditor` (422 for a bad email, password or role; 409
    when the email is taken, by this creditor or another)."""
    normalized = normalize_email(email)
    if role not in ROLES:
        raise ValidationFailed(f"must be one of {', '.join(ROLES)}", field="role")
    check_password_strength(password)
    if session.scalars(select(User.id).where(User.email == normalized)).first() is not None:
        raise Conflict("a user with this email already exists", field="email")
    user = User(
        creditor_id=creditor.id,
        email=normalized,
        password_hash=hash_password(password),
        role=role,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    record_event(
        session,
        creditor_id=creditor.id,
        actor=actor,
        kind="user.created",
        now=now,
        to_value=role,
        data={"user_id": user.id},
    )
    return user


def set_password(session: Session, user: User, password: str, *, now: datetime, actor: str) -> None:
    """Replace `user`'s password (checked for strength first)."""
    check_password_strength(password)
    user.password_hash = hash_password(password)
    user.updated_at = now
    record_event(
        session,
        creditor_id=user.creditor_id,
        actor=actor,
        kind="user.password_changed",
        now=now,
        data={"user_id": user.id},
    )
    session.flush()


def authenticate(
    session: Session, email: str, password: str, *, now: datetime | None = None
) -> User | None:
    """The active user whose email and password these are, or None.

    Takes as long for an unknown email as for a wrong password (one argon2
    verification either way). With `now`, records the sign-in time.
    """
    user = find_user_by_email(session, email) if len(password) <= MAX_PASSWORD_LENGTH else None
    if user is None or user.disabled_at is not None:
        _verify(_dummy_hash(), password[:MAX_PASSWORD_LENGTH])
        return None
    if not _verify(user.password_hash, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if now is not None:
        user.last_login_at = now
    session.flush()
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
