"""The PostgreSQL engine of the store, for several bot processes sharing one database.

Connections come from two asyncpg pools: a small one that only the path answering an
interaction uses (``urgent=True``: the quota decision and the job row), so it never queues
behind the tracker's work, and the main one for everything else. Inside
``transaction()`` the store's methods, called by the same task, run on the transaction's
connection (a context variable names it); a nested ``transaction()`` is a savepoint.

Quota decisions lock the usage row of each (server, month) they decide for
(``lock_quota_guilds``), so decisions about one server are made one after another across
processes, each seeing what the previous one wrote (READ COMMITTED reads anew at each
statement). A deadlock the server breaks becomes :class:`StoreConflictError`, and
:meth:`Store.run_transaction` runs the body again.

Jobs are owned through leases (``job_leases``, see :mod:`bot.leases`), and cached settings
follow other processes' changes through ``LISTEN``/``NOTIFY`` on one extra connection
(:mod:`bot.store.postgres.notices`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import asyncpg

from bot.jobs import UNFINISHED_STATUSES, JobRecord
from bot.store.base import (
    TERMINAL_STATUSES,
    ChangeCallback,
    LeaseConfig,
    Row,
    Store,
    StoreError,
    row_to_job,
    statuses_json,
)
from bot.store.migrations import Migration
from bot.store.postgres import sql
from bot.store.postgres.connection import (
    Connection,
    bind,
    conflicts_as_store_error,
    connection_url,
    prepare_connection,
    redact_url,
    rowcount,
)
from bot.store.postgres.migrations import MIGRATIONS
from bot.store.postgres.notices import ChangeNotices

log = logging.getLogger(__name__)

#: Connections of the main pool (tracker, settings, history…) and of the urgent one.
POOL_SIZE = 8
URGENT_POOL_SIZE = 2
#: How long connecting may take before the start fails with a clear reason.
CONNECT_TIMEOUT = 10.0
#: Longest any one statement may run.
COMMAND_TIMEOUT = 60.0
#: Longest wait for a free connection of a pool before :class:`StoreBusyError`.
ACQUIRE_TIMEOUT = 30.0
#: Longest a close waits for the connections in use to come back before cutting them.
POOL_CLOSE_SECONDS = 5.0

_CURRENT: contextvars.ContextVar[tuple[PostgresStore, Connection, asyncio.Task[Any] | None]
                                 | None] = contextvars.ContextVar("postgres_store_connection",
                                                                  default=None)


def default_lease_owner() -> str:
    """Return the lease owner of a process that runs every shard on this host."""
    return f"{socket.gethostname()}/all-shards"


async def _create_pool(url: str, size: int, connect_timeout: float) -> asyncpg.Pool:
    """One pool of up to ``size`` connections; not reaching the server is a StoreError."""
    try:
        return await asyncpg.create_pool(url, min_size=1, max_size=size, timeout=connect_timeout,
                                         command_timeout=COMMAND_TIMEOUT,
                                         init=prepare_connection)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreError(f"cannot connect to PostgreSQL at {redact_url(url)}: "
                         f"{type(exc).__name__}: {exc}") from None
    except (ValueError, OverflowError):  # asyncpg's parsing of the URL
        raise StoreError("the PostgreSQL URL is not valid: check the port, and "
                         "percent-encode #, / and ? in the password") from None


class PostgresStore(Store):
    """The store on a PostgreSQL server. Open it with ``await Store.open("postgresql://…")``."""

    MIGRATIONS = MIGRATIONS

    engine: ClassVar[str] = "postgresql"
    _sql = sql
    version_record: ClassVar[str] = "store_schema.version"
    statement_errors: ClassVar[tuple[type[Exception], ...]] = (asyncpg.PostgresError,)

    def __init__(self, url: str, pool: asyncpg.Pool, urgent_pool: asyncpg.Pool) -> None:
        # Use PostgresStore.open(); this constructor does no I/O.
        self._url = url
        self._pool: asyncpg.Pool | None = pool
        self._urgent_pool: asyncpg.Pool | None = urgent_pool
        self.schema_version = 0
        self.incarnation = secrets.token_hex(8)  # this run of this process
        self._leases = LeaseConfig(owner=default_lease_owner())
        self.notices = ChangeNotices(url, self.incarnation, connect_timeout=CONNECT_TIMEOUT)

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def _connect(cls, database: str | os.PathLike[str], *, pool_size: int = POOL_SIZE,
                       urgent_pool_size: int = URGENT_POOL_SIZE,
                       connect_timeout: float = CONNECT_TIMEOUT) -> PostgresStore:
        """Connect both pools to the server ``database`` names.

        Migrations then run one process at a time, under an advisory lock.
        """
        url = connection_url(database)
        pool = await _create_pool(url, pool_size, connect_timeout)
        try:
            urgent_pool = await _create_pool(url, urgent_pool_size, connect_timeout)
        except BaseException:
            await pool.close()
            raise
        return cls(url, pool, urgent_pool)

    async def close(self) -> None:
        """Stop listening, then close both pools. Safe to call twice."""
        if self._pool is None:
            return
        await self.notices.close()
        pool, urgent, self._pool, self._urgent_pool = self._pool, self._urgent_pool, None, None
        for each in (urgent, pool):
            if each is not None:
                try:
                    async with asyncio.timeout(POOL_CLOSE_SECONDS):
                        await each.close()  # waits for lent connections to come back
                except TimeoutError:
                    log.warning("Connections still busy after %.0f s: closing them anyway",
                                POOL_CLOSE_SECONDS)
                    each.terminate()
        log.info("closed database %s", redact_url(self._url))

    @property
    def closed(self) -> bool:
        """Whether the pools are closed."""
        return self._pool is None

    def describe(self) -> str:
        """Return ``PostgreSQL <url without password>``."""
        return f"PostgreSQL {redact_url(self._url)}"

    async def probe_write(self) -> None:
        """Prove the server takes a committed write.

        For the health check: rewrite the schema version with its own value. Raises when it
        cannot.
        """
        await self._execute(sql.PROBE_WRITE)

    async def _set_up(self, migrations: Sequence[Migration], target: int) -> None:
        async with self.transaction() as conn:
            await conn.execute(sql.LOCK_MIGRATIONS)
            await conn.execute(sql.CREATE_SCHEMA_TABLE)
            await conn.execute(sql.INSERT_SCHEMA_ROW)
            await self._apply_migrations(migrations, target)

    async def _apply_migration(self, migration: Migration) -> None:
        async with self.transaction() as conn:  # a savepoint in the opening transaction
            for statement in migration.statements:
                await conn.execute(statement)

    async def user_version(self) -> int:
        """The schema version recorded in the database (``store_schema.version``)."""
        row = await self._fetchone(sql.SELECT_SCHEMA_VERSION)
        return int(row[0]) if row is not None else 0

    # ------------------------------------------------------------------ connection use

    def _require_pool(self, urgent: bool) -> asyncpg.Pool:
        pool = self._urgent_pool if urgent else self._pool
        if pool is None:
            raise StoreError("the store is closed")
        return pool

    def _current(self) -> Connection | None:
        current = _CURRENT.get()
        if current is not None and current[0] is self and current[2] is asyncio.current_task():
            return current[1]
        return None

    @asynccontextmanager
    async def _acquire(self, urgent: bool) -> AsyncIterator[Connection]:
        """Lend a connection of the pool for the body, then give it back.

        :class:`StoreBusyError` when none is free within ``ACQUIRE_TIMEOUT`` or the server
        cannot be reached.
        """
        pool = self._require_pool(urgent)
        with conflicts_as_store_error():
            conn = await pool.acquire(timeout=ACQUIRE_TIMEOUT)
        try:
            yield conn
        finally:
            await pool.release(conn)

    @asynccontextmanager
    async def _connection(self, *, urgent: bool = False) -> AsyncIterator[Connection]:
        conn = self._current()
        if conn is not None:
            yield conn
            return
        async with self._acquire(urgent) as conn:
            yield conn

    @asynccontextmanager
    async def transaction(
        self, *, immediate: bool = True, urgent: bool = False
    ) -> AsyncIterator[Connection]:
        """Run the body in one transaction on a connection of a pool.

        READ COMMITTED, on the main pool or, with ``urgent=True``, the urgent one; nested, a
        savepoint. ``immediate`` changes nothing here: writers lock the rows they need (see
        ``lock_quota_guilds``).
        """
        conn = self._current()
        if conn is not None:
            async with conn.transaction():
                yield conn
            return
        async with self._acquire(urgent) as conn:
            token = _CURRENT.set((self, conn, asyncio.current_task()))
            try:
                with conflicts_as_store_error():
                    async with conn.transaction():
                        yield conn
            finally:
                _CURRENT.reset(token)

    async def _execute(self, statement: str, params: Sequence[Any] | Mapping[str, Any] = ()
                       ) -> int:
        text, args = bind(statement, params)
        async with self._connection() as conn:
            with conflicts_as_store_error():
                return rowcount(await conn.execute(text, *args))

    async def _executemany(self, statement: str,
                           params: Sequence[Sequence[Any] | Mapping[str, Any]]) -> None:
        if not params:
            return
        bound = [bind(statement, p) for p in params]
        async with self._connection() as conn:
            with conflicts_as_store_error():
                await conn.executemany(bound[0][0], [args for _, args in bound])

    async def _fetchall(self, statement: str, params: Sequence[Any] | Mapping[str, Any] = (),
                        *, urgent: bool = False) -> list[Row]:
        text, args = bind(statement, params)
        async with self._connection(urgent=urgent) as conn:
            with conflicts_as_store_error():
                return list(await conn.fetch(text, *args))

    # ------------------------------------------------------------------ jobs and leases

    @property
    def leases_enabled(self) -> bool:
        """Always: several processes may share the database."""
        return True

    @property
    def lease_config(self) -> LeaseConfig:
        """The jobs this process may own."""
        return self._leases

    def configure_leases(self, config: LeaseConfig) -> None:
        """Own the jobs of ``config``'s shards from now on."""
        self._leases = config

    async def insert_job(self, job: JobRecord) -> JobRecord:
        """Write a new job and lease it to this process."""
        await self.insert_jobs([job])
        return job

    async def insert_jobs(self, jobs: Sequence[JobRecord]) -> None:
        """Write new job rows and lease them to this process, in one transaction."""
        if not jobs:
            return
        async with self.transaction():
            await super().insert_jobs(jobs)
            await self._execute(sql.INSERT_LEASES, (
                self._leases.owner, self.incarnation, self._leases.lease_seconds,
                [job.id for job in jobs]))

    def _claim_params(self) -> dict[str, Any]:
        config = self._leases
        return {"owner": config.owner, "incarnation": self.incarnation,
                "shard_count": config.shard_count if config.shard_ids is not None else 1,
                "shard_ids": list(config.shard_ids or ()), "grace": config.grace,
                "lease_seconds": config.lease_seconds}

    async def _claim(self, statement: str) -> list[JobRecord]:
        async with self.transaction():
            claimed = await self._fetchall(statement, self._claim_params())
            if not claimed:
                return []
            rows = await self._fetchall(sql.SELECT_JOBS_BY_IDS, ([r[0] for r in claimed],))
        return [row_to_job(row) for row in rows]

    async def claim_unfinished_jobs(self) -> list[JobRecord]:
        """Lease the unfinished jobs nobody holds; return those newly taken."""
        return await self._claim(sql.CLAIM_UNFINISHED_JOBS)

    async def claim_undelivered_jobs(self) -> list[JobRecord]:
        """Lease the finished, undelivered jobs nobody holds; return those newly taken."""
        return await self._claim(sql.CLAIM_UNDELIVERED_JOBS)

    async def owned_unfinished_jobs(self) -> list[JobRecord]:
        """Return the unfinished jobs this run of the process holds."""
        rows = await self._fetchall(sql.SELECT_LEASED_JOBS, (
            self.incarnation, statuses_json(UNFINISHED_STATUSES)))
        return [row_to_job(row) for row in rows]

    async def owned_undelivered_jobs(self) -> list[JobRecord]:
        """Return the finished, undelivered jobs this run of the process holds."""
        rows = await self._fetchall(sql.SELECT_LEASED_UNDELIVERED_JOBS, (
            self.incarnation, statuses_json(TERMINAL_STATUSES)))
        return [row_to_job(row) for row in rows]

    async def renew_leases(self) -> set[str] | None:
        """Drop the leases of delivered jobs, extend the rest; return the jobs still held."""
        async with self.transaction():
            await self._execute(sql.DROP_DONE_LEASES, (self.incarnation,))
            rows = await self._fetchall(sql.RENEW_LEASES, (
                self._leases.lease_seconds, self.incarnation))
        return {str(row[0]) for row in rows}

    # ------------------------------------------------------------------ quota

    async def quota_snapshot_rows(self, keys: Sequence[tuple[int, int]], day: str,
                                  month: str) -> dict[tuple[int, int], Row]:
        """Return a quota snapshot row per (guild, member) of ``keys``, in one statement."""
        if not keys:
            return {}
        rows = await self._fetchall(sql.SELECT_QUOTA_SNAPSHOTS, {
            "guild_ids": [k[0] for k in keys], "user_ids": [k[1] for k in keys],
            "day": day, "month": month})
        return {(int(row["guild_id"]), int(row["user_id"])): row for row in rows}

    async def lock_quota_guilds(self, keys: Any) -> None:
        """Lock each (guild, month) usage row, in a fixed order so that processes never deadlock."""
        by_month: dict[str, list[int]] = {}
        for guild_id, month in keys:
            by_month.setdefault(month, []).append(int(guild_id))
        for month in sorted(by_month):
            await self._execute(sql.LOCK_QUOTA_GUILDS, (month, sorted(set(by_month[month]))))

    async def _lock_guild_settings(self, guild_id: int) -> None:
        await self._execute(sql.CREATE_GUILD_SETTINGS_ROW, (guild_id,))
        await self._fetchall(sql.LOCK_GUILD_SETTINGS_ROW, (guild_id,))

    # ------------------------------------------------------------------ change notices

    async def _changed(self, topic: str, key: object) -> None:
        await self._execute(sql.NOTIFY_CHANGE, (sql.NOTICE_CHANNEL,
                                                self.notices.payload(topic, key)))

    async def subscribe(self, topic: str, callback: ChangeCallback) -> None:
        """Call ``callback(key)`` for every change another process makes under ``topic``.

        See :meth:`ChangeNotices.subscribe`. Returns once listening.
        """
        await self.notices.subscribe(topic, callback)
