"""The `parley` command line."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from types import FrameType

from app.clock import SystemClock, clock_for
from app.config import get_settings
from app.logs import configure_logging

DESCRIPTION = """Parley: SMS-first two-way debt negotiation.

Configuration comes from the environment (PARLEY_DATABASE_URL, PARLEY_PUBLIC_URL,
PARLEY_SMS_GATEWAY, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, ...; see README.md)."""


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import SERVE_WORKER_ENV, create_app

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1:
        if settings.sqlalchemy_url.startswith("sqlite"):
            print(
                "error: --workers N > 1 needs PostgreSQL (set PARLEY_DATABASE_URL): SQLite "
                "has one writer, so several server processes would only wait on each other",
                file=sys.stderr,
            )
            return 2
        # Each uvicorn worker process builds its own app (and in-process outbox worker:
        # claims never overlap on PostgreSQL) from the environment.
        os.environ[SERVE_WORKER_ENV] = "0" if args.no_worker else "1"
        uvicorn.run(
            "app.main:serve_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=None,
            access_log=False,
        )
        return 0
    app = create_app(settings, clock=clock_for(settings.clock_file), run_worker=not args.no_worker)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from app.db import Database
    from app.main import build_worker
    from app.messaging.gateway import build_gateway

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    database = Database(settings.sqlalchemy_url)
    gateway = build_gateway(settings)
    worker = build_worker(database, gateway, clock_for(settings.clock_file), settings)
    if args.once:
        try:
            sent = worker.run_once()
        finally:
            gateway.close()
        print(f"handled {worker.inbound_handled} inbound text(s), sent {sent} message(s)")
        return 0
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        # Hand the claims back at once, even while the provider hangs.
        stop.set()
        worker.shutdown()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run_forever(stop)
    gateway.close()
    database.dispose()
    return 0


def _cmd_migrate(_args: argparse.Namespace) -> int:
    from app.migrate import upgrade_to_head

    settings = get_settings()
    upgrade_to_head(settings.sqlalchemy_url)
    print("database is at the latest migration")
    return 0


def _cmd_create_api_key(args: argparse.Namespace) -> int:
    from app.creditors.service import get_creditor_by_name, get_or_create_creditor
    from app.db import Database
    from app.security import create_api_key

    settings = get_settings()
    database = Database(settings.sqlalchemy_url)
    clock = SystemClock()
    with database.transaction() as session:
        if args.create:
            creditor = get_or_create_creditor(session, clock, args.creditor)
        else:
            found = get_creditor_by_name(session, args.creditor)
            if found is None:
                print(
                    f"error: no creditor named {args.creditor!r} (add --create to create it)",
                    file=sys.stderr,
                )
                return 2
            creditor = found
        expires_at = None
        if args.expires_in_days is not None:
            expires_at = clock.now() + timedelta(days=args.expires_in_days)
        row, plain = create_api_key(
            session, creditor, clock, name=args.name, role=args.role, expires_at=expires_at
        )
    print(plain)
    until = f", valid until {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
    print(
        f"(a {args.role} key for {args.creditor}, prefix {row.key_prefix}{until}; "
        "it is shown only once)",
        file=sys.stderr,
    )
    return 0


def _cmd_revoke_api_key(args: argparse.Namespace) -> int:
    from app.api_keys import revoke_by_text
    from app.db import Database
    from app.errors import ParleyError
    from app.events import record_event

    settings = get_settings()
    database = Database(settings.sqlalchemy_url)
    now = SystemClock().now()
    try:
        with database.transaction() as session:
            key, changed = revoke_by_text(session, args.key, now)
            if changed:
                record_event(
                    session,
                    creditor_id=key.creditor_id,
                    actor="cli",
                    kind="api_key.revoked",
                    now=now,
                    to_value=key.key_prefix,
                )
    except ParleyError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    finally:
        database.dispose()
    state = "is revoked" if changed else "was already revoked"
    print(f"key {key.key_prefix} ({key.name}, {key.role}) {state}")
    return 0


PASSWORD_ENV = "PARLEY_USER_PASSWORD"  # noqa: S105 (a variable name, not a secret)


def _read_new_password() -> str | None:
    """The new user's password: PARLEY_USER_PASSWORD, else typed twice at a prompt."""
    import getpass
    import os

    given = os.environ.get(PASSWORD_ENV)
    if given is not None:
        return given
    if not sys.stdin.isatty():
        print(
            f"error: set {PASSWORD_ENV} or run in a terminal to be asked for the password",
            file=sys.stderr,
        )
        return None
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != first:
        print("error: the two passwords differ; nothing was created", file=sys.stderr)
        return None
    return first


