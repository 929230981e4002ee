"""The inbound SMS webhook's common case served as plain ASGI, in front of everything
the app has (app.main.ParleyApp.front): the framework's own layers, the console's
sessions, the edge middlewares, the routing, dependencies and request objects, which
cost several times what storing the text costs (measured in bench/webhook_bench.py).
For the requests it answers itself it does what those edge layers would: it writes the
access-log line (app.access_log.log_request), takes only a body whose declared length
is within PARLEY_MAX_BODY_BYTES, and has no text to check (the path is the webhook's,
there is no query string, and a webhook's form is made storable rather than refused).

A signed form POST to `/webhooks/twilio/sms` with no query string is checked (one HMAC
over PARLEY_PUBLIC_URL + path), made storable (app.edge.storable_twilio_form), stored
through the group-commit inbox and answered with the empty TwiML once its batch has
committed: exactly what the FastAPI route (conversations.api.twilio_inbound_sms) does.
Everything else goes on to that route with the body replayed, untouched: a missing or
wrong signature, a form without MessageSid or From, an identifier too long, a body
larger than the limit or sent without a length, and a database that fails. So every
refusal and every error is answered by the route, exactly as before."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from app.access_log import log_request
from app.clock import Clock
from app.config import Settings
from app.conversations.inbox import GroupCommitInbox, incoming_from_form
from app.deps import twilio_signature_ok
from app.edge import read_body, replay, storable_twilio_form
from app.errors import ValidationFailed

PATH = "/webhooks/twilio/sms"
FORM = b"application/x-www-form-urlencoded"


class InboundSmsFastPath:
    """See the module docstring. `inbox` and `clock` are the app's own."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        inbox: GroupCommitInbox,
        clock: Clock,
        empty_twiml: str,
    ) -> None:
        self.app = app
        self.settings = settings
        self.inbox = inbox
        self.clock = clock
        self.body = empty_twiml.encode()
        self.headers = [
            (b"content-type", b"text/xml; charset=utf-8"),
            (b"content-length", str(len(self.body)).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or scope.get("query_string")
        ):
            await self.app(scope, receive, send)
            return
        length = None
        signature = None
        form_type = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"x-twilio-signature":
                signature = value
            elif name == b"content-type":
                form_type = value.split(b";", 1)[0].strip().lower() == FORM
        if (
            not form_type
            or signature is None
            or length is None
            or not length.isdigit()
            or int(length) > self.settings.max_body_bytes
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        body, messages = await read_body(receive)
        if not await self._store(body, signature.decode("latin-1")):
            await self.app(scope, replay(messages, receive), send)
            return
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            await send({"type": "http.response.body", "body": self.body})
        finally:
            log_request(scope, 200, started, PATH)

    async def _store(self, body: bytes, signature: str) -> bool:
        """Whether the text was checked and stored (False: the route decides)."""
        token = self.settings.twilio_auth_token
        if token is None:
            return False
        params = dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
        if not twilio_signature_ok(token, self.settings.public_base + PATH, params, signature):
            return False
        try:
            incoming = incoming_from_form(storable_twilio_form(params), self.clock.now())
        except ValidationFailed:
            return False
        if incoming is None:
            return False
        try:
            await self.inbox.store(incoming)
        except Exception:
            return False  # the route tries again and answers the error as everywhere
        return True
