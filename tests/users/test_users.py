"""Console users: argon2 hashes, sign-in, `parley create-user` and the demo login."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from app.cli import main
from app.clock import FixedClock
from app.config import get_settings
from app.creditors.service import create_creditor
from app.db import Database
from app.debts.models import Event
from app.errors import Conflict, ValidationFailed
from app.users.models import User
from app.users.service import authenticate, create_user

PASSWORD = "correct horse battery"


def _user(db: Database, clock: FixedClock, email: str = "Ana@Acme.example.com", **kw: Any) -> str:
    with db.transaction() as session:
        creditor = create_creditor(session, clock, kw.pop("creditor", "Acme"))
        user = create_user(
            session,
            creditor,
            email=email,
            password=kw.pop("password", PASSWORD),
            role=kw.pop("role", "agent"),
            now=clock.now(),
            actor="test",
        )
        return user.id


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every argon2 verification the code runs (the library's, counted, not replaced)."""
    calls: list[str] = []
    real = PasswordHasher.verify

    def counted(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        calls.append(str(hash))
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counted)
    yield calls


def test_password_is_stored_as_argon2id_and_signs_in(db: Database, clock: FixedClock) -> None:
    user_id = _user(db, clock)
    with db.transaction() as session:
        user = session.get(User, user_id)
        assert user is not None
        assert user.email == "ana@acme.example.com"
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        signed_in = authenticate(session, " ANA@acme.example.com ", PASSWORD, now=clock.now())
        assert signed_in is not None and signed_in.id == user_id
        assert signed_in.last_login_at == clock.now()
        kinds = session.scalars(select(Event.kind)).all()
        assert "user.created" in kinds


def test_wrong_password_and_unknown_email_cost_one_verification_each(
    db: Database, clock: FixedClock, verifications: list[str]
) -> None:
    _user(db, clock)
    with db.transaction() as session:
        assert authenticate(session, "ana@acme.example.com", "wrong password!!") is None
        assert len(verifications) == 1
        assert authenticate(session, "nobody@acme.example.com", PASSWORD) is None
        assert len(verifications) == 2
        assert authenticate(session, "not an email", PASSWORD) is None
        assert len(verifications) == 3
        # The unknown email was checked against a real argon2id hash, not skipped.
        assert verifications[1].startswith("$argon2id$")


def test_disabled_user_cannot_sign_in(db: Database, clock: FixedClock) -> None:
    user_id = _user(db, clock)
    with db.transaction() as session:
        user = session.get(User, user_id)
        assert user is not None
        user.disabled_at = clock.now()
    with db.transaction() as session:
        assert authenticate(session, "ana@acme.example.com", PASSWORD) is None


def test_old_hash_parameters_are_upgraded_at_sign_in(db: Database, clock: FixedClock) -> None:
    user_id = _user(db, clock)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with db.transaction() as session:
        user = session.get(User, user_id)
        assert user is not None
        user.password_hash = weak
    with db.transaction() as session:
        assert authenticate(session, "ana@acme.example.com", PASSWORD) is not None
    with db.transaction() as session:
        user = session.get(User, user_id)
        assert user is not None
        assert user.password_hash != weak
        assert not PasswordHasher().check_needs_rehash(user.password_hash)


def test_email_is_unique_across_creditors(db: Database, clock: FixedClock) -> None:
    _user(db, clock)
    with pytest.raises(Conflict) as caught:
        _user(db, clock, email="ANA@acme.example.com", creditor="Other")
    assert caught.value.fields == [("email", "a user with this email already exists")]


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("email", {"email": "not-an-email"}),
        ("password", {"password": "short"}),
        ("password", {"password": " " * 20}),
        ("role", {"role": "root"}),
    ],
)
def test_bad_input_names_the_field(
    db: Database, clock: FixedClock, field: str, kw: dict[str, Any]
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _user(db, clock, **kw)
    assert caught.value.fields[0][0] == field


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch, db: Database) -> Iterator[None]:
    monkeypatch.setenv("PARLEY_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("cli_env")
def test_create_user_cli(
    db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    with db.transaction() as session:
        create_creditor(session, clock, "Acme")
    monkeypatch.setenv("PARLEY_USER_PASSWORD", PASSWORD)
    args = ["create-user", "--creditor", "Acme", "--email", "Bo@Acme.example.com"]
    assert main([*args, "--role", "viewer"]) == 0
    assert "created viewer user bo@acme.example.com for Acme" in capsys.readouterr().out
    with db.transaction() as session:
        user = authenticate(session, "bo@acme.example.com", PASSWORD)
        assert user is not None and user.role == "viewer"

    assert main([*args, "--role", "agent"]) == 2
    assert "email: a user with this email already exists" in capsys.readouterr().err
    assert main(["create-user", "--creditor", "Nope", "--email", "x@y.com", "--role", "agent"]) == 2
    assert "no creditor named 'Nope'" in capsys.readouterr().err
    monkeypatch.setenv("PARLEY_USER_PASSWORD", "short")
    assert main(["create-user", "--creditor", "Acme", "--email", "c@y.com", "--role", "agent"]) == 2
    assert "password: must be at least 12 characters" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["create-user", "--creditor", "Acme", "--email", "c@y.com", "--role", "root"])
    assert "invalid choice: 'root'" in capsys.readouterr().err


@pytest.mark.usefixtures("cli_env")
def test_create_user_cli_without_password_or_terminal(
    db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    with db.transaction() as session:
        create_creditor(session, clock, "Acme")
    monkeypatch.delenv("PARLEY_USER_PASSWORD", raising=False)
    # pytest's stdin is not a terminal, as under cron or CI: no prompt, a clear error.
    assert main(["create-user", "--creditor", "Acme", "--email", "c@y.com", "--role", "agent"]) == 2
    assert "set PARLEY_USER_PASSWORD" in capsys.readouterr().err
    with db.transaction() as session:
        assert session.scalars(select(User)).all() == []


@pytest.mark.usefixtures("cli_env")
def test_demo_prints_a_console_login_that_works(db: Database, capsys: Any) -> None:
    for _ in range(2):  # a second run gives the same user a new password
        assert main(["demo"]) == 0
        out = capsys.readouterr().out
        line = next(x for x in out.splitlines() if x.startswith("Console:"))
        email, password = line.split(" as ")[1].split(" with password ")
        with db.transaction() as session:
            user = authenticate(session, email, password)
            assert user is not None and user.role == "admin"
