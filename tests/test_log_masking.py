"""Phone numbers never reach the logs, whatever logger writes them and however they are
formatted: each record goes through the real logging configuration (both formats)."""

from __future__ import annotations

import logging
import re
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
# A log record's time as the text and JSON formats write it.
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
# Things that look numeric but are not phone numbers stay readable.
KEPT = ["2026-11-25 15:00:00", "127.0.0.1:18200", "12360", "0.25"]


@pytest.fixture
def configured() -> Iterator[None]:
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_parley", False):
            root.removeHandler(handler)


@pytest.mark.parametrize("json_lines", [True, False])
@pytest.mark.parametrize("name", LOGGERS)
def test_every_logger_masks_every_shape_of_a_number(
    configured: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    name: str,
    json_lines: bool,
) -> None:
    configure_logging("DEBUG", json_lines)
    logger = logging.getLogger(name)
    # As under `parley serve` (uvicorn gets log_config=None): every library logger
    # propagates to the root handler. Another test may have run uvicorn with its own
    # logging config, which stops uvicorn's loggers propagating: undo that here.
    parts = name.split(".")
    for chain in (logging.getLogger(".".join(parts[:n])) for n in range(1, len(parts) + 1)):
        monkeypatch.setattr(chain, "disabled", False)
        monkeypatch.setattr(chain, "propagate", True)
        request.addfinalizer(lambda chain=chain, level=chain.level: chain.setLevel(level))
        chain.setLevel(logging.NOTSET)
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
    # A record's own time is not a number leaked ("20:15:18,415 INFO" holds "415 ").
    scrubbed = TIMESTAMP.sub("<time>", output)
    for leak in LEAKS:
        assert leak not in scrubbed, (
            leak,
            [line for line in scrubbed.splitlines() if leak in line][:3],
        )
    assert NUMBER not in output
    assert output.count("23") >= 4 * len(SHAPES)  # the last two digits remain
    for kept in KEPT:
        assert kept in output
