"""Phone numbers never reach the logs, whatever logger writes them and however they are
formatted: each record goes through the real logging configuration (both formats)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from app.logs import configure_logging

NUMBER = "+14155550123"
# The same number the ways libraries and people write it.
SHAPES = [
    "%2B14155550123",  # twilio / httpx / urllib3 query strings
    "%2b1%20415%20555%200123",
    "+1 415-555 0123",
    "+1 (415) 555-0123",
    "(415) 555-0123",
    "415.555.0123",
    "1-415-555-0123",
    "4155550123",
    "+1415555 0123",
]
LOGGERS = ["twilio.http_client", "httpx", "urllib3.connectionpool", "uvicorn.error", "parley"]
# Digit runs that would give the number away (more than the last two digits).
LEAKS = [
    "4155550123",
    "415555",
    "(415)",
    "415-",
    "415 ",
    "415.",
    "%20415",
    "5550123",
    "555-0123",
    "555 0123",
    "555.0123",
]
# Things that look numeric but are not phone numbers stay readable.
KEPT = ["2026-11-25 15:00:00", "127.0.0.1:18200", "12360", "0.25"]


@pytest.fixture
def configured(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_parley", False):
            root.removeHandler(handler)


@pytest.mark.parametrize("json_lines", [True, False])
@pytest.mark.parametrize("name", LOGGERS)
def test_every_logger_masks_every_shape_of_a_number(
    configured: None, capsys: pytest.CaptureFixture[str], name: str, json_lines: bool
) -> None:
    configure_logging("DEBUG", json_lines)
    logger = logging.getLogger(name)
    for shape in SHAPES:
        # In the message, in %-args (as twilio and urllib3 log), in an extra, in a traceback.
        logger.info(
            "GET https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?To=%s&PageSize=50",
            shape,
        )
        logger.info("sending to " + shape + " at 2026-11-25 15:00:00 via 127.0.0.1:18200")
        logger.info("amount 12360, ratio 0.25", extra={"to": shape})
        try:
            raise ValueError(f"bad number {shape}")
        except ValueError:
            logger.exception("failed")
    output = capsys.readouterr().err
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) >= 4 * len(SHAPES)
    for leak in LEAKS:
        assert leak not in output, (leak, [line for line in lines if leak in line][:3])
    assert NUMBER not in output
    assert output.count("23") >= 4 * len(SHAPES)  # the last two digits remain
    for kept in KEPT:
        assert kept in output
