"""A scratch PostgreSQL database for a benchmark: made on the server that ``--database``
names (its role must be allowed to create databases), dropped when the run ends, so a run
never touches the data of the database it was pointed at."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import yarl


def _admin(url: str, statement: str) -> None:
    from tests.postgres import execute

    execute(url, statement, timeout=10)


@contextlib.contextmanager
def scratch_database(url: str, prefix: str = "bench") -> Iterator[str]:
    """The URL of a new, empty database beside the one ``url`` names."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    _admin(url, f'CREATE DATABASE "{name}"')
    try:
        yield str(yarl.URL(url).with_path(f"/{name}"))
    finally:
        _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def engine_name(url: str) -> str:
    return "PostgreSQL" if url.startswith(("postgresql://", "postgres://")) else "SQLite"
