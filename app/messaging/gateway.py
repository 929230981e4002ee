"""SMS gateways: one small interface, a real Twilio implementation and a simulator."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import queue
import secrets
import threading
import weakref
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

import aiohttp
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageInstance
from urllib3.exceptions import NewConnectionError

from app.config import TWILIO_DEFAULT_API_BASE, Settings
from app.logs import mask_phone

logger = logging.getLogger("parley.gateway")

# Twilio error codes that say something about the number itself.
OPTED_OUT_CODES = frozenset({21610})
INVALID_NUMBER_CODES = frozenset({21211, 21614, 30006})
UNREACHABLE_CODES = frozenset({30005})
# Worth another try later: unreachable handset, unknown error, rate limits.
RETRYABLE_CODES = frozenset({20429, 30003, 30008})


@dataclass(frozen=True)
class OutboundSMS:
    """What a gateway needs to send one stored message."""

    message_id: str
    to: str
    body: str
    media_urls: Sequence[str] = ()
    status_callback: str | None = None
    # Twilio's ValidityPeriod (seconds): an initiated text not handed to the carrier
    # by then fails instead of arriving after the debtor's window closes.
    validity_period: int | None = None
    # The creditor's own sender, when it has one (else the global setting).
    from_number: str | None = None
    messaging_service_sid: str | None = None


@dataclass(frozen=True)
class SendResult:
    """The provider's answer: its id for the message and the status it reported."""

    provider_sid: str
    status: str
    segments: int | None = None


@dataclass(frozen=True)
class ProviderMessage:
    """An outbound message as the provider's Messages list shows it."""

    provider_sid: str
    status: str
    body: str
    num_media: int
    created_at: datetime | None


@dataclass
class GatewayError(Exception):
    """A send (or look-up) that did not go through.

    `retryable`: another attempt later may succeed (timeouts, 5xx, 429).
    `maybe_sent`: the provider may have accepted it anyway (read timeouts, resets,
    5xx), so look before sending again.
    `provider_down`: the provider itself is failing (5xx, 429, timeouts, no
    connection), not this message: it counts towards pausing all sending, not
    towards this message's attempts.
    """

    message: str
    code: int | None = None
    http_status: int | None = None
    retryable: bool = False
    maybe_sent: bool = False
    provider_down: bool = False

    def __str__(self) -> str:
        return f"{self.message} (code={self.code}, status={self.http_status})"


# What became of one message of a batch: the provider's answer, why it did not go
# through, or None when `before` held it back.
SendOutcome = SendResult | GatewayError | None
# Gate asked just before each message of a batch goes (in whatever thread sends it):
# False holds it back.
BeforeSend = Callable[[OutboundSMS], bool]
# A batch's outcomes as they come (see SmsGateway.send_batch).
SendStream = Generator[tuple[OutboundSMS, SendOutcome] | None, None, None]


class SmsGateway(Protocol):
    """Sends stored messages; implementations must not retry on their own."""

    name: str

    def send(self, sms: OutboundSMS) -> SendResult: ...

    def send_batch(
        self,
        messages: Sequence[OutboundSMS],
        *,
        concurrency: int,
        before: BeforeSend,
        poll: float = 0.1,
    ) -> SendStream:
        """Send `messages`, up to `concurrency` at once, each only if `before` lets it
        go at the moment it would; yields each one's outcome as it comes (completion
        order), and None whenever nothing came for `poll` seconds (so the caller can
        stop waiting). A caller that stops early leaves the sends in flight to finish
        unread."""
        ...

    def close(self) -> None:
        """Let go of connections and threads (a later send opens them again)."""
        ...

    def find_copies(self, sms: OutboundSMS, since: datetime) -> list[ProviderMessage]:
        """Outbound messages the provider holds to `sms.to` with `sms`'s text and media
        count, created since `since`, oldest first: the candidates for an earlier
        attempt that reached it. Raises GatewayError (retryable) when it cannot tell."""
        ...


