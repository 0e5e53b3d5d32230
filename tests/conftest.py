"""Shared fixtures: the local RunComfy-compatible server (``local_server``; ``server`` and
its ``client`` for the local server's own tests), the fake Discord API and a fully wired bot
on a real SQLite file.

Test modules that need a different bot or Discord (the harness's own tests, a guild with
more channels, a bot with the second provider) override these fixtures by defining their
own of the same name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bot.localserver.app import LocalRunComfyServer
from bot.store import Store
from cogs.core.bot import IdeogramBot
from tests import postgres
from tests.harness import FakeDiscord, fake_with_log_channel
from tests.helpers import ideogram_bot, local_provider
from tests.localserver_client import authed_client, quick_config


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started :class:`FakeDiscord` with ``Route.BASE`` pointing at it (restored after).
    Fails the test at teardown if the fake itself crashed on a request."""
    async with FakeDiscord() as fake:
        yield fake
    if fake.server_errors:
        raise AssertionError(f"the fake Discord server failed: {fake.server_errors}")


@pytest.fixture
async def fake_discord_with_log() -> AsyncIterator[FakeDiscord]:
    """Like :func:`fake_discord`, with the moderation log channel (``ids.LOG_CHANNEL_ID``)
    in the guild, for modules whose ``fake`` posts there."""
    async with fake_with_log_channel() as fake:
        yield fake


@pytest.fixture
async def local_server() -> AsyncIterator[LocalRunComfyServer]:
    """The local RunComfy-compatible server: queue 0.3 s, run 0.4 s."""
    async with local_provider() as server:
        yield server


@pytest.fixture
async def server() -> AsyncIterator[LocalRunComfyServer]:
    """For the local server's own tests: a local RunComfy-compatible server on real time
    (queue 0.2 s, run 0.3 s) with the token of :mod:`tests.localserver_client`."""
    async with LocalRunComfyServer(quick_config()) as started:
        yield started


@pytest.fixture
async def client(server: LocalRunComfyServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of :func:`server` that sends its token."""
    async with authed_client(server) as http:
        yield http


@pytest.fixture
def fake(fake_discord: FakeDiscord) -> FakeDiscord:
    return fake_discord


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The test's SQLite file (created by whoever opens it first)."""
    return tmp_path / "bot.db"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One PostgreSQL database for the whole session, migrated, dropped at the end (the
    tests skip where no server answers, or fail with REQUIRE_POSTGRES=1)."""
    for url in postgres.temporary_database():
        postgres.migrate(url)
        yield url


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    """The session's PostgreSQL database with every table emptied (PostgreSQL-only tests)."""
    postgres.empty(postgres_url)
    return postgres_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The ``DATABASE_URL`` of an empty store, on each engine: a new SQLite file, or the
    session's PostgreSQL database with every table emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.db'}"
    url: str = request.getfixturevalue("postgres_url")
    postgres.empty(url)
    return url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """An empty :class:`Store` on each engine (see :func:`database_url`)."""
    async with await Store.open(database_url) as opened:
        yield opened


@pytest.fixture
async def bot(fake: FakeDiscord, local_server: LocalRunComfyServer,
              db: Path) -> AsyncIterator[IdeogramBot]:
    async with ideogram_bot(fake, local_server, db) as running:
        yield running
