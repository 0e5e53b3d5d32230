"""PostgreSQL change notices between processes: a notice connection that was lost, or went
silent, is noticed and found again (and everything cached is reloaded); a start that cannot
listen goes on without, and odd notices are ignored."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from typing import Any, cast

import asyncpg
import pytest

import bot.store.postgres.notices as notices
import bot.store.postgres.store as postgres_store
from bot.settings_cache import GuildSettingsCache
from bot.store import GUILD_SETTINGS_TOPIC, Store
from tests import postgres
from tests.harness import eventually
from tests.helpers import store_rows

GUILD = (5 << 22) + 7


async def test_a_lost_notice_connection_reloads_everything(pg_url: str) -> None:
    async with await Store.open(pg_url) as store, await Store.open(pg_url) as other:
        cache = GuildSettingsCache(store)
        await cache.load()
        await cache.follow_changes()
        await store_rows(store, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")
        await other.add_blocked_words(GUILD, ["gone-while-away"])
        await eventually(lambda: cache.get(GUILD).blocked_words == ("gone-while-away",),
                         timeout=8, what="the cache reloaded after reconnecting")


def shorter_waits(monkeypatch: pytest.MonkeyPatch, **seconds: float) -> None:
    """The notice connection's waits (its module's constants), shortened; a pool's close
    (``POOL_CLOSE_SECONDS``) is the store's."""
    for name, value in seconds.items():
        monkeypatch.setattr(postgres_store if name == "POOL_CLOSE_SECONDS" else notices,
                            name, value)


class Blackhole:
    """A TCP proxy to the PostgreSQL server that can go silent, as a NAT that forgot a
    connection does: what was sent through it is never delivered, and no reset comes."""

    def __init__(self) -> None:
        self.silent = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.silent.is_set():
                    await asyncio.Event().wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        upstream = urllib.parse.urlsplit(postgres.ADMIN_URL)
        up_reader, up_writer = await asyncio.open_connection(upstream.hostname, upstream.port)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def url_for(self, url: str) -> str:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        parts = urllib.parse.urlsplit(url)
        return parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}").geturl()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