class OneByOne:
    """`send_batch` and `close` for a gateway whose sends cost nothing to wait for (the
    simulators): one by one, in the caller's thread."""

    def send(self, sms: OutboundSMS) -> SendResult:
        raise NotImplementedError

    def send_batch(
        self,
        messages: Sequence[OutboundSMS],
        *,
        concurrency: int,
        before: BeforeSend,
        poll: float = 0.1,
    ) -> SendStream:
        for sms in messages:
            if not before(sms):
                yield sms, None
                continue
            try:
                yield sms, self.send(sms)
            except GatewayError as error:
                yield sms, error

    def close(self) -> None:
        pass


def provider_status(twilio_status: str | None) -> str:
    """Map a Twilio message status onto Parley's message statuses."""
    match twilio_status:
        case "accepted" | "scheduled" | "queued" | "sending" | None:
            return "submitted"
        case "sent" | "delivered" | "undelivered" | "failed" | "read" | "canceled":
            return twilio_status
        case "partially_delivered":
            return "delivered"
        case _:
            return "submitted"


def classify_twilio_error(exc: TwilioRestException) -> GatewayError:
    """Decide whether a Twilio REST error is worth retrying."""
    status = int(exc.status) if exc.status is not None else None
    code = int(exc.code) if exc.code is not None else None
    provider_down = status is not None and (status == 429 or status >= 500)
    retryable = provider_down or code in RETRYABLE_CODES
    # A 5xx may come after Twilio accepted the message: look before sending again.
    maybe_sent = status is not None and status >= 500
    return GatewayError(
        str(exc.msg),
        code=code,
        http_status=status,
        retryable=retryable,
        maybe_sent=maybe_sent,
        provider_down=provider_down,
    )


def classify_transport_error(exc: requests.exceptions.RequestException) -> GatewayError:
    """A request that got no HTTP answer: did it possibly reach the provider?"""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return GatewayError("connect timeout", retryable=True, provider_down=True)
    if isinstance(exc, requests.exceptions.Timeout):
        return GatewayError("timeout", retryable=True, maybe_sent=True, provider_down=True)
    reason = exc.args[0] if exc.args else None
    if isinstance(getattr(reason, "reason", None), NewConnectionError):
        # Refused / unreachable: the request never left this host.
        return GatewayError("no connection", retryable=True, provider_down=True)
    return GatewayError(
        f"transport error: {type(exc).__name__}",
        retryable=True,
        maybe_sent=True,
        provider_down=True,
    )


def classify_async_transport_error(exc: BaseException) -> GatewayError:
    """The same question for the async client (aiohttp): a connection that was never
    made, or a connect timeout, means the request never left this host; anything after
    the request went out (a read timeout, a reset, a dropped connection) may have
    reached the provider."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return GatewayError("connect timeout", retryable=True, provider_down=True)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return GatewayError("no connection", retryable=True, provider_down=True)
    if isinstance(exc, TimeoutError):
        return GatewayError("timeout", retryable=True, maybe_sent=True, provider_down=True)
    return GatewayError(
        f"transport error: {type(exc).__name__}",
        retryable=True,
        maybe_sent=True,
        provider_down=True,
    )


class _AsyncHttpClient(AsyncHttpClient):  # type: ignore[misc]  # twilio is untyped
    """twilio's async HTTP client interface over one aiohttp session, whose own
    timeouts apply (the library's own `AsyncTwilioHttpClient` hands `timeout=None` on, which
    aiohttp reads as no timeout at all). It logs no request lines of its own: Parley
    logs each send, masked."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        super().__init__(logging.getLogger("twilio.async_http_client"), True)
        self.session = session

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        sent = dict(headers or {})
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            sent["Authorization"] = f"Basic {token}"
        async with self.session.request(
            method.upper(),
            uri,
            params=cast(Any, params),
            data=data,
            headers=sent,
            allow_redirects=allow_redirects,
        ) as response:
            return Response(response.status, await response.text(), response.headers)

    async def close(self) -> None:
        await self.session.close()


