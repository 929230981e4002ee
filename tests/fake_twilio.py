"""A local, Twilio-compatible HTTP server for tests (standard library only).

The real ``twilio`` library (9.x) talks to it over HTTP, so tests exercise the
same request building, auth, serialisation and error parsing as production.

Pointing a client at it (``Domain.absolute_url`` reads ``base_url`` on every
request, so setting it after construction is enough)::

    from twilio.rest import Client

    with FakeTwilio() as fake:
        client = Client(fake.account_sid, fake.auth_token)
        client.api.base_url = fake.base_url  # "http://127.0.0.1:PORT"
        msg = client.messages.create(to="+15558675310", from_="+15017122661", body="hi")
        assert msg.sid.startswith("SM") and msg.status == "queued"

or simply ``client = fake.make_client(timeout=0.5)``, which additionally clears
``edge``/``region`` (the ``TWILIO_EDGE``/``TWILIO_REGION`` environment variables
would otherwise make twilio rewrite the host name ``127.0.0.1``) and ignores
HTTP proxy environment variables.

``FakeTwilio(keep_alive=True)`` speaks HTTP/1.1 with keep-alive as Twilio does (the
default is HTTP/1.0, one request per connection); ``fake.connections`` lists the client
address of every TCP connection accepted, so a test can tell a reused connection from
new ones.

What the app sees from the real client (twilio 9.13, ``TwilioHttpClient``):

* HTTP error answers (4xx/5xx) -> ``twilio.base.exceptions.TwilioRestException``
  with ``.status`` (HTTP status, int) and ``.code`` (Twilio error code, int).
* Client timeout -> twilio does NOT wrap transport errors: a slow answer raises
  ``requests.exceptions.ReadTimeout`` (subclass of ``requests.exceptions.Timeout``
  and of ``requests.exceptions.RequestException``); a connect timeout raises
  ``requests.exceptions.ConnectTimeout`` (also a ``Timeout``). The default
  ``TwilioHttpClient()`` has NO timeout: always pass ``timeout=``.
* Server down / connection refused / dropped -> ``requests.exceptions.ConnectionError``.
  Catch ``requests.exceptions.RequestException`` for "outcome unknown or not sent".
  After a ``ReadTimeout`` the message may still be created (with ``delay_next``
  this server creates it once the delay ends), the same ambiguity as with the
  real Twilio: never blindly resend after a timeout.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import secrets
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from twilio.request_validator import RequestValidator

if TYPE_CHECKING:
    from twilio.rest import Client

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN = "test-token"
MAX_BODY_CHARS = 1600

# GSM 03.38 basic character set (without the ESC character) and its extension table.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def _error_body(status: int, code: int, message: str) -> dict[str, object]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def count_segments(body: str) -> int:
    """Number of SMS segments Twilio bills for ``body`` (GSM-7 vs UCS-2, roughly).

    GSM-7: 160 septets single, 153 per part (extension characters count 2).
    Anything outside GSM-7 switches the whole message to UCS-2: 70 single, 67 per
    part (counted in UTF-16 code units, so most emoji count 2). Empty -> 1.
    """
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in body):
        units = sum(2 if ch in _GSM7_EXTENSION else 1 for ch in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return 1
    return math.ceil(units / multi)


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two-letter prefix + 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


def rfc2822_now(now: datetime | None = None) -> str:
    """A time the way Twilio formats dates: ``Thu, 24 Aug 2023 05:01:45 +0000``."""
    return format_datetime((now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0))


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the fake received.

    ``form`` holds the url-encoded body (repeatable keys keep every value, e.g.
    ``form["MediaUrl"]``); ``headers`` keys are lower-cased; ``account_sid`` is the
    one from the URL path ("" if the path had none); ``auth_ok`` tells whether the
    Basic credentials matched.
    """

    method: str
    path: str
    form: dict[str, list[str]]
    headers: dict[str, str]
    account_sid: str
    auth_ok: bool


@dataclass
class _Failure:
    status: int
    code: int
    message: str


