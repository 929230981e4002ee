"""What every request passes before it reaches a route: a body-size limit enforced while
the body is read, and a refusal of text no database column can hold (NUL characters,
unpaired UTF-16 surrogates) in the path, the query and JSON or form bodies.

Both are plain ASGI middleware, so they run before parsing, before authentication and
before any route code; their refusals carry the same JSON error body as every other
error (app/errors.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import ValidationFailed, error_body

# A NUL cannot be stored in PostgreSQL text, and a lone surrogate cannot be encoded as
# UTF-8 at all (for the database, the logs or the JSON answer).
UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "must not contain NUL characters or unpaired surrogates"
# List offsets beyond this are refused (422) before they reach the database (SQLite's
# integers stop at 2**63, and nobody pages that far).
MAX_OFFSET = 10_000_000
# Signed Twilio posts are never refused for their text (Twilio would retry them forever);
# their NULs are removed after the signature check instead (app/security.py).
UNCHECKED_FORM_PREFIXES = ("/webhooks/",)
# Twilio's identifiers are 34 characters and its numbers at most 16; anything longer than
# the column that stores it is refused (422) rather than failing in the database.
TWILIO_FIELD_LENGTHS = {
    "MessageSid": 64,
    "SmsMessageSid": 64,
    "SmsSid": 64,
    "From": 40,
    "To": 40,
}


class BodyTooLarge(HTTPException):
    """The request body passed its limit while it was read (413). An HTTPException, so
    FastAPI lets it through its body parsing to the JSON error handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")
        self.limit = limit


def too_large_response(limit: int) -> JSONResponse:
    """The 413 answer."""
    message = f"the request body is larger than {limit} bytes"
    return JSONResponse(error_body("payload_too_large", message, [("body", message)]), 413)


class BodyLimitMiddleware:
    """Refuse bodies over `default_limit` (or the per-path limit in `limits`): at once when
    Content-Length says so, otherwise as soon as the bytes read pass it."""

    def __init__(self, app: ASGIApp, *, default_limit: int, limits: Mapping[str, int]) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = dict(limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default_limit)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.strip().isdigit() and int(declared) > limit:
            await too_large_response(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await too_large_response(limit)(scope, receive, send)


def unstorable_field(value: Any, prefix: str = "") -> str | None:
    """The dotted path of the first string (key or value) in a decoded JSON document that
    holds a NUL or an unpaired surrogate, or None. Iterative, so depth cannot overflow."""
    stack: list[tuple[Any, str]] = [(value, prefix)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if UNSTORABLE_TEXT.search(item):
                return path or "body"
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                child_path = f"{path}.{key}" if path else str(key)
                if UNSTORABLE_TEXT.search(key):
                    return path or "body"
                stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend(
                (child, f"{path}.{index}" if path else str(index))
                for index, child in reversed(list(enumerate(item)))
            )
    return None


def _refusal(field: str) -> JSONResponse:
    message = f"{field}: {UNSTORABLE_MESSAGE}"
    return JSONResponse(error_body("validation_error", message, [(field, UNSTORABLE_MESSAGE)]), 422)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class UnstorableTextMiddleware:
    """Answer 422 naming the field when the path, a query parameter, or a string in a JSON
    or form body holds text that cannot be stored; everything else passes untouched.

    The JSON bodies of `row_validated_paths` are left to their route, which refuses such
    text row by row (a bulk import stores its valid rows and says why the others failed).
    """

    def __init__(self, app: ASGIApp, *, row_validated_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.row_validated_paths = row_validated_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if UNSTORABLE_TEXT.search(scope["path"]):
            await _refusal("path")(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        for key, value in parse_qsl(query, keep_blank_values=True):
            if UNSTORABLE_TEXT.search(key) or UNSTORABLE_TEXT.search(value):
                await _refusal(key if not UNSTORABLE_TEXT.search(key) else "query")(
                    scope, receive, send
                )
                return
        content_type = Headers(scope=scope).get("content-type", "")
        is_form = content_type.split(";", 1)[0].strip().lower() == (
            "application/x-www-form-urlencoded"
        ) and not scope["path"].startswith(UNCHECKED_FORM_PREFIXES)
        is_json = _is_json(content_type) and scope["path"] not in self.row_validated_paths
        if not (is_json or is_form):
            await self.app(scope, receive, send)
            return
        body, messages = await read_body(receive)
        field = _form_field(body) if is_form else _json_field(body)
        if field is not None:
            await _refusal(field)(scope, receive, send)
            return
        await self.app(scope, replay(messages, receive), send)


async def read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that hands out `messages` (a body already read) again, then goes on."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _json_field(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None  # malformed JSON is the route's to refuse, with its own message
    return unstorable_field(document)


def _form_field(body: bytes) -> str | None:
    for key, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
        if UNSTORABLE_TEXT.search(value):
            return key if not UNSTORABLE_TEXT.search(key) else "body"
        if UNSTORABLE_TEXT.search(key):
            return "body"
    return None


def storable_twilio_form(params: dict[str, str]) -> dict[str, str]:
    """A verified Twilio form made storable: NULs (and unpaired surrogates) removed, so
    the text is kept rather than refused; identifiers longer than their columns are a
    422 naming the field."""
    cleaned = {key: UNSTORABLE_TEXT.sub("", value) for key, value in params.items()}
    for field, limit in TWILIO_FIELD_LENGTHS.items():
        if len(cleaned.get(field, "")) > limit:
            raise ValidationFailed(f"{field} is longer than {limit} characters", field=field)
    return cleaned
