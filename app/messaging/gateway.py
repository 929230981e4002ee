"""SMS gateways: one small interface, a real Twilio implementation and a simulator."""

from __future__ import annotations

import logging
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
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


class SmsGateway(Protocol):
    """Sends stored messages; implementations must not retry on their own."""

    name: str

    def send(self, sms: OutboundSMS) -> SendResult: ...

    def find_copies(self, sms: OutboundSMS, since: datetime) -> list[ProviderMessage]:
        """Outbound messages the provider holds to `sms.to` with `sms`'s text and media
        count, created since `since`, oldest first: the candidates for an earlier
        attempt that reached it. Raises GatewayError (retryable) when it cannot tell."""
        ...


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


class _ClientPool:
    """Twilio clients, each with its own keep-alive `requests.Session`, lent to one
    sending thread at a time (a Session is not thread-safe). A thread takes the most
    recently returned client, so a connection stays warm across batches even though
    the worker starts new sending threads for each batch; there are never more clients
    than threads that sent at the same moment."""

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

    Connections are kept alive: each sending thread borrows a client with its own pooled
    `requests.Session` (`_ClientPool`), which ignores proxy and netrc environment
    settings (`trust_env=False`: no look-ups per request; Parley talks to Twilio
    directly)."""

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

    def _new_client(self) -> Client:
        settings = self._settings
        assert settings.twilio_auth_token is not None
        http_client = TwilioHttpClient(pool_connections=True, timeout=settings.send_timeout_seconds)
        assert http_client.session is not None
        http_client.session.trust_env = False
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
        """How many HTTP sessions (each with its keep-alive connection) were opened."""
        return self._clients.made

    def close(self) -> None:
        """Close every pooled connection (a later send opens a new one)."""
        self._clients.close()

    def send(self, sms: OutboundSMS) -> SendResult:
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
        try:
            with self._clients.lend() as client:
                created = client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise classify_twilio_error(exc) from exc
        except requests.exceptions.RequestException as exc:
            raise classify_transport_error(exc) from exc
        segments = int(created.num_segments) if created.num_segments else None
        return SendResult(str(created.sid), provider_status(created.status), segments)

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
class SimulatorGateway:
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
