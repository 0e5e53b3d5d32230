"""The PostgreSQL server the tests run against (127.0.0.1:5432 unless
``TEST_POSTGRES_URL`` names another), and the databases they make on it.

Where no server answers, PostgreSQL tests are skipped with a message that says so, unless
``REQUIRE_POSTGRES=1`` (CI sets it): then a missing server fails them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator

import asyncpg
import pytest
import yarl

from bot.store.postgres import redact_url

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: Children before parents; a few rows each between tests, so DELETE beats TRUNCATE's
#: table rewrite (identity counters keep counting: no test depends on their values).
EMPTY = "; ".join(f"DELETE FROM {table}" for table in (
    "job_leases", "usage_reservations", "usage_totals", "quota_audit", "settings_audit",
    "presets", "jobs",
    "guild_settings", "guild_allowed_channels", "guild_blocked_words", "guild_limits",
    "member_overrides"))


def required() -> bool:
    return os.environ.get("REQUIRE_POSTGRES", "").strip() not in ("", "0")


def database_url(name: str) -> str:
    return str(yarl.URL(ADMIN_URL).with_path(f"/{name}"))


def execute(url: str, statement: str, *, timeout: float = 5.0) -> None:
    """Run one SQL *statement* on the database at *url*, on a connection of its own."""
    async def run() -> None:
        conn = await asyncpg.connect(url, timeout=timeout)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def server_or_skip() -> None:
    """Skip (or fail, with REQUIRE_POSTGRES=1) when no PostgreSQL server answers."""
    try:
        execute(ADMIN_URL, "SELECT 1")
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = (f"no PostgreSQL server answers at {redact_url(ADMIN_URL)} "
                  f"({type(exc).__name__}: {exc})")
        if required():
            pytest.fail(f"{reason}, and REQUIRE_POSTGRES=1 says PostgreSQL tests must run")
        pytest.skip(f"{reason}: PostgreSQL tests skipped (REQUIRE_POSTGRES=1 makes this "
                    "a failure; TEST_POSTGRES_URL names another server)")


def create_database(prefix: str = "bot_test") -> str:
    """Make a new, empty database; return its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    execute(ADMIN_URL, f'CREATE DATABASE "{name}"')
    return database_url(name)


def drop_database(url: str) -> None:
    name = yarl.URL(url).path.lstrip("/")
    execute(ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def temporary_database(prefix: str = "bot_test") -> Iterator[str]:
    """A fixture body: a fresh database for the duration, dropped afterwards."""
    server_or_skip()
    url = create_database(prefix)
    try:
        yield url
    finally:
        drop_database(url)


def empty(url: str) -> None:
    """Empty every table of the store's database at ``url`` (after it was migrated)."""
    execute(url, EMPTY)


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the latest schema."""
    from bot.store import Store

    async def open_and_close() -> None:
        store = await Store.open(url)
        await store.close()

    asyncio.run(open_and_close())


def set_schema_version(url: str, version: int) -> None:
    execute(url, f"UPDATE store_schema SET version = {int(version)}")
