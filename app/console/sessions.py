"""Console sessions, CSRF tokens, and login throttling.

The session is Starlette's SessionMiddleware: a cookie signed with PARLEY_CONSOLE_SECRET
by itsdangerous, holding only the signed-in user's id and the session's CSRF token (a
changed byte voids it). It is HttpOnly, SameSite=Lax, scoped to /console, lasts at most
12 hours, and is Secure whenever PARLEY_PUBLIC_URL is https (the console behind TLS).

Every form carries the session's CSRF token (a hidden field, or the X-CSRF-Token header
htmx sends), compared in constant time: a page on another site can make a browser post
to the console but cannot read the token.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi import FastAPI, Request
from starlette.middleware.sessions import SessionMiddleware

from app.config import Settings

COOKIE = "parley_console"
COOKIE_PATH = "/console"
SESSION_SECONDS = 12 * 3600
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def install_sessions(app: FastAPI, settings: Settings) -> None:
    """Add the signed session cookie to `app` (console paths only carry it)."""
    secret = settings.console_secret
    # Without a configured secret (development, tests) sessions last as long as the
    # process; production refuses to start without one (see Settings).
    key = secret.get_secret_value() if secret else secrets.token_urlsafe(32)
    app.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie=COOKIE,
        max_age=SESSION_SECONDS,
        path=COOKIE_PATH,
        same_site="lax",
        https_only=settings.public_base.startswith("https://"),
    )


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use."""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_KEY] = token
    return token


def start_session(request: Request, user_id: str) -> None:
    """Sign `user_id` in: a fresh session with a new CSRF token."""
    request.session.clear()
    request.session["user_id"] = user_id
    request.session[CSRF_KEY] = secrets.token_urlsafe(32)


def csrf_matches(request: Request, given: str | None) -> bool:
    """Whether a submitted token is this session's (constant-time)."""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str) or not given:
        return False
    return hmac.compare_digest(token.encode(), given.encode())


@dataclass
class _Failures:
    times: deque[datetime] = field(default_factory=deque)


class LoginThrottle:
    """At most `limit` failed logins per email and per client address in `window`; then
    that email (or address) is refused until the oldest failure leaves the window, even
    with the right password. Counted per process: with several server processes an
    attacker gets `limit` tries per process, still a handful per window."""

    def __init__(self, limit: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self.limit = limit
        self.window = window
        self._lock = threading.Lock()
        self._failures: dict[str, _Failures] = {}

    def _prune(self, key: str, now: datetime) -> deque[datetime]:
        entry = self._failures.setdefault(key, _Failures())
        while entry.times and now - entry.times[0] >= self.window:
            entry.times.popleft()
        return entry.times

    def retry_after(self, keys: list[str], now: datetime) -> timedelta | None:
        """How long until these keys may try again (None: they may now)."""
        with self._lock:
            waits = []
            for key in keys:
                times = self._prune(key, now)
                if len(times) >= self.limit:
                    waits.append(times[0] + self.window - now)
            return max(waits) if waits else None

    def failed(self, keys: list[str], now: datetime) -> None:
        with self._lock:
            for key in keys:
                self._prune(key, now).append(now)

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
