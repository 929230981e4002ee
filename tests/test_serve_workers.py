"""`parley serve --workers N`: several server processes on PostgreSQL; SQLite refuses
N > 1 with a clear message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port, wait_until


def serve_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "TWILIO_"))}
    env.update(
        PARLEY_DATABASE_URL=database_url,
        PARLEY_ENVIRONMENT="test",
        PARLEY_LOG_JSON="false",
        PARLEY_SMS_GATEWAY="simulator",
    )
    return env


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_sqlite_refuses_more_than_one_server_process(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--workers", "2"],
        env=serve_env(f"sqlite:///{tmp_path / 'p.db'}"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "needs PostgreSQL" in result.stderr and "Traceback" not in result.stderr


def test_workers_must_be_positive(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--workers", "0"],
        env=serve_env(f"sqlite:///{tmp_path / 'p.db'}"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "--workers" in result.stderr


def test_postgres_serves_from_several_processes(
    postgres_only: None, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--workers", "2", "--port", str(port)],
        env=serve_env(database_url),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:

            def ready() -> bool:
                try:
                    return http.get("/readyz").status_code == 200
                except httpx.HTTPError:
                    return process.poll() is not None

            wait_until(ready, 60, "parley serve --workers 2 to answer")
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            wait_until(lambda: len(children(process.pid)) >= 2, 30, "two server processes")
            assert all(http.get("/healthz").status_code == 200 for _ in range(20))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("parley serve --workers 2 did not stop on SIGTERM")
