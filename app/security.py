"""API keys: generation, hashing, look-up. Who a request acts as and what it may do is
app.access; the FastAPI dependencies are in app/deps.py and app/access/deps.py."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import Clock
from app.creditors.models import ApiKey, Creditor

KEY_PREFIX = "pk_"


def generate_api_key() -> str:
    """A new secret key: 256 bits, URL-safe, recognisable by its prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """Keys are high-entropy, so one SHA-256 is enough to make a leaked table useless."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    session: Session,
    creditor: Creditor,
    clock: Clock,
    *,
    name: str = "default",
    role: str = "admin",
    key: str | None = None,
) -> tuple[ApiKey, str]:
    """Store a key for `creditor` and return it with its one-time plain text."""
    plain = key or generate_api_key()
    row = ApiKey(
        creditor_id=creditor.id,
        name=name,
        role=role,
        key_hash=hash_api_key(plain),
        key_prefix=plain[:10],
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row, plain


def find_api_key(session: Session, plain: str) -> ApiKey | None:
    """The stored key matching `plain`, compared by digest."""
    digest = hash_api_key(plain)
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return row