def _cmd_create_user(args: argparse.Namespace) -> int:
    from app.creditors.service import get_creditor_by_name
    from app.db import Database
    from app.errors import ParleyError
    from app.users.service import create_user

    settings = get_settings()
    database = Database(settings.sqlalchemy_url)
    with database.transaction() as session:
        creditor = get_creditor_by_name(session, args.creditor)
        if creditor is None:
            print(f"error: no creditor named {args.creditor!r}", file=sys.stderr)
            return 2
        password = _read_new_password()
        if password is None:
            return 2
        try:
            user = create_user(
                session,
                creditor,
                email=args.email,
                password=password,
                role=args.role,
                now=SystemClock().now(),
                actor="cli",
            )
        except ParleyError as exc:
            field = exc.fields[0][0] if exc.fields else "input"
            print(f"error: {field}: {exc.message}; nothing was created", file=sys.stderr)
            return 2
        email = user.email
    print(f"created {args.role} user {email} for {args.creditor}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from app.actions.debts import import_debts_csv
    from app.creditors.service import get_creditor_by_name
    from app.db import Database
    from app.debts.service import ImportSummary
    from app.errors import ValidationFailed

    path = Path(args.file)
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    settings = get_settings()
    database = Database(settings.sqlalchemy_url)
    started = time.monotonic()
    size = path.stat().st_size or 1

    def progress(summary: ImportSummary) -> None:
        done = min(raw.tell() / size, 1.0)
        rate = summary.total / max(time.monotonic() - started, 1e-6)
        bar = "#" * int(done * 30)
        print(
            f"\r[{bar:<30}] {done:4.0%} {summary.total} rows, {rate:,.0f} rows/s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    with database.transaction() as session:
        creditor = get_creditor_by_name(session, args.creditor)
        if creditor is None:
            print(f"error: no creditor named {args.creditor!r}", file=sys.stderr)
            return 2
        with (
            path.open("rb") as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as handle,
        ):
            try:
                summary = import_debts_csv(
                    session,
                    creditor.id,
                    handle,
                    now=SystemClock().now(),
                    actor="cli",
                    progress=progress,
                    # Committed chunk by chunk, so the webhook never waits on the import;
                    # a malformed file is refused by a first read before anything is stored.
                    checkpoint=session.commit,
                )
            except (UnicodeDecodeError, ValidationFailed) as exc:
                session.rollback()
                reason = (
                    "the file is not UTF-8 text"
                    if isinstance(exc, UnicodeDecodeError)
                    else exc.message
                )
                print(f"\nerror: {reason}; nothing was imported", file=sys.stderr)
                return 2
    print(file=sys.stderr)
    elapsed = time.monotonic() - started
    print(
        f"{summary.total} rows in {elapsed:.1f}s: {summary.created} created, "
        f"{summary.updated} updated, {summary.failed} failed"
    )
    for error in summary.errors[:20]:
        reasons = "; ".join(f"{e['field']}: {e['message']}" for e in error["errors"])
        print(f"  line {error['line']} ({error['external_id']}): {reasons}")
    if summary.failed > 20:
        print(f"  ... and {summary.failed - 20} more")
    return 1 if summary.failed else 0


def _cmd_classify(args: argparse.Namespace) -> int:
    from datetime import date

    from app.conversations.classifier import classify

    today = date.fromisoformat(args.today) if args.today else None
    for line in sys.stdin:
        text = line.rstrip("\r\n")
        result = classify(text, today=today, default_language=args.default_language)
        print(json.dumps({"text": text, **result.to_json()}, ensure_ascii=False), flush=True)
    return 0


def _cmd_demo(_args: argparse.Namespace) -> int:
    from app.db import Database
    from app.demo import seed_demo

    settings = get_settings()
    database = Database(settings.sqlalchemy_url)
    with database.transaction() as session:
        demo = seed_demo(session, SystemClock(), settings)
    print(f"Demo creditor ready. API key: {demo.api_key}")
    print(
        f"Console: {settings.public_base}/console/login as {demo.user_email} "
        f"with password {demo.user_password}"
    )
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from datetime import UTC, date, datetime

    from app.db import Database
    from app.simulation import MAX_DAYS, run_simulation

    if not 1 <= args.days <= MAX_DAYS:
        print(f"--days must be between 1 and {MAX_DAYS}", file=sys.stderr)
        return 2
    try:
        start = date.fromisoformat(args.start) if args.start else datetime.now(UTC).date()
    except ValueError:
        print("--start must be a date YYYY-MM-DD", file=sys.stderr)
        return 2
    settings = get_settings()
    database = Database(settings.sqlalchemy_url)
    try:
        result = run_simulation(
            database, args.creditor, days=args.days, start=start, seed=args.seed, settings=settings
        )
    except LookupError as exc:
        print(str(exc).strip("'\""), file=sys.stderr)
        return 2
    finally:
        database.dispose()
    print(json.dumps(result, ensure_ascii=False))
    return 0


def _days(text: str) -> int:
    """A key's lifetime in days, 1 to 3650."""
    if not text.isdigit() or not 1 <= int(text) <= 3650:
        raise argparse.ArgumentTypeError("must be a whole number of days from 1 to 3650")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also what `parley --help` prints)."""
    parser = argparse.ArgumentParser(
        prog="parley", description=DESCRIPTION, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the API and webhooks (and the worker in-process)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="do not run the worker (inbound texts, outbox, jobs) in-process",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="server processes (PostgreSQL only; default 1): each serves requests and, "
        "unless --no-worker, runs a worker",
    )
    serve.set_defaults(func=_cmd_serve)

    worker = sub.add_parser(
        "worker",
        help="handle inbound texts, send queued messages, run scheduled jobs "
        "(run several to scale out)",
    )
    worker.add_argument(
        "--once", action="store_true", help="handle and send one batch each, then exit"
    )
    worker.set_defaults(func=_cmd_worker)

    migrate = sub.add_parser("migrate", help="upgrade the database to the latest migration")
    migrate.set_defaults(func=_cmd_migrate)

    key = sub.add_parser("create-api-key", help="create an API key for a creditor and print it")
    key.add_argument("--creditor", required=True, help="the creditor's name")
    key.add_argument("--name", default="cli", help="a label for the key")
    key.add_argument(
        "--role",
        choices=("admin", "agent", "viewer"),
        default="admin",
        help="admin: everything; agent: conversations and callbacks, no amounts, imports "
        "or settings; viewer: reads only",
    )
    key.add_argument("--create", action="store_true", help="create the creditor if missing")
    key.add_argument(
        "--expires-in-days",
        type=_days,
        metavar="DAYS",
        help="the key stops working after this many days (1-3650; default: never)",
    )
    key.set_defaults(func=_cmd_create_api_key)

    revoke = sub.add_parser(
        "revoke-api-key", help="revoke an API key (the key, or the prefix create-api-key shows)"
    )
    revoke.add_argument("key", metavar="KEY", help="the whole key or its 10-character prefix")
    revoke.set_defaults(func=_cmd_revoke_api_key)

    user = sub.add_parser(
        "create-user",
        help=f"create a console user (password from {PASSWORD_ENV} or a prompt)",
    )
    user.add_argument("--creditor", required=True, help="the creditor's name")
    user.add_argument("--email", required=True, help="the address the user signs in with")
    user.add_argument(
        "--role",
        required=True,
        choices=("admin", "agent", "viewer"),
        help="admin: everything; agent: conversations and callbacks, no amounts, imports "
        "or settings; viewer: reads only",
    )
    user.set_defaults(func=_cmd_create_user)

    imp = sub.add_parser("import", help="import debts from a CSV file (progress and summary)")
    imp.add_argument(
        "file",
        help="CSV: external_id,name,phone,language,timezone,amount,currency,due_date,description",
    )
    imp.add_argument("--creditor", required=True, help="the creditor's name")
    imp.set_defaults(func=_cmd_import)

    classify = sub.add_parser(
        "classify",
        help="read one reply per line on stdin, print one JSON object per line\n"
        "(intent, language, confidence, choice, promise_date, requested_date/time)",
    )
    classify.add_argument("--today", help="the debtor's local date for relative dates (ISO)")
    classify.add_argument(
        "--default-language", default="en", help="language of neutral replies such as '1'"
    )
    classify.set_defaults(func=_cmd_classify)

    demo = sub.add_parser(
        "demo", help="create the demo creditor with a few debts; print its key and console login"
    )
    demo.set_defaults(func=_cmd_demo)

    simulate = sub.add_parser(
        "simulate",
        help="dry-run a creditor's rules over its portfolio on a throw-away copy with a\n"
        "simulated clock and debtor replies; print one JSON report (messages,\n"
        "by_local_hour, held_by_reason, violations)",
    )
    simulate.add_argument("--creditor", required=True, help="the creditor's name")
    simulate.add_argument("--days", type=int, required=True, help="how many days to simulate")
    simulate.add_argument("--start", help="first simulated day, YYYY-MM-DD (default today, UTC)")
    simulate.add_argument("--seed", type=int, default=0, help="seed of the debtor replies model")
    simulate.set_defaults(func=_cmd_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `parley` console script. A configuration error is one line on
    stderr and exit code 2, never a traceback."""
    from pydantic import ValidationError

    from app.config import describe_settings_error

    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        print(f"parley: {describe_settings_error(exc)}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    raise SystemExit(main())