@dataclass(frozen=True)
class Fault:
    """What one request gets instead of a prompt, truthful answer.

    ``status``: answer this HTTP status with Twilio error JSON (``code`` defaults to
    it); ``reset``: drop the connection with a TCP reset, no answer; ``delay``: wait this
    many seconds before answering; ``hang``: wait until ``release_hung()`` (or stop);
    ``keep``: for a message create, create the message *before* the wait and the
    error/reset, as Twilio does when it accepted a message but its answer is lost.
    """

    status: int | None = None
    code: int | None = None
    reset: bool = False
    delay: float = 0.0
    hang: bool = False
    keep: bool = False
    message: str = "Service Unavailable (injected by FakeTwilio)"
    # Answer a create with this SID instead of a fresh one (a provider that gives two
    # messages one id); both messages are kept.
    sid: str | None = None

    @classmethod
    def kept_timeout(cls, seconds: float) -> Fault:
        """Twilio keeps the message, the answer comes after the client gave up."""
        return cls(delay=seconds, keep=True)


# (request, how many earlier requests of the same kind went to this To number) -> fault
FaultPolicy = Callable[[RecordedRequest, int], "Fault | None"]
_RESET = object()
_PASS = object()


@dataclass
class _State:
    requests: list[RecordedRequest] = field(default_factory=list)
    messages: dict[str, dict[str, object]] = field(default_factory=dict)
    failures: list[_Failure] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    create_policy: FaultPolicy | None = None
    list_policy: FaultPolicy | None = None
    outage: Fault | None = None
    per_to: dict[tuple[str, str], int] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    # Handler threads are joined by server_close(): stop() only returns once every
    # in-flight request has finished, so no thread outlives the fixture.
    daemon_threads = False
    block_on_close = True
    # The default backlog (5) drops SYNs under concurrent clients -> 1 s retransmit stalls.
    request_queue_size = 128

    def __init__(self, fake: FakeTwilio) -> None:
        self.fake = fake
        handler = _KeepAliveHandler if fake.keep_alive else _Handler
        super().__init__(("127.0.0.1", 0), handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Every accepted TCP connection is counted (and its socket kept, so stop() can
        # end idle keep-alive connections instead of waiting for their timeout).
        self.fake._connection_opened(request, client_address)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.fake._connection_closed(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0 by default: one request per connection (FakeTwilio(keep_alive=True) uses
    # _KeepAliveHandler; stop() then ends idle connections itself).
    protocol_version = "HTTP/1.0"
    server_version = "FakeTwilio/1.0"
    timeout = 10  # seconds a client may take to send its request

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        fake = self.server.fake  # type: ignore[attr-defined]
        assert isinstance(fake, FakeTwilio)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        split = urlsplit(self.path)
        form = parse_qs(raw.decode("utf-8"), keep_blank_values=True) if raw else {}
        if self.command == "GET" and split.query:
            form = parse_qs(split.query, keep_blank_values=True)
        headers = {key.lower(): value for key, value in self.headers.items()}
        result = fake._handle(self.command, split.path, form, headers)
        if result is None:  # stopped while delaying: drop the connection unanswered
            self.close_connection = True
            return
        if result is _RESET:
            # SO_LINGER 0: close() sends RST, the client sees "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        assert isinstance(result, tuple)
        status, payload = result
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Twilio-Request-Id", new_sid("RQ"))
            if status == HTTPStatus.UNAUTHORIZED:
                self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its timeout fired during delay_next).
            self.close_connection = True


class _KeepAliveHandler(_Handler):
    """HTTP/1.1 with keep-alive, as Twilio's API speaks it: a client reuses its
    connection for request after request (``FakeTwilio(keep_alive=True)``)."""

    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: the headers and the body leave in two writes; with Nagle's algorithm
    # the body would wait for the client's delayed ACK (~40 ms) on a kept-alive
    # connection.
    disable_nagle_algorithm = True


class FakeTwilio:
    """Twilio Programmable Messaging API subset served on ``127.0.0.1:<random port>``.

    Endpoints (everything else answers a Twilio-shaped 404, code 20404):

    * ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` -> 201 + Message JSON
    * ``GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`` -> 200 / 404

    Every request is checked against HTTP Basic ``(account_sid, auth_token)``
    (401, code 20003 otherwise) and recorded in ``requests``.
    """

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        now: Callable[[], datetime] | None = None,
        *,
        keep_alive: bool = False,
    ) -> None:
        self.account_sid = account_sid
        # HTTP/1.1 keep-alive (Twilio's behaviour); the default HTTP/1.0 answers one
        # request per connection.
        self.keep_alive = keep_alive
        # Client (host, port) of every TCP connection accepted, oldest first, and the
        # sockets still open.
        self._peers: list[tuple[str, int]] = []
        self._open_sockets: set[socket.socket] = set()
        self.auth_token = auth_token
        # The clock that stamps date_created (a test's FixedClock keeps both sides agreed).
        self.now = now or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        # Shares the lock, so waiting for a message and recording one never race.
        self._created = threading.Condition(self._lock)
        self._state = _State()
        self._stopping = threading.Event()
        # Bumped by release_hung(): a hung request goes on once it changes.
        self._release_generation = 0
        # Notified on every recorded request, so tests wait for one instead of sleeping.
        self._arrived = threading.Condition(self._lock)
        self._hung = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeTwilio:
        if self._server is not None:
            raise RuntimeError("FakeTwilio already started")
        self._stopping.clear()
        server = _Server(self)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-twilio",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; interrupts pending ``delay_next`` sleeps. Idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            idle = list(self._open_sockets)
        for sock in idle:  # idle keep-alive connections: end their handler's read
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        server.server_close()  # joins the handler threads
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` — assign it to ``client.api.base_url``."""
        if self._server is None:
            raise RuntimeError("FakeTwilio is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def make_client(self, *, timeout: float | None = 5.0) -> Client:
        """A real ``twilio.rest.Client`` wired to this server (credentials included).

        Uses ``TwilioHttpClient(timeout=timeout)``; ignores ``TWILIO_EDGE`` /
        ``TWILIO_REGION`` and proxy environment variables. Close it with
        ``client.http_client.session.close()`` when done (optional).
        """
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        http_client = TwilioHttpClient(timeout=timeout)
        if http_client.session is not None:
            http_client.session.trust_env = False
        client = Client(self.account_sid, self.auth_token, http_client=http_client)
        client.edge = None
        client.region = None
        client.api.base_url = self.base_url
        return client

    # --------------------------------------------------------------- inspection
    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot (copy) of every request received so far, oldest first."""
        with self._lock:
            return list(self._state.requests)

    @property
    def messages(self) -> list[dict[str, object]]:
        """Snapshot of the created Message resources (Twilio JSON shape), oldest first."""
        with self._lock:
            return [dict(m) for m in self._state.messages.values()]

    @property
    def connections(self) -> list[tuple[str, int]]:
        """The client address (host, port) of every TCP connection accepted so far,
        oldest first: a client that keeps its connection alive shows up once."""
        with self._lock:
            return list(self._peers)

    def _connection_opened(self, sock: socket.socket, address: tuple[str, int]) -> None:
        with self._lock:
            self._peers.append((str(address[0]), int(address[1])))
            self._open_sockets.add(sock)

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._open_sockets.discard(sock)

    def get_message(self, sid: str) -> dict[str, object] | None:
        with self._lock:
            found = self._state.messages.get(sid)
            return dict(found) if found is not None else None

    # ---------------------------------------------------------- fault injection
    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 500,
        code: int | None = None,
        message: str = "Internal Server Error (injected by FakeTwilio)",
    ) -> None:
        """The next ``n`` authenticated message-create calls answer ``status`` with
        Twilio error JSON ``{"code", "message", "more_info", "status"}`` and create
        nothing. ``code`` defaults to ``status``. Queued after earlier ``fail_next``.

        Typical: ``fail_next(status=400, code=21211)`` invalid To,
        ``(400, 21610)`` unsubscribed recipient, ``(400, 21614)`` not a mobile,
        ``(429, 20429)`` too many requests, ``(500)``/``(503)`` server errors.
        """
        failure = _Failure(
            status=status, code=code if code is not None else status, message=message
        )
        with self._lock:
            self._state.failures.extend([failure] * n)

    def delay_next(self, n: int, seconds: float) -> None:
        """The next ``n`` requests (any endpoint) wait ``seconds`` before being processed.

        The request is recorded on arrival; its effect (e.g. message creation)
        happens only after the delay, even if the client already timed out — like a
        slow Twilio that still sends. ``stop()`` interrupts the wait and drops the
        connection without an answer or side effect.
        """
        with self._lock:
            self._state.delays.extend([seconds] * n)

    def reset(self) -> None:
        """Forget recorded requests, messages, pending failures, delays, policies and
        the connections counted so far."""
        with self._lock:
            self._state = _State()
            self._peers = []

    def set_create_policy(self, policy: FaultPolicy | None) -> None:
        """Decide a fault per message create: ``policy(request, nth)`` where ``nth``
        counts the earlier creates to the same To number (0 for the first)."""
        with self._lock:
            self._state.create_policy = policy

    def set_list_policy(self, policy: FaultPolicy | None) -> None:
        """The same for Messages-list reads (``nth`` per To filter): e.g. answer
        ``Fault(status=503)`` to make ``messages.list`` raise ``TwilioException``."""
        with self._lock:
            self._state.list_policy = policy

    def set_outage(self, fault: Fault | None) -> None:
        """While set, every authenticated request gets ``fault`` (e.g.
        ``Fault(status=503)`` or ``Fault(reset=True)``) and nothing is created;
        ``None`` ends the outage."""
        with self._lock:
            self._state.outage = fault

    def release_hung(self) -> None:
        """Let every request held by a ``Fault(hang=True)`` so far go on (later ones
        hang until the next call)."""
        with self._arrived:
            self._release_generation += 1
            self._arrived.notify_all()

    def hung_count(self) -> int:
        """How many requests are held by ``Fault(hang=True)`` right now."""
        with self._lock:
            return self._hung

    def wait_for_requests(
        self, predicate: Callable[[list[RecordedRequest]], bool], timeout: float
    ) -> bool:
        """Block until ``predicate(requests so far)`` holds (an event, not a sleep)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: predicate(self._state.requests), timeout)

    def wait_for_hung(self, count: int, timeout: float) -> bool:
        """Block until ``count`` requests are held by ``Fault(hang=True)``."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._hung >= count, timeout)

    # ----------------------------------------------------------------- handling
    def _check_auth(self, headers: Mapping[str, str]) -> bool:
        value = headers.get("authorization", "")
        scheme, _, encoded = value.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        return (
            bool(sep)
            and secrets.compare_digest(user, self.account_sid)
            and secrets.compare_digest(password, self.auth_token)
        )

    def _handle(
        self,
        method: str,
        path: str,
        form: dict[str, list[str]],
        headers: dict[str, str],
    ) -> tuple[int, dict[str, object]] | object | None:
        parts = path.strip("/").split("/")
        url_account = parts[2] if len(parts) >= 3 and parts[:2] == [API_VERSION, "Accounts"] else ""
        auth_ok = self._check_auth(headers)
        record = RecordedRequest(
            method=method,
            path=path,
            form=form,
            headers=headers,
            account_sid=url_account,
            auth_ok=auth_ok,
        )
        rest_parts = parts[3:]
        is_create = method == "POST" and rest_parts == ["Messages.json"]
        is_list = method == "GET" and rest_parts == ["Messages.json"]
        with self._arrived:
            self._state.requests.append(record)
            self._arrived.notify_all()
            delay = self._state.delays.pop(0) if self._state.delays else 0.0
            fault = self._state.outage if auth_ok else None
            if fault is None and auth_ok and (is_create or is_list):
                to = (form.get("To") or [""])[0]
                kind = "create" if is_create else "list"
                nth = self._state.per_to.get((kind, to), 0)
                self._state.per_to[(kind, to)] = nth + 1
                policy = self._state.create_policy if is_create else self._state.list_policy
                fault = policy(record, nth) if policy is not None else None
        if fault is not None:
            outcome = self._apply_fault(fault, form if is_create else None)
            if outcome is not _PASS:
                return outcome
        if delay > 0 and self._stopping.wait(delay):
            return None

        if not auth_ok:
            return 401, {
                **_error_body(401, 20003, "Authenticate"),
                "detail": "Your AccountSid or AuthToken was incorrect.",
            }
        not_found = 404, _error_body(404, 20404, f"The requested resource {path} was not found")
        if url_account != self.account_sid:
            return not_found
        rest = parts[3:]
        if method == "POST" and rest == ["Messages.json"]:
            return self._create_message(form)
        if method == "GET" and rest == ["Messages.json"]:
            return 200, self._list_messages(form)
        if (
            method == "GET"
            and len(rest) == 2
            and rest[0] == "Messages"
            and rest[1].endswith(".json")
        ):
            found = self.get_message(rest[1].removesuffix(".json"))
            return (200, found) if found is not None else not_found
        return not_found

    def _apply_fault(
        self, fault: Fault, create_form: dict[str, list[str]] | None
    ) -> tuple[int, dict[str, object]] | object | None:
        kept: tuple[int, dict[str, object]] | None = None
        if fault.keep and create_form is not None:
            kept = self._create_message(create_form, use_failures=False, sid=fault.sid)
        if fault.delay > 0 and self._stopping.wait(fault.delay):
            return None
        if fault.hang:
            with self._arrived:
                generation = self._release_generation
                self._hung += 1
                self._arrived.notify_all()
                while self._release_generation == generation and not self._stopping.is_set():
                    self._arrived.wait(0.05)
                self._hung -= 1
            if self._stopping.is_set():
                return None
        if fault.reset:
            return _RESET
        if fault.status is not None:
            code = fault.code if fault.code is not None else fault.status
            return fault.status, _error_body(fault.status, code, fault.message)
        if kept is not None:
            return kept
        if fault.sid is not None and create_form is not None:
            return self._create_message(create_form, use_failures=False, sid=fault.sid)
        return _PASS  # only slowed down: answer truthfully

    def wait_for_messages(self, count: int, timeout: float) -> bool:
        """Block until `count` messages exist (an event, not a polling sleep)."""
        with self._created:
            return self._created.wait_for(lambda: len(self._state.messages) >= count, timeout)

    def _list_messages(self, query: Mapping[str, list[str]]) -> dict[str, object]:
        """Messages list, filtered by To and DateSent> like Twilio's (one page)."""
        to = (query.get("To") or [None])[0]
        after = (query.get("DateSent>") or [None])[0]
        with self._lock:
            found = [
                m
                for m in self._state.messages.values()
                if (to is None or m["to"] == to)
                and (after is None or str(m["_created_iso"]) >= after)
            ]
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        return {
            "messages": [{k: v for k, v in m.items() if not k.startswith("_")} for m in found],
            "first_page_uri": base,
            "next_page_uri": None,
            "previous_page_uri": None,
            "page": 0,
            "page_size": 50,
            "uri": base,
            "end": max(len(found) - 1, 0),
            "start": 0,
        }

    def _create_message(
        self, form: Mapping[str, list[str]], *, use_failures: bool = True, sid: str | None = None
    ) -> tuple[int, dict[str, object]]:
        with self._lock:
            failure = self._state.failures.pop(0) if self._state.failures and use_failures else None
        if failure is not None:
            return failure.status, _error_body(failure.status, failure.code, failure.message)

        def first(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values else None

        to, from_, service = first("To"), first("From"), first("MessagingServiceSid")
        body, media = first("Body"), form.get("MediaUrl", [])
        if not to:
            return 400, _error_body(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            return 400, _error_body(
                400, 21603, "The source 'from' phone number is required to send an SMS"
            )
        if not body and not media and not first("ContentSid"):
            return 400, _error_body(400, 21602, "Message body is required.")
        if body is not None and len(body) > MAX_BODY_CHARS:
            return 400, _error_body(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if len(media) > 10:
            return 400, _error_body(400, 21623, "Number of media files exceeds allowed limit.")

        if first("ScheduleType") == "fixed":
            status = "scheduled"
        elif from_:
            status = "queued"
        else:  # Messaging Service picks the sender later; Twilio answers "accepted".
            status = "accepted"
        sid = sid or new_sid("MM" if media else "SM")
        now = rfc2822_now(self.now())
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
        resource: dict[str, object] = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body or "",
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_ or None,
            "messaging_service_sid": service or None,
            "num_media": str(len(media)),
            "num_segments": str(count_segments(body or "")),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": status,
            "subresource_uris": {
                "media": uri.removesuffix(".json") + "/Media.json",
                "feedback": uri.removesuffix(".json") + "/Feedback.json",
            },
            "to": to,
            "uri": uri,
        }
        with self._created:
            key = sid
            while key in self._state.messages:  # a reused SID: keep both messages
                key += "+"
            self._state.messages[key] = {
                **resource,
                "_created_iso": self.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            self._created.notify_all()
        return 201, dict(resource)


# --------------------------------------------------------------------- webhooks
def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """``X-Twilio-Signature`` Twilio would send for a form POST of ``params`` to ``url``."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


def _country(number: str) -> str:
    if number.startswith("+1"):
        return "US"
    if number.startswith("+55"):
        return "BR"
    if number.startswith("+52"):
        return "MX"
    return ""


def status_callback_params(
    message_sid: str,
    status: str,
    error_code: int | None = None,
    to: str = "+15558675310",
    from_: str = "+15017122661",
    *,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    messaging_service_sid: str | None = None,
) -> dict[str, str]:
    """Form fields of a Twilio message status callback (``StatusCallback`` POST).

    ``ErrorCode`` is present only when ``error_code`` is given (Twilio sends it on
    failed / undelivered); ``RawDlrDoneDate`` (YYMMDDhhmm) on delivered / undelivered.
    """
    params: dict[str, str] = {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "From": from_,
        "MessageSid": message_sid,
        "MessageStatus": status,
        "SmsSid": message_sid,
        "SmsStatus": status,
        "To": to,
    }
    if messaging_service_sid is not None:
        params["MessagingServiceSid"] = messaging_service_sid
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    if status in {"delivered", "undelivered"}:
        params["RawDlrDoneDate"] = datetime.now(UTC).strftime("%y%m%d%H%M")
    return params


def inbound_sms_params(
    *,
    from_: str,
    to: str,
    body: str,
    message_sid: str | None = None,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    messaging_service_sid: str | None = None,
    media: Iterable[tuple[str, str]] = (),
    opt_out_type: str | None = None,
) -> dict[str, str]:
    """Form fields of Twilio's incoming-message webhook.

    ``media`` is ``(url, content_type)`` pairs -> ``MediaUrl{N}``/``MediaContentType{N}``.
    ``opt_out_type`` ("STOP"/"START"/"HELP") adds ``OptOutType`` as Advanced Opt-Out does.
    """
    media_list = list(media)
    sid = message_sid or new_sid("MM" if media_list else "SM")
    params: dict[str, str] = {
        "ToCountry": _country(to),
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": str(len(media_list)),
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": _country(from_),
        "To": to,
        "ToZip": "",
        "NumSegments": str(count_segments(body)),
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_,
        "ApiVersion": API_VERSION,
    }
    if messaging_service_sid is not None:
        params["MessagingServiceSid"] = messaging_service_sid
    for index, (url, content_type) in enumerate(media_list):
        params[f"MediaUrl{index}"] = url
        params[f"MediaContentType{index}"] = content_type
    if opt_out_type is not None:
        params["OptOutType"] = opt_out_type
    return params
