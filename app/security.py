"""API keys: generation, salted digests, look-up (their whole lifecycle is in
app/api_keys.py). Who a request acts as and what it may do is app.access; the FastAPI
dependencies are in app/deps.py and app/access/deps.py."""

from __future__ import annotations

from app.api_keys import KEY_PREFIX, create_api_key, find_api_key, generate_api_key

__all__ = ["KEY_PREFIX", "create_api_key", "find_api_key", "generate_api_key"]
