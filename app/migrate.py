"""Running the Alembic migrations from code (CLI, tests, start-up)."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config


def find_alembic_ini() -> Path:
    """alembic.ini: $PARLEY_ALEMBIC_INI, next to the package (a checkout), or in the
    working directory (the Docker image)."""
    candidates = [
        os.environ.get("PARLEY_ALEMBIC_INI"),
        str(Path(__file__).resolve().parent.parent / "alembic.ini"),
        str(Path.cwd() / "alembic.ini"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise FileNotFoundError("alembic.ini not found; set PARLEY_ALEMBIC_INI")


def alembic_config(database_url: str) -> Config:
    """An Alembic config aimed at `database_url`."""
    config = Config(str(find_alembic_ini()))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


def upgrade_to_head(database_url: str) -> None:
    """Apply every migration not yet applied."""
    command.upgrade(alembic_config(database_url), "head")


def check_no_drift(database_url: str) -> None:
    """Raise when the models and the migrations disagree (`alembic check`)."""
    command.check(alembic_config(database_url))
