"""One benchmark server process: uvicorn (uvloop, httptools, warning log, no access log,
as `parley serve`) serving either

* `bare`: a FastAPI app with one route, `POST /webhooks/twilio/sms`, an `async def`
  answering an empty TwiML `<Response />` without reading the body (the floor under
  any webhook), or
* `parley`: the real app (`create_app`) on --database-url, with the simulator gateway
  and no worker, or with `--twilio-api-base` the real twilio gateway aimed there and
  the in-process worker running (what `parley serve` runs; `--no-worker`: none, as
  `parley serve --no-worker` beside `parley worker` processes);

or, with `worker`, no server: an outbox and inbound worker as `parley worker` runs it
(PostgreSQL, beside a `parley` server on the same database; the real twilio gateway
aimed at --twilio-api-base), until SIGTERM.

The clock is the wall clock moved to Wednesday 2026-11-25 19:00 UTC at start-up, so
every bench debtor is inside the contact window and timestamps still advance.

    python -m bench.serve bare|parley --port P [--database-url URL] [--twilio-api-base URL]
        [--no-worker]
    python -m bench.serve worker --database-url URL --twilio-api-base URL
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn
from fastapi import FastAPI, Response

ACCOUNT_SID = "AC" + "c" * 32
AUTH_TOKEN = "bench-webhook-auth-token"
TWILIO_NUMBER = "+15005550006"
PUBLIC_URL = "https://parley.example.com"
WEBHOOK_PATH = "/webhooks/twilio/sms"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
START_AT = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)


class BenchClock:
    """The wall clock, moved to `start` when created."""

    def __init__(self, start: datetime) -> None:
        self._offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


def bench_settings(database_url: str, twilio_api_base: str | None = None) -> Any:
    from app.config import Settings

    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "public_url": PUBLIC_URL,
        "sms_gateway": "twilio" if twilio_api_base else "simulator",
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from": TWILIO_NUMBER,
        "log_json": False,
        "log_level": "WARNING",
        "send_timeout_seconds": 10.0,
    }
    if twilio_api_base:
        values["twilio_api_base"] = twilio_api_base
    return Settings.model_validate(values)


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.post(WEBHOOK_PATH)
    async def twiml() -> Response:
        return Response(EMPTY_TWIML, media_type="text/xml")

    return app


def parley_app(database_url: str, twilio_api_base: str | None, *, worker: bool = True) -> Any:
    from app.main import create_app
    from app.messaging.gateway import SimulatorGateway, TwilioGateway

    settings = bench_settings(database_url, twilio_api_base)
    gateway = TwilioGateway(settings) if twilio_api_base else SimulatorGateway()
    return create_app(
        settings,
        clock=BenchClock(START_AT),
        gateway=gateway,
        run_worker=worker and twilio_api_base is not None,
    )


def run_worker(database_url: str, twilio_api_base: str) -> int:
    """What `parley worker` runs (app.cli), with the bench's settings and clock."""
    from app.db import Database
    from app.main import build_worker
    from app.messaging.gateway import TwilioGateway

    settings = bench_settings(database_url, twilio_api_base)
    database = Database(settings.sqlalchemy_url)
    worker = build_worker(database, TwilioGateway(settings), BenchClock(START_AT), settings)
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()
        worker.shutdown()

    signal.signal(signal.SIGTERM, _stop)
    worker.run_forever(stop)
    database.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one benchmark server")
    parser.add_argument("kind", choices=("bare", "parley", "worker"))
    parser.add_argument("--port", type=int)
    parser.add_argument("--database-url")
    parser.add_argument("--twilio-api-base")
    parser.add_argument(
        "--no-worker", action="store_true", help="parley: no in-process worker (`--no-worker`)"
    )
    args = parser.parse_args(argv)
    if args.kind == "worker":
        if not (args.database_url and args.twilio_api_base):
            parser.error("worker needs --database-url and --twilio-api-base")
        return run_worker(args.database_url, args.twilio_api_base)
    if args.port is None:
        parser.error("bare and parley need --port")
    if args.kind == "bare":
        app: Any = bare_app()
    else:
        if not args.database_url:
            parser.error("parley needs --database-url")
        app = parley_app(args.database_url, args.twilio_api_base, worker=not args.no_worker)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
