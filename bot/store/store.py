"""The SQLite store: the one owner of the bot's database connection.

Usage::

    store = await Store.open(settings.database_url)   # migrates, then ready
    try:
        ...
    finally:
        await store.close()

or, equivalently, ``async with await Store.open(url) as store: ...``.

One aiosqlite connection in autocommit mode (``isolation_level=None``) serves the whole
process. Every use of it — a single statement or an explicit transaction — holds
``self._lock``, so coroutines never see each other's half-done transactions and never
interleave ``BEGIN``\\s. The task that holds the lock may call store methods again (and
open nested ``transaction()``\\s, run as SAVEPOINTs): ownership is per asyncio task, so
a transaction body must not hand store work to *other* tasks and wait for them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote

import aiosqlite

from bot.jobs import UNFINISHED_STATUSES, JobRecord, JobStatus
from bot.presets import Preset
from bot.store import sql
from bot.store.migrations import MIGRATIONS, Migration, check_migrations
from bot.store.priority_lock import PriorityLock

log = logging.getLogger(__name__)

MEMORY = ":memory:"

_JOB_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(JobRecord))
_JOB_MUTABLE_FIELDS: frozenset[str] = frozenset(_JOB_FIELDS) - {"id"}
_TERMINAL_STATUSES: tuple[JobStatus, ...] = tuple(s for s in JobStatus if s.terminal)
_GUILD_SETTINGS_FIELDS: frozenset[str] = frozenset(
    {"provider", "log_channel_id", "ideogram_enabled", "reframe_enabled", "language"}
)



def _make_private(path: Path) -> None:
    """Create the database file readable by its owner only (0600) before SQLite opens it;
    SQLite gives its -wal and -shm files the database file's mode. An existing file (and
    its -wal/-shm) is tightened to 0600 too."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists():
            os.chmod(candidate, 0o600)

class StoreError(Exception):
    """The database cannot be used as asked (bad URL, unknown schema, closed store…)."""


class JobNotFoundError(StoreError, LookupError):
    """``update_job`` was given an id with no row."""


class PresetLimitError(StoreError):
    """A server already has the most presets it may keep."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a server keeps at most {limit} presets")
        self.limit = limit


class StoreBusyError(StoreError):
    """The database is locked by another connection past ``busy_timeout``: nothing was
    written; the same operation may succeed a moment later."""


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


@dataclasses.dataclass(frozen=True, slots=True)
class GuildSettings:
    """A guild's settings; the defaults apply when the guild has never changed any."""

    guild_id: int
    provider: str | None = None
    log_channel_id: int | None = None
    ideogram_enabled: bool = True
    reframe_enabled: bool = True
    #: ``/settings language`` (en, pt-BR or it); None: the server's Discord language.
    language: str | None = None
    allowed_channel_ids: frozenset[int] = frozenset()
    blocked_words: tuple[str, ...] = ()
    updated_at: float | None = None

    def channel_allowed(self, channel_id: int) -> bool:
        """No allowed channels listed means every channel is allowed."""
        return not self.allowed_channel_ids or channel_id in self.allowed_channel_ids


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


def _job_to_params(job: JobRecord) -> dict[str, Any]:
    params = {name: getattr(job, name) for name in _JOB_FIELDS}
    params["status"] = JobStatus(job.status).value
    params["inputs"] = json.dumps(job.inputs, ensure_ascii=False)
    params["result_urls"] = json.dumps(list(job.result_urls), ensure_ascii=False)
    return params


def _row_to_job(row: sqlite3.Row) -> JobRecord:
    keys = row.keys()
    data: dict[str, Any] = {name: row[name] for name in _JOB_FIELDS if name in keys}
    data["status"] = JobStatus(data["status"])
    data["inputs"] = json.loads(data["inputs"]) if data.get("inputs") else {}
    data["result_urls"] = json.loads(data["result_urls"]) if data.get("result_urls") else []
    return JobRecord(**data)


