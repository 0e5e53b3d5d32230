"""Other processes' changes, heard through PostgreSQL's ``LISTEN``/``NOTIFY``.

One connection of its own listens on :data:`~bot.store.postgres.sql.NOTICE_CHANNEL`; each
notice names a topic, a key and the run of the process that made the change, which
ignores its own. A connection that is lost, or goes silent, is replaced; while
PostgreSQL stays away, or every connection is dropped soon after it was made, the
attempts wait longer and longer, and once listening again every subscriber is told that
anything may have changed (``callback(None)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from typing import cast

import asyncpg

from bot.store.base import ChangeCallback
from bot.store.postgres import sql
from bot.store.postgres.connection import set_event

log = logging.getLogger(__name__)

#: Seconds before the first attempt to get the notice connection back; each attempt that
#: fails doubles the wait, up to the most (a PostgreSQL outage), until one works.
LISTEN_RETRY_SECONDS = 2.0
LISTEN_RETRY_MAX_SECONDS = 60.0
#: How long a notice connection must stay up to end a run of failed attempts: one lost
#: sooner (a proxy or a server that ends it at once) counts as one more failed attempt, so
#: the waits keep growing instead of starting again from the shortest.
LISTEN_STABLE_SECONDS = 30.0
#: How often the idle notice connection is asked whether it still works, and how long it
#: may take to say so: a connection a NAT or a failover dropped silently sends nothing.
LISTEN_CHECK_SECONDS = 30.0
LISTEN_CHECK_TIMEOUT = 5.0
#: Longest a start waits to listen for changes; past it, the bot starts without, keeps
#: trying, and reloads its cached settings once it listens.
SUBSCRIBE_WAIT_SECONDS = 15.0


class ChangeNotices:
    """The notice connection of one store, and who hears each topic."""

    def __init__(self, url: str, incarnation: str, *, connect_timeout: float) -> None:
        self._url = url
        self._incarnation = incarnation
        self._connect_timeout = connect_timeout
        self._subscribers: dict[str, list[ChangeCallback]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._notice_tasks: set[asyncio.Task[None]] = set()
        self.listening = asyncio.Event()

    def payload(self, topic: str, key: object) -> str:
        """The text of a notice of a change this process makes."""
        return json.dumps({"topic": topic, "key": str(key), "origin": self._incarnation})

    async def subscribe(self, topic: str, callback: ChangeCallback) -> None:
        """Call ``callback(key)`` for every change another process makes under ``topic``.

        The callback runs in a task owned here; ``callback(None)`` after the notice
        connection was lost and found again (anything may have changed meanwhile). Returns
        once listening.
        """
        self._subscribers.setdefault(topic, []).append(callback)
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen_forever(),
                                                 name="postgres-notices")
        try:
            async with asyncio.timeout(SUBSCRIBE_WAIT_SECONDS):
                await self.listening.wait()
        except TimeoutError:
            log.error("Not listening for other processes' changes after %.0f s; starting "
                      "without, still trying (cached settings reload once it listens)",
                      SUBSCRIBE_WAIT_SECONDS)

    async def close(self) -> None:
        """Stop listening, and cancel the callbacks still running. Safe to call twice."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        for task in list(self._notice_tasks):
            task.cancel()

    async def _listen_forever(self) -> None:
        loop = asyncio.get_running_loop()
        reconnecting = False
        # Attempts in a row that did not get to listen, or whose connection did not stay
        # up LISTEN_STABLE_SECONDS; and whether the last of them was such a connection.
        failures, dropped = 0, False
        delay = LISTEN_RETRY_SECONDS
        settled = False  # the current connection has stayed up long enough

        def stayed_up() -> None:
            """The connection has stayed up long enough: the run of failures is over."""
            nonlocal failures, dropped, delay, settled
            if failures > 1 and dropped:  # its "listening again" was not said
                log.info("The notice connection to PostgreSQL has stayed up %.0fs: "
                         "listening for changes again", LISTEN_STABLE_SECONDS)
            failures, dropped, delay, settled = 0, False, LISTEN_RETRY_SECONDS, True

        while True:
            lost = asyncio.Event()
            conn: asyncpg.Connection | None = None
            failed: str | None = None  # why this attempt failed, if it did
            settled = False
            try:
                conn = await asyncpg.connect(self._url, timeout=self._connect_timeout)
                conn.add_termination_listener(functools.partial(set_event, lost))
                await conn.add_listener(sql.NOTICE_CHANNEL, self._on_notice)
                self.listening.set()
                if reconnecting:
                    # Quiet while connections keep dropping: the failures' lines say so.
                    log.log(logging.DEBUG if failures > 1 and dropped else logging.INFO,
                            "Listening for changes again: reloading cached settings")
                    self._dispatch_all(None)
                since = loop.time()
                settle = loop.call_later(LISTEN_STABLE_SECONDS, stayed_up)
                try:
                    await self._while_alive(conn, lost)
                finally:
                    settle.cancel()
                if settled:
                    log.warning("The notice connection to PostgreSQL was lost; reconnecting")
                else:  # no better than a connection refused
                    failed = f"connection lost {loop.time() - since:.1f}s after it was made"
            except (OSError, TimeoutError, asyncpg.PostgresError,
                    asyncpg.InterfaceError) as exc:
                failed = type(exc).__name__
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            if failed is not None:
                made = conn is not None  # a connection was made, then lost or failed
                if made and not dropped:
                    # The first such loss after refused attempts (say, PostgreSQL came
                    # back from an outage and failed over) is news: a run of its own,
                    # warned of, from the shortest wait. Losses in a row make it grow.
                    failures, delay = 0, LISTEN_RETRY_SECONDS
                dropped = made
                failures += 1
                if failures == 1:
                    log.warning("Cannot listen for changes (%s); trying again in %.0fs",
                                failed, delay)
                else:
                    # While PostgreSQL stays away, or drops every connection at once: a
                    # line each time the wait grows (a few in all), none once it is at
                    # its longest.
                    previous, delay = delay, min(delay * 2, LISTEN_RETRY_MAX_SECONDS)
                    log.log(logging.INFO if delay > previous else logging.DEBUG,
                            "Still cannot listen for changes (%s, %d attempts); trying "
                            "again in %.0fs", failed, failures, delay)
            reconnecting = True
            await asyncio.sleep(delay)

    @staticmethod
    async def _while_alive(conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Return once the notice connection is lost, or stops answering a check."""
        while True:
            try:
                async with asyncio.timeout(LISTEN_CHECK_SECONDS):
                    await lost.wait()
                return
            except TimeoutError:
                pass
            try:
                async with asyncio.timeout(LISTEN_CHECK_TIMEOUT):
                    await conn.fetchval("SELECT 1")
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return

    def _on_notice(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            notice = json.loads(cast(str, payload))  # a NOTIFY payload is text
            topic, key, origin = notice["topic"], notice["key"], notice["origin"]
            if not (isinstance(topic, str) and isinstance(key, str)):
                raise TypeError("topic and key are text")
        except (ValueError, KeyError, TypeError):
            log.warning("Ignoring a malformed change notice")
            return
        if origin == self._incarnation:
            return  # this process made the change and has already applied it
        for callback in self._subscribers.get(topic, ()):
            self._spawn_notice(callback, key)

    def _dispatch_all(self, key: str | None) -> None:
        for callbacks in self._subscribers.values():
            for callback in callbacks:
                self._spawn_notice(callback, key)

    def _spawn_notice(self, callback: ChangeCallback, key: str | None) -> None:
        async def run() -> None:
            try:
                await callback(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Applying a change notice failed")

        task = asyncio.create_task(run(), name="postgres-notice")
        self._notice_tasks.add(task)
        task.add_done_callback(self._notice_tasks.discard)