async def test_a_notice_connection_gone_silent_is_found_again(
        pg_url: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # POOL_CLOSE_SECONDS: what went into the silence stays stuck in the proxy, and the
    # close does not wait for it. LISTEN_STABLE_SECONDS: the connection that goes silent
    # has worked (not one dropped at once).
    shorter_waits(monkeypatch,
                  LISTEN_CHECK_SECONDS=0.3, LISTEN_CHECK_TIMEOUT=0.3, POOL_CLOSE_SECONDS=0.5,
                  LISTEN_RETRY_SECONDS=0.2, LISTEN_STABLE_SECONDS=0.0)
    proxy = Blackhole()
    seen: list[str | None] = []

    async def changed(key: str | None) -> None:
        seen.append(key)

    try:
        async with await Store.open(await proxy.url_for(pg_url)) as store, \
                await Store.open(pg_url) as other:
            await store.subscribe(GUILD_SETTINGS_TOPIC, changed)
            await other.add_blocked_words(GUILD, ["one"])
            await eventually(lambda: seen == [str(GUILD)], timeout=5, what="a notice")
            proxy.silent.set()  # the path is gone, without a word
            await eventually(lambda: any("notice connection to PostgreSQL was lost" in
                                         r.getMessage() for r in caplog.records),
                             timeout=5, what="the silent connection noticed")
            proxy.silent.clear()  # a new connection gets through
            await eventually(lambda: None in seen, timeout=10,
                             what="a new connection, and everything reloaded")
            await other.add_blocked_words(GUILD, ["two"])
            await eventually(lambda: seen[-1] == str(GUILD), timeout=5,
                             what="notices again")
    finally:
        proxy.close()


async def test_a_start_that_cannot_listen_goes_on_and_reloads_later(
        pg_url: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    shorter_waits(monkeypatch, SUBSCRIBE_WAIT_SECONDS=0.5, LISTEN_RETRY_SECONDS=0.2)
    real_connect = asyncpg.connect
    refusing = True

    async def connect(*args: Any, **kwargs: Any) -> asyncpg.Connection:
        if refusing:
            raise asyncpg.TooManyConnectionsError("too many connections for role")
        return await real_connect(*args, **kwargs)

    monkeypatch.setattr(notices.asyncpg, "connect", connect)
    seen: list[str | None] = []

    async def changed(key: str | None) -> None:
        seen.append(key)

    async with await Store.open(pg_url) as store:
        async with asyncio.timeout(5):
            await store.subscribe(GUILD_SETTINGS_TOPIC, changed)  # returns all the same
        assert any("Not listening" in r.getMessage() for r in caplog.records
                   if r.levelno == logging.ERROR)
        refusing = False
        await eventually(lambda: seen == [None], timeout=5, what="a reload once listening")


async def test_an_outage_backs_off_and_says_so_once(
        pg_url: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # LISTEN_STABLE_SECONDS: a connection that got to listen has stayed up long enough
    # (one dropped at once is the next test's).
    shorter_waits(monkeypatch,
                  SUBSCRIBE_WAIT_SECONDS=0.1, LISTEN_RETRY_SECONDS=0.02,
                  LISTEN_RETRY_MAX_SECONDS=0.16, LISTEN_STABLE_SECONDS=0.0)
    caplog.set_level(logging.DEBUG, logger=notices.__name__)
    real_connect = asyncpg.connect
    refusing, attempts = True, 0

    async def connect(*args: Any, **kwargs: Any) -> asyncpg.Connection:
        nonlocal attempts
        attempts += 1
        if refusing:
            raise ConnectionRefusedError(111, "Connection refused")
        return await real_connect(*args, **kwargs)

    def retries() -> list[tuple[int, float]]:
        """Each failed attempt's log level and the wait it announced."""
        return [(r.levelno, cast(tuple[Any, ...], r.args)[-1]) for r in caplog.records
                if "listen for changes (" in r.getMessage()]

    monkeypatch.setattr(notices.asyncpg, "connect", connect)
    seen: list[str | None] = []

    async def changed(key: str | None) -> None:
        seen.append(key)

    async with await Store.open(pg_url) as store:
        await store.subscribe(GUILD_SETTINGS_TOPIC, changed)
        await eventually(lambda: attempts >= 7, timeout=5, what="seven attempts")
        # One warning, a line each time the wait doubles, then quiet at the longest wait.
        assert retries()[:7] == [(logging.WARNING, 0.02), (logging.INFO, 0.04),
                                 (logging.INFO, 0.08), (logging.INFO, 0.16),
                                 (logging.DEBUG, 0.16), (logging.DEBUG, 0.16),
                                 (logging.DEBUG, 0.16)]
        refusing = False
        await eventually(lambda: seen == [None], timeout=5, what="listening again")
        caplog.clear()
        refusing = True  # lost once more: the next outage starts from the shortest wait
        await store_rows(store, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")
        await eventually(lambda: len(retries()) >= 2, timeout=5, what="a new outage")
        assert retries()[:2] == [(logging.WARNING, 0.02), (logging.INFO, 0.04)]


async def test_a_connection_that_drops_at_once_backs_off_and_says_so_once(
        pg_url: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A notice connection that is made, then dropped at once (over and over: a proxy or
    a server that ends it) is no better than none: the waits grow as for a PostgreSQL
    away, with one warning for the run, until a connection stays up."""
    shorter_waits(monkeypatch,
                  SUBSCRIBE_WAIT_SECONDS=0.1, LISTEN_RETRY_SECONDS=0.02,
                  LISTEN_RETRY_MAX_SECONDS=0.16, LISTEN_STABLE_SECONDS=1.0)
    caplog.set_level(logging.DEBUG, logger=notices.__name__)
    seen: list[str | None] = []

    async def changed(key: str | None) -> None:
        seen.append(key)

    def retries() -> list[tuple[int, float]]:
        """Each failed attempt's log level and the wait it announced."""
        return [(r.levelno, cast(tuple[Any, ...], r.args)[-1]) for r in caplog.records
                if r.name == notices.__name__ and "trying again in" in r.getMessage()]

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records
                if r.name == notices.__name__ and r.levelno >= logging.WARNING]

    async with await Store.open(pg_url) as store:
        stop_dropping = asyncio.Event()

        async def drop_every_listener() -> None:
            while not stop_dropping.is_set():
                await store_rows(store, "SELECT pg_terminate_backend(pid) FROM "
                                        "pg_stat_activity WHERE query LIKE 'LISTEN%' AND "
                                        "pid <> pg_backend_pid()")
                await asyncio.sleep(0.005)

        dropping = asyncio.create_task(drop_every_listener())
        try:
            await store.subscribe(GUILD_SETTINGS_TOPIC, changed)
            await eventually(lambda: len(retries()) >= 6, timeout=10, what="six drops")
        finally:
            stop_dropping.set()
            await dropping
        # As for connections refused: one warning, a line each time the wait doubles,
        # then quiet at the longest wait.
        assert retries()[:6] == [(logging.WARNING, 0.02), (logging.INFO, 0.04),
                                 (logging.INFO, 0.08), (logging.INFO, 0.16),
                                 (logging.DEBUG, 0.16), (logging.DEBUG, 0.16)]
        [warned] = warnings()
        assert warned.startswith("Cannot listen for changes (connection lost ")
        assert "s after it was made); trying again in" in warned
        # Every connection made was told to reload: it may have missed changes.
        assert None in seen
        # Once one stays up, the run is over: it says so, and the next loss starts again
        # from the shortest wait, with a warning of its own.
        await eventually(lambda: any("stayed up" in r.getMessage() for r in caplog.records
                                     if r.levelno == logging.INFO),
                         timeout=10, what="a connection that stays up")
        caplog.clear()
        await store_rows(store, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")
        await eventually(lambda: warnings(), timeout=5, what="the loss noticed")
        assert "was lost" in warnings()[0]


@pytest.mark.parametrize("payload", ['{"topic": ["a"], "key": "1", "origin": "x"}',
                                     '{"topic": "guild_settings", "key": 5, "origin": "x"}'])
async def test_a_notice_of_the_wrong_shape_is_ignored(
        pg_url: str, payload: str, caplog: pytest.LogCaptureFixture) -> None:
    async with await Store.open(pg_url) as store:
        seen: list[str | None] = []

        async def changed(key: str | None) -> None:
            seen.append(key)

        await store.subscribe(GUILD_SETTINGS_TOPIC, changed)
        await store_rows(store, f"SELECT pg_notify('{postgres_store.sql.NOTICE_CHANNEL}', "
                                f"'{payload}')")
        await eventually(lambda: any("malformed change notice" in r.getMessage()
                                     for r in caplog.records), timeout=5, what="a warning")
        assert seen == []