class _AsyncSender:
    """Creates messages with the twilio library's async client (aiohttp) on an event
    loop thread of its own: a whole batch at once (`launch`, outcomes handed back
    through a queue as they come) or one call a caller waits for (`create`). All of it
    runs in that one thread, over one pool of keep-alive connections (as many as were
    in use at once; aiohttp ignores proxy environment settings unless asked). Measured
    against the requests-based client (bench/README.md): about half the CPU per
    message, and no thread per send contending for the interpreter."""

    def __init__(self, make: Callable[[AsyncHttpClient], Client], timeout: float) -> None:
        self._make = make
        self._timeout = timeout
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Client | None = None
        self._session: aiohttp.ClientSession | None = None
        self._finalizer: weakref.finalize[..., _AsyncSender] | None = None

    async def _open(self) -> Client:
        # As requests' timeout: this long to connect, and this long for each read.
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._timeout, sock_read=self._timeout
        )
        self._session = aiohttp.ClientSession(timeout=timeout)
        return self._make(_AsyncHttpClient(self._session))

    def _started(self) -> tuple[asyncio.AbstractEventLoop, Client]:
        with self._lock:
            if self._loop is None or self._client is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=_run_loop, args=(loop,), name="parley-twilio", daemon=True
                )
                thread.start()
                self._client = asyncio.run_coroutine_threadsafe(self._open(), loop).result()
                self._loop, self._thread = loop, thread
                # A gateway dropped without close() still ends its thread and connections.
                self._finalizer = weakref.finalize(self, _stop_soon, loop, self._session)
            return self._loop, self._client

    def create(self, kwargs: dict[str, object]) -> SendResult:
        """One create call, waited for; raises GatewayError."""
        loop, client = self._started()
        outcome = asyncio.run_coroutine_threadsafe(self._create(client, kwargs), loop).result()
        if isinstance(outcome, GatewayError):
            raise outcome
        return outcome

    def launch(
        self,
        calls: Sequence[tuple[OutboundSMS, dict[str, object]]],
        concurrency: int,
        before: BeforeSend,
        done: queue.SimpleQueue[tuple[OutboundSMS, SendOutcome]],
    ) -> None:
        """Start every create call of `calls`, at most `concurrency` at once; each
        outcome goes to `done` as it comes."""
        loop, client = self._started()
        asyncio.run_coroutine_threadsafe(self._all(client, calls, concurrency, before, done), loop)

    async def _all(
        self,
        client: Client,
        calls: Sequence[tuple[OutboundSMS, dict[str, object]]],
        concurrency: int,
        before: BeforeSend,
        done: queue.SimpleQueue[tuple[OutboundSMS, SendOutcome]],
    ) -> None:
        slots = asyncio.Semaphore(max(concurrency, 1))

        async def one(sms: OutboundSMS, kwargs: dict[str, object]) -> None:
            # Every message gets exactly one outcome, whatever happens: the caller
            # waits for as many as it handed over.
            outcome: SendOutcome = GatewayError(
                "send abandoned (gateway closed)", retryable=True, maybe_sent=True
            )
            try:
                async with slots:
                    try:
                        go = before(sms)
                    except Exception:
                        logger.exception("the check before a send failed; holding it back")
                        go = False
                    outcome = await self._create(client, kwargs) if go else None
            finally:
                done.put((sms, outcome))

        await asyncio.gather(*(one(sms, kwargs) for sms, kwargs in calls))

    @staticmethod
    async def _create(client: Client, kwargs: dict[str, object]) -> SendResult | GatewayError:
        try:
            created: MessageInstance = await client.messages.create_async(**kwargs)
        except TwilioRestException as exc:
            return classify_twilio_error(exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return classify_async_transport_error(exc)
        except Exception as exc:
            # Whether it left this host is unknown: look before sending again.
            logger.exception("create call failed unexpectedly")
            return GatewayError(
                f"unexpected error: {type(exc).__name__}", retryable=True, maybe_sent=True
            )
        segments = int(created.num_segments) if created.num_segments else None
        return SendResult(str(created.sid), provider_status(created.status), segments)

    def close(self) -> None:
        """Close the connections and end the loop thread (a later send starts again)."""
        with self._lock:
            loop, thread, session = self._loop, self._thread, self._session
            self._loop = self._thread = self._client = self._session = None
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
        if loop is None or thread is None or thread is threading.current_thread():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_wind_up(session), loop).result(timeout=5)
        with contextlib.suppress(RuntimeError):  # the loop has stopped already
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)


