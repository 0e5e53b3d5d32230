"""The SQLite engine of the store: the one owner of the bot's database connection.

Usage::

    store = await Store.open("sqlite:///data/bot.db")   # migrates, then ready
    try:
        ...
    finally:
        await store.close()

or, equivalently, ``async with await Store.open(url) as store: ...``.

One aiosqlite connection in autocommit mode (``isolation_level=None``) serves the whole
process. Every use of it — a single statement or an explicit transaction — holds
``self._lock``, so coroutines never see each other's half-done transactions and never
interleave ``BEGIN`` statements. The task that holds the lock may call store methods again (and
open nested ``transaction()`` calls, run as SAVEPOINTs): ownership is per asyncio task, so
a transaction body must not hand store work to *other* tasks and wait for them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

import aiosqlite

from bot.store import sql
from bot.store.base import (
    GuildSettings,
    JobNotFoundError,
    Store,
    StoreBusyError,
    StoreError,
)
from bot.store.migrations import MIGRATIONS, Migration
from bot.store.priority_lock import PriorityLock

log = logging.getLogger(__name__)

MEMORY = ":memory:"

__all__ = ["GuildSettings", "JobNotFoundError", "SqliteStore", "StoreBusyError",
           "StoreError", "parse_database_url"]


def _make_private(path: Path) -> None:
    """Create the database file readable by its owner only (0600).

    Before SQLite opens it; SQLite gives its -wal and -shm files the database file's mode. An
    existing file (and its -wal/-shm) is tightened to 0600 too.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists():
            os.chmod(candidate, 0o600)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


@contextmanager
def _busy_as_store_error() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            raise StoreBusyError(str(exc)) from exc
        raise


def parse_database_url(url: str | os.PathLike[str]) -> str:
    """Turn ``DATABASE_URL`` into a path for sqlite3.

    ``sqlite:///relative/x.db`` → ``relative/x.db``; ``sqlite:////abs/x.db`` → ``/abs/x.db``;
    ``sqlite://`` / ``sqlite:///:memory:`` / ``:memory:`` → ``:memory:``; a plain path is
    returned as it is (with ``~`` expanded). ``sqlite+aiosqlite://`` is accepted too.
    """
    text = os.fspath(url).strip()
    if not text:
        raise StoreError("empty database URL")
    if text == MEMORY:
        return MEMORY
    scheme, sep, rest = text.partition("://")
    if not sep or len(scheme) == 1:  # no scheme, or a Windows drive letter like C://
        return os.path.expanduser(text)
    if scheme.lower() not in ("sqlite", "sqlite3", "sqlite+aiosqlite"):
        raise StoreError(
            f"unsupported database URL scheme {scheme!r}: only SQLite is supported "
            "(sqlite:///relative/path.db, sqlite:////absolute/path.db or a plain path)"
        )
    rest = rest.split("?", 1)[0]
    if rest in ("", "/", "/" + MEMORY):
        return MEMORY
    if not rest.startswith("/"):
        raise StoreError(
            f"database URL {text!r} names a host; use sqlite:///relative/path.db "
            "or sqlite:////absolute/path.db"
        )
    return os.path.expanduser(unquote(rest[1:]))


