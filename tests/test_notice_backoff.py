"""The notice connection's waits, against a stand-in for asyncpg (no server needed)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from bot.store.postgres import notices
from tests.harness import eventually


class StandInConnection:
    """What ChangeNotices uses of an asyncpg connection; :meth:`drop` ends it."""

    def __init__(self) -> None:
        self.on_end: Any = None
        self.closed = False

    def add_termination_listener(self, callback: Any) -> None:
        self.on_end = callback

    async def add_listener(self, *_: Any) -> None:
        return None

    def is_closed(self) -> bool:
        return self.closed

    async def close(self, timeout: float = 0) -> None:  # noqa: ASYNC109 - asyncpg's signature
        self.closed = True

    async def fetchval(self, *_: Any) -> int:
        return 1

    def drop(self) -> None:
        self.on_end(self)


async def test_a_connection_lost_soon_after_an_outage_is_warned_of_and_retried_soon(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL was away for a while (the waits grew to their longest), came back, and
    the new connection is lost again within seconds (a failover): that loss is warned of
    and retried from the shortest wait, not quietly after the longest."""
    for name, value in dict(LISTEN_RETRY_SECONDS=0.01, LISTEN_RETRY_MAX_SECONDS=2.0,
                            LISTEN_STABLE_SECONDS=5.0, LISTEN_CHECK_SECONDS=5.0).items():
        monkeypatch.setattr(notices, name, value)
    caplog.set_level(logging.DEBUG, logger=notices.__name__)
    refusals = 6
    made: list[StandInConnection] = []
    attempts: list[float] = []

    async def connect(*_: Any, **__: Any) -> StandInConnection:
        nonlocal refusals
        attempts.append(asyncio.get_running_loop().time())
        if refusals:
            refusals -= 1
            raise OSError("connection refused")
        made.append(StandInConnection())
        return made[-1]

    monkeypatch.setattr(notices.asyncpg, "connect", connect)

    async def changed(_key: str | None) -> None:
        return None

    listener = notices.ChangeNotices("postgresql://stand-in", "this-run", connect_timeout=1)
    try:
        await listener.subscribe("topic", changed)
        await eventually(lambda: made, timeout=5, what="back after the outage")
        caplog.clear()
        lost_at = asyncio.get_running_loop().time()
        made[0].drop()
        await eventually(lambda: len(made) == 2, timeout=5, what="connected again")
    finally:
        await listener.close()
    assert attempts[-1] - lost_at < 0.5  # the shortest wait, not the 0.64 s it had reached
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "connection lost" in warned[0], warned