def _row_to_preset(row: sqlite3.Row) -> Preset:
    magic = row["magic_prompt"]
    return Preset(
        name=str(row["name"]), style=row["style"], aspect_ratio=row["aspect_ratio"],
        magic_prompt=None if magic is None else bool(magic),
        negative_prompt=row["negative_prompt"], prompt_suffix=row["prompt_suffix"],
        color_palette=row["color_palette"], created_by=int(row["created_by"]),
        updated_at=float(row["updated_at"]))


def _statuses_json(statuses: Iterable[JobStatus | str]) -> str:
    return json.dumps(sorted({JobStatus(s).value for s in statuses}))


def _normalize_phrase(phrase: str) -> str:
    return " ".join(phrase.split()).lower()


class Store:
    """Jobs and guild settings in one SQLite file. Create it with ``await Store.open(...)``."""

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
    async def open(
        cls,
        database: str | os.PathLike[str],
        *,
        target_version: int | None = None,
        migrations: Sequence[Migration] = MIGRATIONS,
        busy_timeout_ms: int = sql.DEFAULT_BUSY_TIMEOUT_MS,
    ) -> Store:
        """Open (creating if needed) and migrate the database; return a ready store.

        ``database`` is a ``DATABASE_URL`` or a path (see ``parse_database_url``).
        ``target_version`` stops migrating at that version and ``migrations`` replaces the
        migration list: both exist for tests and tools; the bot passes neither. Job and
        settings methods assume the latest schema. ``busy_timeout_ms``: how long a
        statement waits for another connection's lock before :class:`StoreBusyError`.
        """
        check_migrations(migrations)
        latest = len(migrations)
        target = latest if target_version is None else target_version
        if not 0 <= target <= latest:
            raise StoreError(f"target_version {target} is outside 0..{latest}")

        path = parse_database_url(database)
        if path != MEMORY:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            _make_private(Path(path))
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {path!r}: {exc}") from exc
        store = cls(conn, path, 0)
        store._busy_timeout_ms = busy_timeout_ms
        try:
            conn.row_factory = sqlite3.Row
            await store._configure()
            await store._migrate(migrations, target)
        except BaseException:
            await conn.close()
            store._conn = None
            raise
        log.info("opened database %s (schema version %d)", path, store.schema_version)
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
        return self._conn is None

    async def probe_write(self) -> None:
        """Prove the file takes a committed write (for the health check): rewrite the
        schema version with its own value in one IMMEDIATE transaction. Raises
        ``sqlite3.Error`` or :class:`StoreError` when it cannot."""
        async with self.transaction(immediate=True) as conn:
            version = await self.user_version()
            await conn.execute(sql.PRAGMA_SET_USER_VERSION.format(version=int(version)))

    async def checkpoint(self) -> bool:
        """Fold the WAL into the database file and truncate it; False if a reader kept it
        from completing (for a clean stop, before :meth:`close`)."""
        if self.path == MEMORY:
            return True
        row = await self._fetchone(sql.PRAGMA_WAL_CHECKPOINT_TRUNCATE)
        return row is not None and int(row[0]) == 0

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _configure(self) -> None:
        conn = self._require_conn()
        journal_mode = await conn.execute_fetchall(sql.PRAGMA_JOURNAL_MODE_WAL)
        mode = next(iter(journal_mode))[0] if journal_mode else None
        if self.path != MEMORY and str(mode).lower() != "wal":
            log.warning("database %s: journal_mode is %s, not wal", self.path, mode)
        await conn.execute(sql.PRAGMA_FOREIGN_KEYS_ON)
        await conn.execute(sql.pragma_busy_timeout(self._busy_timeout_ms))
        await conn.execute(sql.PRAGMA_SYNCHRONOUS_NORMAL)

    async def _migrate(self, migrations: Sequence[Migration], target: int) -> None:
        known = len(migrations)
        async with self.transaction(immediate=True):
            current = await self.user_version()
            if current > known:
                raise StoreError(
                    f"database {self.path!r} has schema version {current}, but this version "
                    f"of the bot knows only up to {known}: it was written by a newer "
                    "release. Upgrade the bot, or point DATABASE_URL at another file."
                )
            for migration in migrations[current:target]:
                log.info(
                    "database %s: applying migration %d (%s)",
                    self.path,
                    migration.version,
                    migration.name,
                )
                try:
                    for statement in migration.statements:
                        await self._execute(statement)
                except sqlite3.Error as exc:
                    raise StoreError(
                        f"migration {migration.version} ({migration.name}) failed: {exc}; "
                        f"the database is left at version {current}"
                    ) from exc
                reached = await self.user_version()
                if reached != migration.version:
                    raise StoreError(
                        f"migration {migration.version} ({migration.name}) left "
                        f"user_version at {reached}"
                    )
            self.schema_version = max(current, target)

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

        await self._lock.acquire(urgent=urgent)
        try:
            conn = self._require_conn()
            self._owner = asyncio.current_task()
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
        finally:
            self._owner = None
            self._lock.release()

    @staticmethod
    async def _rollback(conn: aiosqlite.Connection) -> None:
        try:
            await conn.execute(sql.ROLLBACK)
        except sqlite3.OperationalError as exc:  # no transaction was active
            log.debug("rollback: %s", exc)

    async def _execute(self, statement: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        async with self._connection() as conn:
            with _busy_as_store_error():
                async with conn.execute(statement, params) as cursor:
                    return cursor.rowcount

    async def _fetchall(
        self, statement: str, params: Sequence[Any] | dict[str, Any] = (), *,
        urgent: bool = False,
    ) -> list[sqlite3.Row]:
        async with self._connection(urgent=urgent) as conn:
            with _busy_as_store_error():
                return list(await conn.execute_fetchall(statement, params))

    async def _fetchone(
        self, statement: str, params: Sequence[Any] | dict[str, Any] = (), *,
        urgent: bool = False,
    ) -> sqlite3.Row | None:
        rows = await self._fetchall(statement, params, urgent=urgent)
        return rows[0] if rows else None

    # ------------------------------------------------------------------ jobs

    async def insert_job(self, job: JobRecord) -> JobRecord:
        """Write a new job row. Raises ``sqlite3.IntegrityError`` if the id exists."""
        await self._execute(sql.INSERT_JOB, _job_to_params(job))
        return job

    async def insert_jobs(self, jobs: Sequence[JobRecord]) -> None:
        """Write several new job rows with one statement (inside a transaction, they join
        it). Raises ``sqlite3.IntegrityError`` if an id exists."""
        if not jobs:
            return
        async with self._connection() as conn:
            with _busy_as_store_error():
                await conn.executemany(sql.INSERT_JOB, [_job_to_params(j) for j in jobs])

    async def get_job(self, job_id: str, *, urgent: bool = False) -> JobRecord | None:
        """The job, or None. ``urgent``: before an interaction's answer (see ``transaction``)."""
        row = await self._fetchone(sql.SELECT_JOB, (job_id,), urgent=urgent)
        return None if row is None else _row_to_job(row)

    async def find_job_by_prefix(self, guild_id: int | None, prefix: str) -> JobRecord | None:
        """The job of this guild (None: DMs) whose id starts with ``prefix`` (a short id).

        Returns None when nothing matches, and also when the prefix matches more than one
        job (the caller should ask for more characters).
        """
        prefix = prefix.strip().lower()
        if not prefix:
            return None
        rows = await self._fetchall(sql.SELECT_JOBS_BY_PREFIX, (guild_id, len(prefix), prefix))
        if len(rows) != 1:
            if rows:
                log.debug("short id %r is ambiguous in guild %s", prefix, guild_id)
            return None
        return _row_to_job(rows[0])

    @staticmethod
    def _job_changes(fields: dict[str, Any]) -> dict[str, Any]:
        """Checked and converted column values for an UPDATE of some job fields."""
        unknown = set(fields) - _JOB_MUTABLE_FIELDS
        if unknown:
            raise ValueError(f"cannot update job field(s): {', '.join(sorted(unknown))}")
        changes = dict(fields)
        if "status" in changes:
            changes["status"] = JobStatus(changes["status"]).value
        if "result_urls" in changes:
            changes["result_urls"] = json.dumps(list(changes["result_urls"]), ensure_ascii=False)
        if "inputs" in changes:
            changes["inputs"] = json.dumps(changes["inputs"], ensure_ascii=False)
        changes.setdefault("updated_at", time.time())
        return changes

    async def update_job(self, job_id: str, **fields: Any) -> JobRecord:
        """Change some fields of a job (and ``updated_at``); return the new record.

        Raises ``ValueError`` for a name that is not a ``JobRecord`` field (or is ``id``)
        and ``JobNotFoundError`` when there is no such job.
        """
        changes = self._job_changes(fields)
        statement = sql.update_job_columns(tuple(sorted(changes)), if_status_in=False)
        row = await self._fetchone(statement, {**changes, "id": job_id})
        if row is None:
            raise JobNotFoundError(f"no job with id {job_id!r}")
        return _row_to_job(row)

    async def transition_job(
        self, job_id: str, expected: Iterable[JobStatus | str], **fields: Any
    ) -> JobRecord | None:
        """Compare-and-set: apply ``fields`` only if the job's status is in ``expected``.

        Returns the new record, or None when the job is missing or in another status
        (e.g. a second attempt to write a terminal state). One statement, so it is atomic
        without an explicit transaction.
        """
        if isinstance(expected, str):  # a single JobStatus is a str: don't iterate its chars
            expected = (expected,)
        allowed = frozenset(JobStatus(s) for s in expected)
        changes = self._job_changes(fields)
        statement = sql.update_job_columns(tuple(sorted(changes)), if_status_in=True)
        row = await self._fetchone(
            statement, {**changes, "id": job_id, "expected": _statuses_json(allowed)})
        return None if row is None else _row_to_job(row)

    async def unfinished_jobs(self) -> list[JobRecord]:
        """Jobs still pending, queued or running, oldest first (to resume after a restart)."""
        rows = await self._fetchall(
            sql.SELECT_JOBS_IN_STATUSES, (_statuses_json(UNFINISHED_STATUSES),)
        )
        return [_row_to_job(row) for row in rows]

    async def undelivered_finished_jobs(self) -> list[JobRecord]:
        """Jobs in a terminal status whose outcome was never delivered, oldest first."""
        rows = await self._fetchall(
            sql.SELECT_UNDELIVERED_JOBS_IN_STATUSES, (_statuses_json(_TERMINAL_STATUSES),)
        )
        return [_row_to_job(row) for row in rows]

    async def jobs_for_user(
        self, guild_id: int | None, user_id: int, limit: int = 10, offset: int = 0
    ) -> list[JobRecord]:
        """A member's jobs in a guild, newest first."""
        rows = await self._fetchall(sql.SELECT_JOBS_FOR_USER, (guild_id, user_id, limit, offset))
        return [_row_to_job(row) for row in rows]

    async def count_jobs_for_user(self, guild_id: int | None, user_id: int) -> int:
        row = await self._fetchone(sql.COUNT_JOBS_FOR_USER, (guild_id, user_id))
        return int(row[0]) if row is not None else 0

    async def jobs_for_guild(
        self, guild_id: int | None, limit: int | None = 50, offset: int = 0
    ) -> list[JobRecord]:
        """A guild's jobs, newest first; ``limit=None`` returns them all (CSV export)."""
        rows = await self._fetchall(
            sql.SELECT_JOBS_FOR_GUILD, (guild_id, -1 if limit is None else limit, offset)
        )
        return [_row_to_job(row) for row in rows]

    async def recent_durations(self, model: str, limit: int = 20) -> list[tuple[float, float]]:
        """(queue seconds, run seconds) of the latest completed jobs of ``model``, newest first."""
        rows = await self._fetchall(
            sql.SELECT_RECENT_DURATIONS, (model, JobStatus.COMPLETED.value, limit)
        )
        return [(float(row[0]), float(row[1])) for row in rows]

    # ------------------------------------------------------------------ history, queue, retention

    async def jobs_by_prefix(self, guild_id: int | None, prefix: str) -> list[JobRecord]:
        """Up to two jobs of this guild whose id starts with ``prefix``: none, one, or an
        ambiguous pair (where :meth:`find_job_by_prefix` returns None for both)."""
        prefix = prefix.strip().lower()
        if not prefix:
            return []
        rows = await self._fetchall(sql.SELECT_JOBS_BY_PREFIX, (guild_id, len(prefix), prefix))
        return [_row_to_job(row) for row in rows]

    async def visible_jobs_for_user(
        self, guild_id: int | None, user_id: int, limit: int = 10, offset: int = 0
    ) -> list[JobRecord]:
        """A member's jobs that were not deleted, newest first (``/history``)."""
        rows = await self._fetchall(
            sql.SELECT_VISIBLE_JOBS_FOR_USER, (guild_id, user_id, limit, offset)
        )
        return [_row_to_job(row) for row in rows]

    async def count_visible_jobs_for_user(self, guild_id: int | None, user_id: int) -> int:
        row = await self._fetchone(sql.COUNT_VISIBLE_JOBS_FOR_USER, (guild_id, user_id))
        return int(row[0]) if row is not None else 0

    async def guild_jobs_after(
        self, guild_id: int | None, after: tuple[float, str] | None, limit: int = 500
    ) -> list[JobRecord]:
        """The next ``limit`` jobs of a guild, oldest first, after ``(created_at, id)`` of
        the last one seen (None: from the first). Keyset paging for exports."""
        created_at, job_id = after if after is not None else (None, None)
        rows = await self._fetchall(
            sql.SELECT_JOBS_FOR_GUILD_AFTER,
            {"guild_id": guild_id, "created_at": created_at, "id": job_id, "limit": limit},
        )
        return [_row_to_job(row) for row in rows]

    async def unfinished_jobs_for_guild(self, guild_id: int | None) -> list[JobRecord]:
        """A guild's pending, queued and running jobs, oldest first (``/queue``)."""
        rows = await self._fetchall(
            sql.SELECT_GUILD_JOBS_IN_STATUSES, (guild_id, _statuses_json(UNFINISHED_STATUSES))
        )
        return [_row_to_job(row) for row in rows]

    async def prune_jobs(self, created_before: float, *, batch: int = 500) -> int:
        """Delete up to ``batch`` finished jobs created before ``created_before``; return how
        many went. Unfinished jobs are never touched. Quota usage rows are kept (detached
        from the job) so that spending already counted stays counted."""
        terminal = _statuses_json(_TERMINAL_STATUSES)
        async with self.transaction(immediate=True):
            rows = await self._fetchall(
                sql.SELECT_PRUNABLE_JOB_IDS, (created_before, terminal, batch)
            )
            if not rows:
                return 0
            ids = json.dumps([str(row[0]) for row in rows])
            await self._execute(sql.DETACH_USAGE_FROM_JOBS, (ids,))
            return await self._execute(sql.DELETE_JOBS_IN_STATUSES, (ids, terminal))

    # ------------------------------------------------------------------ guild settings

    async def get_guild_settings(self, guild_id: int) -> GuildSettings:
        async with self.transaction(immediate=False):
            row = await self._fetchone(sql.SELECT_GUILD_SETTINGS, (guild_id,))
            channels = await self._fetchall(sql.SELECT_ALLOWED_CHANNELS, (guild_id,))
            words = await self._fetchall(sql.SELECT_BLOCKED_WORDS, (guild_id,))
        base = GuildSettings(guild_id=guild_id)
        if row is not None:
            base = GuildSettings(
                guild_id=guild_id,
                provider=row["provider"],
                log_channel_id=row["log_channel_id"],
                ideogram_enabled=bool(row["ideogram_enabled"]),
                reframe_enabled=bool(row["reframe_enabled"]),
                language=row["language"],
                updated_at=row["updated_at"],
            )
        return dataclasses.replace(
            base,
            allowed_channel_ids=frozenset(int(r[0]) for r in channels),
            blocked_words=tuple(str(r[0]) for r in words),
        )

    # ------------------------------------------------------------------ batches

    async def batch_jobs(self, batch_id: str) -> list[JobRecord]:
        """The jobs of one batch, in order (``/ideogram count:N``)."""
        rows = await self._fetchall(sql.SELECT_BATCH_JOBS, (batch_id,))
        return [_row_to_job(row) for row in rows]

    # ------------------------------------------------------------------ presets

    async def all_presets(self) -> dict[int, list[Preset]]:
        """Every server's presets (for the in-memory settings cache)."""
        found: dict[int, list[Preset]] = {}
        for row in await self._fetchall(sql.SELECT_ALL_PRESETS):
            found.setdefault(int(row["guild_id"]), []).append(_row_to_preset(row))
        return found

    async def guild_presets(self, guild_id: int) -> list[Preset]:
        rows = await self._fetchall(sql.SELECT_GUILD_PRESETS, (guild_id,))
        return [_row_to_preset(row) for row in rows]

    async def save_preset(self, guild_id: int, preset: Preset, *, actor_id: int,
                          limit: int) -> Preset | None:
        """Save (or replace, by name) a preset and audit it; return the one it replaced.
        Raises :class:`PresetLimitError` when the server has ``limit`` others already."""
        async with self.transaction(immediate=True):
            row = await self._fetchone(sql.SELECT_PRESET, (guild_id, preset.name))
            old = None if row is None else _row_to_preset(row)
            if old is None:
                count_row = await self._fetchone(sql.COUNT_GUILD_PRESETS, (guild_id,))
                if count_row is not None and int(count_row[0]) >= limit:
                    raise PresetLimitError(limit)
            await self._execute(sql.UPSERT_PRESET, {
                "guild_id": guild_id, "name": preset.name, "style": preset.style,
                "aspect_ratio": preset.aspect_ratio,
                "magic_prompt": None if preset.magic_prompt is None else int(preset.magic_prompt),
                "negative_prompt": preset.negative_prompt,
                "prompt_suffix": preset.prompt_suffix, "color_palette": preset.color_palette,
                "created_by": preset.created_by, "updated_at": preset.updated_at})
            await self._execute(sql.INSERT_SETTINGS_AUDIT, (
                guild_id, actor_id, "preset:replace" if old else "preset:save",
                json.dumps({"name": preset.name, **preset.options()}, ensure_ascii=False),
                time.time()))
        return old

    async def delete_preset(self, guild_id: int, name: str, *, actor_id: int) -> Preset | None:
        """Delete a preset (by name, any case) and audit it; None if there was none."""
        async with self.transaction(immediate=True):
            row = await self._fetchone(sql.SELECT_PRESET, (guild_id, name))
            if row is None:
                return None
            old = _row_to_preset(row)
            await self._execute(sql.DELETE_PRESET, (guild_id, old.name))
            await self._execute(sql.INSERT_SETTINGS_AUDIT, (
                guild_id, actor_id, "preset:delete", json.dumps({"name": old.name}),
                time.time()))
        return old

    async def all_guild_settings(self) -> dict[int, GuildSettings]:
        """Every guild that has changed a setting (for the in-memory settings cache)."""
        async with self.transaction(immediate=False):
            rows = await self._fetchall(sql.SELECT_ALL_GUILD_SETTINGS)
            channels = await self._fetchall(sql.SELECT_ALL_ALLOWED_CHANNELS)
            words = await self._fetchall(sql.SELECT_ALL_BLOCKED_WORDS)
        found: dict[int, GuildSettings] = {}
        for row in rows:
            found[int(row["guild_id"])] = GuildSettings(
                guild_id=int(row["guild_id"]),
                provider=row["provider"],
                log_channel_id=row["log_channel_id"],
                ideogram_enabled=bool(row["ideogram_enabled"]),
                reframe_enabled=bool(row["reframe_enabled"]),
                language=row["language"],
                updated_at=row["updated_at"],
            )
        allowed: dict[int, set[int]] = {}
        for row in channels:
            allowed.setdefault(int(row[0]), set()).add(int(row[1]))
        blocked: dict[int, list[str]] = {}
        for row in words:
            blocked.setdefault(int(row[0]), []).append(str(row[1]))
        for guild_id in set(allowed) | set(blocked):
            base = found.get(guild_id) or GuildSettings(guild_id=guild_id)
            found[guild_id] = dataclasses.replace(
                base, allowed_channel_ids=frozenset(allowed.get(guild_id, ())),
                blocked_words=tuple(blocked.get(guild_id, ())))
        return found

    async def update_guild_settings(self, guild_id: int, **fields: Any) -> GuildSettings:
        """Set any of provider, log_channel_id, ideogram_enabled, reframe_enabled, language."""
        unknown = set(fields) - _GUILD_SETTINGS_FIELDS
        if unknown:
            raise ValueError(f"cannot update guild setting(s): {', '.join(sorted(unknown))}")
        async with self.transaction(immediate=True):
            current = dataclasses.replace(await self.get_guild_settings(guild_id), **fields)
            await self._execute(
                sql.UPSERT_GUILD_SETTINGS,
                {
                    "guild_id": guild_id,
                    "provider": current.provider,
                    "log_channel_id": current.log_channel_id,
                    "ideogram_enabled": int(bool(current.ideogram_enabled)),
                    "reframe_enabled": int(bool(current.reframe_enabled)),
                    "language": current.language,
                    "updated_at": time.time(),
                },
            )
            return await self.get_guild_settings(guild_id)

    async def add_allowed_channel(self, guild_id: int, channel_id: int) -> bool:
        """True if the channel was added, False if it was already allowed."""
        return await self._execute(sql.INSERT_ALLOWED_CHANNEL, (guild_id, channel_id)) == 1

    async def remove_allowed_channel(self, guild_id: int, channel_id: int) -> bool:
        """True if the channel was removed, False if it was not in the list."""
        return await self._execute(sql.DELETE_ALLOWED_CHANNEL, (guild_id, channel_id)) == 1

    async def add_blocked_words(self, guild_id: int, phrases: Iterable[str]) -> tuple[str, ...]:
        """Add phrases (stored lowercased, whitespace collapsed); return those newly added."""
        added: list[str] = []
        async with self.transaction(immediate=True):
            for phrase in dict.fromkeys(_normalize_phrase(p) for p in phrases):
                if phrase and await self._execute(sql.INSERT_BLOCKED_WORD, (guild_id, phrase)):
                    added.append(phrase)
        return tuple(added)

    async def remove_blocked_words(self, guild_id: int, phrases: Iterable[str]) -> tuple[str, ...]:
        """Remove phrases (matched after the same normalization); return those removed."""
        removed: list[str] = []
        async with self.transaction(immediate=True):
            for phrase in dict.fromkeys(_normalize_phrase(p) for p in phrases):
                if phrase and await self._execute(sql.DELETE_BLOCKED_WORD, (guild_id, phrase)):
                    removed.append(phrase)
        return tuple(removed)
