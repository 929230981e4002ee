"""Real Parley processes for fault tests: `parley serve` (with its in-process worker)
and several `parley worker`s, on the test database, sending through the real twilio
client to a local Twilio-compatible server, all reading one file clock the test moves."""

from __future__ import annotations

import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from app.clock import FileClock
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.fake_twilio import FakeTwilio, inbound_sms_params, new_sid, twilio_signature


def _port_range() -> range:
    """Ports the processes may listen on: PARLEY_TEST_PORTS ("18200-18299" by default)."""
    low, _, high = os.environ.get("PARLEY_TEST_PORTS", "18200-18299").partition("-")
    return range(int(low), int(high or low) + 1)


PORTS = _port_range()
CREDITOR = "Fault Test Finance"
PARLEY_NUMBER = "+15005550006"


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for a condition another process brings about, checking it every 50 ms."""
    pause = threading.Event()
    deadline = timeout / 0.05
    for _ in range(int(deadline) + 1):
        if condition():
            return
        pause.wait(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def free_port() -> int:
    ports = list(PORTS)
    random.shuffle(ports)  # two runs at once rarely race for the same port
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18200-18299")


class FileTestClock:
    """The time the processes (and the fake) read from a file."""

    def __init__(self, path: Path, start: datetime) -> None:
        self.path = path
        self._lock = threading.Lock()
        FileClock.write(path, start)
        self._reader = FileClock(path)

    def now(self) -> datetime:
        return self._reader.now()

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            FileClock.write(self.path, self.now() + delta)


class Parley:
    """A running set of Parley processes."""

    def __init__(
        self,
        database_url: str,
        fake: FakeTwilio,
        clock: FileTestClock,
        log_dir: Path,
        **settings: Any,
    ) -> None:
        # A key of this run only: a server on the port that does not know it is not ours.
        self.api_key = "fault-test-" + secrets.token_hex(16)
        self._choose_port()
        self.fake = fake
        self.clock = clock
        self.log_dir = log_dir
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PARLEY_", "TWILIO_"))
        }
        values: dict[str, Any] = {
            "PARLEY_ENVIRONMENT": "test",
            "PARLEY_DATABASE_URL": database_url,
            "PARLEY_PUBLIC_URL": self.public_url,
            "PARLEY_SMS_GATEWAY": "twilio",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "PARLEY_TWILIO_FROM": PARLEY_NUMBER,
            "PARLEY_TWILIO_API_BASE": fake.base_url,
            "PARLEY_BOOTSTRAP_API_KEY": self.api_key,
            "PARLEY_BOOTSTRAP_CREDITOR": CREDITOR,
            "PARLEY_CLOCK_FILE": str(clock.path),
            "PARLEY_WORKER_POLL_SECONDS": "0.05",
            "PARLEY_SEND_TIMEOUT_SECONDS": "0.5",
            "PARLEY_RETRY_BASE_SECONDS": "5",
            "PARLEY_RECONCILE_AFTER_SECONDS": "30",
            "PARLEY_JOBS_INTERVAL_SECONDS": "86400",
            "PARLEY_LOG_JSON": "true",
            "PARLEY_LOG_LEVEL": "INFO",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        values.update({f"PARLEY_{k.upper()}": str(v) for k, v in settings.items()})
        self.env.update(values)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.http = httpx.Client(base_url=self.base_url, timeout=10, trust_env=False)

    def _choose_port(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.public_url = self.base_url
        if hasattr(self, "env"):
            self.env["PARLEY_PUBLIC_URL"] = self.public_url
            self.http.close()
            self.http = httpx.Client(base_url=self.base_url, timeout=10, trust_env=False)

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes[name] = process
        return process

    def start_serve(self, *, worker: bool = True) -> None:
        """Start `parley serve` and wait until it answers as this run's server (another
        run may have taken the port in between: then try another one)."""
        for _ in range(5):
            args = ["serve", "--port", str(self.port)]
            if not worker:
                args.append("--no-worker")
            process = self._spawn("serve", *args)
            outcome: list[str] = []

            def ready(
                process: subprocess.Popen[bytes] = process, outcome: list[str] = outcome
            ) -> bool:
                if process.poll() is not None:
                    outcome.append("exited")
                    return True
                try:
                    response = self.http.get("/api/v1/creditor", headers=self.headers)
                except httpx.HTTPError:
                    return False
                if response.status_code == 200:
                    outcome.append("ready")
                    return True
                return False

            wait_until(ready, 60, "parley serve to answer")
            if outcome == ["ready"]:
                return
            self.processes.pop("serve")
            self._choose_port()
        raise AssertionError(f"parley serve did not start:\n{self.log('serve')[-3000:]}")

    def start_worker(self, name: str) -> None:
        self._spawn(name, "worker")

    def terminate(self, name: str, timeout: float = 20) -> int:
        """SIGTERM one process and wait for it to exit; its exit code."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout)

    def kill(self, name: str, timeout: float = 20) -> int:
        """SIGKILL one process (no clean-up of any kind) and wait for it to be gone."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        return process.wait(timeout=timeout)

    def stop(self) -> None:
        for name in list(self.processes):
            process = self.processes.pop(name)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.http.close()

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    # ------------------------------------------------------------------ driving
    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def import_debts(self, phones: list[str]) -> list[str]:
        items = [
            {
                "external_id": f"F-{index}",
                "debtor": {"name": f"Debtor {index}", "phone": phone},
                "amount": 12360,
                "currency": "USD",
                "due_date": "2026-10-29",
            }
            for index, phone in enumerate(phones)
        ]
        response = self.http.post("/api/v1/debts", json={"items": items}, headers=self.headers)
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert all(r["status"] == "created" for r in results), results
        return [str(r["id"]) for r in results]

    def queue_statement(self, debt_id: str) -> None:
        response = self.http.post(f"/api/v1/debts/{debt_id}/statements", headers=self.headers)
        assert response.status_code == 202, response.text

    def text_in(self, from_: str, body: str) -> httpx.Response:
        """A debtor's text, through the signed inbound webhook."""
        params = inbound_sms_params(
            from_=from_,
            to=PARLEY_NUMBER,
            body=body,
            message_sid=new_sid("SM"),
            account_sid=ACCOUNT_SID,
        )
        url = f"{self.public_url}/webhooks/twilio/sms"
        return self.http.post(
            "/webhooks/twilio/sms",
            data=params,
            headers={"X-Twilio-Signature": twilio_signature(AUTH_TOKEN, url, params)},
        )


@contextmanager
def running(
    database_url: str, fake: FakeTwilio, clock: FileTestClock, log_dir: Path, **settings: Any
) -> Iterator[Parley]:
    parley = Parley(database_url, fake, clock, log_dir, **settings)
    try:
        yield parley
    finally:
        parley.stop()
