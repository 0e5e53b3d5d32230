"""Shared fixtures: the local RunComfy-compatible server, the fake Discord API and a fully
wired bot on a real SQLite file.

Test modules that need a different bot or Discord (the harness's own tests, a guild with
more channels, a bot with the second provider) override these fixtures by defining their
own of the same name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.localserver.app import LocalRunComfyServer, LocalServerConfig
from bot.store import Store
from cogs.core.bot import IdeogramBot
from tests.harness import FakeDiscord
from tests.helpers import TOKEN, ideogram_bot


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started :class:`FakeDiscord` with ``Route.BASE`` pointing at it (restored after).
    Fails the test at teardown if the fake itself crashed on a request."""
    async with FakeDiscord() as fake:
        yield fake
    if fake.server_errors:
        raise AssertionError(f"the fake Discord server failed: {fake.server_errors}")


@pytest.fixture
async def local_server() -> AsyncIterator[LocalRunComfyServer]:
    server = LocalRunComfyServer(LocalServerConfig(token=TOKEN, queue_seconds=0.3,
                                                   run_seconds=0.4))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def fake(fake_discord: FakeDiscord) -> FakeDiscord:
    return fake_discord


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The test's SQLite file (created by whoever opens it first)."""
    return tmp_path / "bot.db"


@pytest.fixture
async def store(db: Path) -> AsyncIterator[Store]:
    """A :class:`Store` open on :func:`db`."""
    async with await Store.open(db) as opened:
        yield opened


@pytest.fixture
async def bot(fake: FakeDiscord, local_server: LocalRunComfyServer,
              db: Path) -> AsyncIterator[IdeogramBot]:
    async with ideogram_bot(fake, local_server, db) as running:
        yield running