class SqliteStore(Store):
    """Jobs, guild settings and quotas in one SQLite file, for one process.

    Open it with ``await Store.open("sqlite:///…")`` (or ``SqliteStore.open``).
    """

    MIGRATIONS = MIGRATIONS

    engine: ClassVar[str] = "sqlite"
    _sql = sql
    version_record: ClassVar[str] = "user_version"
    statement_errors: ClassVar[tuple[type[Exception], ...]] = (sqlite3.Error,)

    def __init__(self, conn: aiosqlite.Connection, path: str, schema_version: int) -> None:
        # Use Store.open(); this constructor does no I/O and applies no migrations.
        self._conn: aiosqlite.Connection | None = conn
        self.path: str = path
        self.schema_version: int = schema_version
        self._lock = PriorityLock()
        self._owner: asyncio.Task[Any] | None = None
        self._busy_timeout_ms = sql.DEFAULT_BUSY_TIMEOUT_MS

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def _connect(cls, database: str | os.PathLike[str], *,
                       busy_timeout_ms: int = sql.DEFAULT_BUSY_TIMEOUT_MS) -> SqliteStore:
        """Open (creating if needed) the file ``database`` names.

        ``database`` is a ``DATABASE_URL`` or a path (see ``parse_database_url``).
        ``busy_timeout_ms``: how long a statement waits for another connection's lock
        before :class:`StoreBusyError`.
        """
        path = parse_database_url(database)
        if path != MEMORY:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            _make_private(Path(path))
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {path!r}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        store = cls(conn, path, 0)
        store._busy_timeout_ms = busy_timeout_ms
        return store

    async def close(self) -> None:
        """Wait for the transaction in progress, if any, then close. Safe to call twice."""
        if self._conn is None:
            return
        if self._owns_lock():
            raise StoreError("cannot close the store from inside one of its transactions")
        await self._lock.acquire()
        try:
            conn, self._conn = self._conn, None
            if conn is not None:
                await conn.close()
                log.info("closed database %s", self.path)
        finally:
            self._lock.release()

    @property
    def closed(self) -> bool:
        """Whether the connection is closed."""
        return self._conn is None

    def describe(self) -> str:
        """Return ``SQLite file <path>``."""
        return f"SQLite file {self.path}"

    async def probe_write(self) -> None:
        """Prove the file takes a committed write.

        For the health check: rewrite the schema version with its own value in one IMMEDIATE
        transaction. Raises ``sqlite3.Error`` or :class:`StoreError` when it cannot.
        """
        async with self.transaction(immediate=True) as conn:
            version = await self.user_version()
            await conn.execute(sql.set_version(version))

    async def checkpoint(self) -> bool:
        """Fold the WAL into the database file; False if a reader kept it from completing.

        The WAL is truncated too. For a clean stop, before :meth:`close`.
        """
        if self.path == MEMORY:
            return True
        row = await self._fetchone(sql.PRAGMA_WAL_CHECKPOINT_TRUNCATE)
        return row is not None and int(row[0]) == 0

    async def _configure(self) -> None:
        conn = self._require_conn()
        journal_mode = await conn.execute_fetchall(sql.PRAGMA_JOURNAL_MODE_WAL)
        mode = next(iter(journal_mode))[0] if journal_mode else None
        if self.path != MEMORY and str(mode).lower() != "wal":
            log.warning("database %s: journal_mode is %s, not wal", self.path, mode)
        await conn.execute(sql.PRAGMA_FOREIGN_KEYS_ON)
        await conn.execute(sql.pragma_busy_timeout(self._busy_timeout_ms))
        await conn.execute(sql.PRAGMA_SYNCHRONOUS_NORMAL)

    async def _set_up(self, migrations: Sequence[Migration], target: int) -> None:
        await self._configure()
        async with self.transaction(immediate=True):
            await self._apply_migrations(migrations, target)

    async def _apply_migration(self, migration: Migration) -> None:
        for statement in migration.statements:
            await self._execute(statement)

    async def user_version(self) -> int:
        """The schema version recorded in the file (``PRAGMA user_version``)."""
        row = await self._fetchone(sql.PRAGMA_GET_USER_VERSION)
        return int(row[0]) if row is not None else 0

    async def pragma(self, name: str) -> Any:
        """Read one of a few PRAGMAs (journal_mode, foreign_keys, user_version)."""
        statements = {
            "journal_mode": sql.PRAGMA_GET_JOURNAL_MODE,
            "foreign_keys": sql.PRAGMA_GET_FOREIGN_KEYS,
            "user_version": sql.PRAGMA_GET_USER_VERSION,
        }
        if name not in statements:
            raise ValueError(f"unsupported pragma {name!r}; choose from {sorted(statements)}")
        row = await self._fetchone(statements[name])
        return None if row is None else row[0]

    # ------------------------------------------------------------------ connection use

    def _require_conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise StoreError("the store is closed")
        return self._conn

    def _owns_lock(self) -> bool:
        task = asyncio.current_task()
        return task is not None and self._owner is task

    @asynccontextmanager
    async def _connection(self, *, urgent: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """The connection, for statements outside an explicit transaction (autocommit)."""
        if self._owns_lock():
            yield self._require_conn()
            return
        async with self._holding(urgent=urgent) as conn:
            yield conn

    @asynccontextmanager
    async def _holding(self, *, urgent: bool) -> AsyncIterator[aiosqlite.Connection]:
        """This task holds the connection, and its lock, for the body; others wait."""
        await self._lock.acquire(urgent=urgent)
        try:
            conn = self._require_conn()
            self._owner = asyncio.current_task()
            yield conn
        finally:
            self._owner = None
            self._lock.release()

    @asynccontextmanager
    async def transaction(
        self, *, immediate: bool = True, urgent: bool = False
    ) -> AsyncIterator[aiosqlite.Connection]:
        """Run the body in one transaction; commit on success, roll back on any exception.

        ``immediate=True`` issues ``BEGIN IMMEDIATE``: the write lock is taken at once, so
        a read-check-write body (quota reserve, job compare-and-set) cannot be overtaken
        by another writer, in this process or another. ``immediate=False`` issues
        ``BEGIN DEFERRED`` (a consistent snapshot for several reads).

        The yielded aiosqlite connection has ``row_factory = sqlite3.Row``; run
        ``bot.store.sql`` statements on it. Store methods called inside the body join the
        transaction, and a nested ``transaction()`` becomes a SAVEPOINT (its failure
        rolls back only its own part, if the outer body catches the exception).

        ``urgent=True`` goes before every waiting non-urgent use of the connection: the
        path that answers an interaction uses it, so it never waits behind the tracker.
        """
        if self._owns_lock():
            conn = self._require_conn()
            await conn.execute(sql.SAVEPOINT)
            try:
                yield conn
            except BaseException:
                await conn.execute(sql.ROLLBACK_TO_SAVEPOINT)
                await conn.execute(sql.RELEASE_SAVEPOINT)
                raise
            await conn.execute(sql.RELEASE_SAVEPOINT)
            return

        async with self._holding(urgent=urgent) as conn:
            try:
                with _busy_as_store_error():
                    await conn.execute(sql.BEGIN_IMMEDIATE if immediate else sql.BEGIN_DEFERRED)
                    yield conn
                    await conn.execute(sql.COMMIT)
            except BaseException:
                # Also reached when cancelled while BEGIN or COMMIT was queued: the
                # ROLLBACK is queued after it on the connection's thread, so the
                # connection is never handed on with a transaction open.
                await self._rollback(conn)
                raise

    @staticmethod
    async def _rollback(conn: aiosqlite.Connection) -> None:
        try:
            await conn.execute(sql.ROLLBACK)
        except sqlite3.OperationalError as exc:  # no transaction was active
            log.debug("rollback: %s", exc)

    async def _execute(self, statement: str, params: Sequence[Any] | Mapping[str, Any] = ()
                       ) -> int:
        """Run one statement; return the number of rows it changed."""
        async with self._connection() as conn:
            with _busy_as_store_error():
                async with conn.execute(statement, params) as cursor:
                    return cursor.rowcount

    async def _executemany(self, statement: str,
                           params: Sequence[Sequence[Any] | Mapping[str, Any]]) -> None:
        async with self._connection() as conn:
            with _busy_as_store_error():
                await conn.executemany(statement, params)

    async def _fetchall(
        self, statement: str, params: Sequence[Any] | Mapping[str, Any] = (), *,
        urgent: bool = False,
    ) -> list[sqlite3.Row]:
        async with self._connection(urgent=urgent) as conn:
            with _busy_as_store_error():
                return list(await conn.execute_fetchall(statement, params))