def _outcomes(
    done: queue.SimpleQueue[tuple[OutboundSMS, SendOutcome]], count: int, poll: float
) -> SendStream:
    for _ in range(count):
        while True:
            try:
                outcome = done.get(timeout=poll)
            except queue.Empty:
                yield None
                continue
            yield outcome
            break


async def _wind_up(session: aiohttp.ClientSession | None) -> None:
    """Cancel the sends still going (each then reports itself abandoned) and close the
    connections."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if session is not None:
        await session.close()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()


def _stop_soon(loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession | None) -> None:
    """Close `session` and stop `loop` from any thread, waiting for neither."""

    async def stop() -> None:
        try:
            await _wind_up(session)
        finally:
            loop.stop()

    with contextlib.suppress(RuntimeError):  # the loop is closed already
        asyncio.run_coroutine_threadsafe(stop(), loop)


class _ClientPool:
    """Twilio clients, each with its own keep-alive `requests.Session`, lent to one
    looking-up thread at a time (a Session is not thread-safe). A thread takes the most
    recently returned client, so a connection stays warm across batches even though
    the worker starts new threads for each batch's look-ups; there are never more
    clients than threads that looked up at the same moment."""

    def __init__(self, make: Callable[[], Client]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._idle: list[Client] = []
        self._all: list[Client] = []
        self._made = 0

    @contextmanager
    def lend(self) -> Iterator[Client]:
        with self._lock:
            client = self._idle.pop() if self._idle else None
        if client is None:
            client = self._make()
            with self._lock:
                self._all.append(client)
                self._made += 1
        try:
            yield client
        finally:
            with self._lock:
                if any(c is client for c in self._all):  # not closed meanwhile
                    self._idle.append(client)

    @property
    def made(self) -> int:
        """How many clients (sessions) were made, closed ones included."""
        with self._lock:
            return self._made

    def close(self) -> None:
        with self._lock:
            clients, self._all, self._idle = self._all, [], []
        for client in clients:
            session = client.http_client.session
            if session is not None:
                session.close()


class TwilioGateway:
    """The real twilio REST client, optionally pointed at a Twilio-compatible server.

    Messages are created with the library's async client on one event loop thread
    (`_AsyncSender`): one pool of keep-alive connections for all of them.
    Look-ups of earlier attempts (rare) use the requests-based client: each looking-up
    thread borrows one with its own pooled `requests.Session` (`_ClientPool`), which
    ignores proxy and netrc environment settings (`trust_env=False`: no look-ups per
    request; Parley talks to Twilio directly)."""

    name = "twilio"

    def __init__(self, settings: Settings) -> None:
        if not settings.twilio_account_sid or settings.twilio_auth_token is None:
            raise ValueError("the twilio gateway needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        if not settings.twilio_from and not settings.twilio_messaging_service_sid:
            raise ValueError(
                "the twilio gateway needs PARLEY_TWILIO_FROM or PARLEY_TWILIO_MESSAGING_SERVICE_SID"
            )
        self._settings = settings
        self._clients = _ClientPool(self._new_client)
        self._sender = _AsyncSender(self._client_with, settings.send_timeout_seconds)

    def _new_client(self) -> Client:
        http_client = TwilioHttpClient(
            pool_connections=True, timeout=self._settings.send_timeout_seconds
        )
        assert http_client.session is not None
        http_client.session.trust_env = False
        return self._client_with(http_client)

    def _client_with(self, http_client: TwilioHttpClient | AsyncHttpClient) -> Client:
        settings = self._settings
        assert settings.twilio_auth_token is not None
        client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            http_client=http_client,
        )
        if settings.twilio_api_base.rstrip("/") != TWILIO_DEFAULT_API_BASE:
            client.api.base_url = settings.twilio_api_base.rstrip("/")
            # Edge/region settings would rewrite the local host name.
            client.edge = None
            client.region = None
        return client

    @property
    def sessions(self) -> int:
        """How many look-up sessions (each with its keep-alive connection) were opened."""
        return self._clients.made

    def close(self) -> None:
        """Close every pooled connection (a later send opens a new one)."""
        self._sender.close()
        self._clients.close()

    def _create_kwargs(self, sms: OutboundSMS) -> dict[str, object]:
        kwargs: dict[str, object] = {"to": sms.to, "body": sms.body}
        if sms.messaging_service_sid:
            kwargs["messaging_service_sid"] = sms.messaging_service_sid
        elif sms.from_number:
            kwargs["from_"] = sms.from_number
        elif self._settings.twilio_messaging_service_sid:
            kwargs["messaging_service_sid"] = self._settings.twilio_messaging_service_sid
        else:
            kwargs["from_"] = self._settings.twilio_from
        if sms.status_callback:
            kwargs["status_callback"] = sms.status_callback
        if sms.media_urls:
            kwargs["media_url"] = list(sms.media_urls)
        if sms.validity_period is not None:
            kwargs["validity_period"] = sms.validity_period
        return kwargs

    def send(self, sms: OutboundSMS) -> SendResult:
        return self._sender.create(self._create_kwargs(sms))

    def send_batch(
        self,
        messages: Sequence[OutboundSMS],
        *,
        concurrency: int,
        before: BeforeSend,
        poll: float = 0.1,
    ) -> SendStream:
        # Started now, not at the first next(): the caller may do other work meanwhile.
        done: queue.SimpleQueue[tuple[OutboundSMS, SendOutcome]] = queue.SimpleQueue()
        self._sender.launch(
            [(sms, self._create_kwargs(sms)) for sms in messages], concurrency, before, done
        )
        return _outcomes(done, len(messages), poll)

    def find_copies(self, sms: OutboundSMS, since: datetime) -> list[ProviderMessage]:
        # Not filtered on DateSent: Twilio leaves it empty while a message is still queued.
        try:
            with self._clients.lend() as client:
                found = client.messages.list(to=sms.to, limit=50)
        except TwilioRestException as exc:
            error = classify_twilio_error(exc)
            raise GatewayError(
                "could not look up earlier attempts",
                code=error.code,
                http_status=error.http_status,
                retryable=True,
                provider_down=error.provider_down,
            ) from exc
        except TwilioException as exc:
            # A failed page (5xx, 429) raises the base class, not TwilioRestException.
            response = exc.args[1] if len(exc.args) > 1 else None
            status = getattr(response, "status_code", None)
            raise GatewayError(
                "could not look up earlier attempts",
                http_status=status,
                retryable=True,
                provider_down=status is None or status == 429 or status >= 500,
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise GatewayError(
                f"could not look up earlier attempts: {classify_transport_error(exc).message}",
                retryable=True,
                provider_down=True,
            ) from exc
        copies = []
        for message in found:
            created = message.date_created
            if created is not None and created < since:
                continue
            if message.direction == "inbound" or (message.body or "") != sms.body:
                continue
            if int(message.num_media or 0) != len(sms.media_urls):
                continue
            copies.append(
                ProviderMessage(
                    provider_sid=str(message.sid),
                    status=provider_status(message.status),
                    body=message.body or "",
                    num_media=int(message.num_media or 0),
                    created_at=created,
                )
            )
        copies.sort(key=lambda c: (c.created_at is None, c.created_at or since, c.provider_sid))
        return copies


@dataclass
class SimulatorGateway(OneByOne):
    """Delivers nothing: every message is marked delivered at once (`make run`, demos)."""

    name: str = "simulator"
    # The most recent sends, for tests and the demo; bounded so a long run stays small.
    sent: deque[OutboundSMS] = field(default_factory=lambda: deque(maxlen=1000))

    def send(self, sms: OutboundSMS) -> SendResult:
        self.sent.append(sms)
        sid = "SM" + secrets.token_hex(16)
        logger.info(
            "simulated SMS delivered",
            extra={"message_id": sms.message_id, "to": mask_phone(sms.to), "sid": sid},
        )
        return SendResult(sid, "delivered")

    def find_copies(self, sms: OutboundSMS, since: datetime) -> list[ProviderMessage]:
        return []


def build_gateway(settings: Settings) -> SmsGateway:
    """The gateway PARLEY_SMS_GATEWAY names."""
    if settings.sms_gateway == "twilio":
        return TwilioGateway(settings)
    return SimulatorGateway()
