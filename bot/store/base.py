"""The store interface: what the rest of the bot reads and writes, whatever the engine.

:class:`Store` is the one type the bot is written against. ``await Store.open(url)`` picks
the engine from ``DATABASE_URL``: ``sqlite:///…`` (one process, one file:
:class:`bot.store.store.SqliteStore`) or ``postgresql://…`` (several processes sharing a
server: :class:`bot.store.postgres.PostgresStore`). Every public method here runs the same
statements on either engine: each engine names its SQL in one module (``bot.store.sql`` for
SQLite, ``bot.store.postgres.sql`` for PostgreSQL) under the same constant names, with the
same parameters, and supplies the few primitives below (a transaction, run a statement,
fetch rows).

Several processes (PostgreSQL only) add two things, which do nothing on SQLite:

* job leases: :meth:`Store.claim_unfinished_jobs` and friends hand each unfinished job to
  one process at a time (see :mod:`bot.leases`);
* change notices: :meth:`Store.subscribe` tells a process when another one changed a
  cached thing (server settings), so its cache follows within moments.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import ModuleType, TracebackType
from typing import Any, ClassVar, TypeVar

from bot.jobs import UNFINISHED_STATUSES, JobRecord, JobStatus
from bot.presets import Preset

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A row as the engine returns it: read by column name (``row["status"]``) or position.
Row = Any
#: Called with (key, origin) when another process changed something under a topic; a key
#: of None means "anything may have changed" (the notices were interrupted).
ChangeCallback = Callable[[str | None], Awaitable[None]]

#: The topic of server settings changes (key: the guild id).
GUILD_SETTINGS_TOPIC = "guild_settings"
#: The topic of server preset changes (key: the guild id).
PRESETS_TOPIC = "presets"

JOB_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(JobRecord))
_JOB_MUTABLE_FIELDS: frozenset[str] = frozenset(JOB_FIELDS) - {"id"}
TERMINAL_STATUSES: tuple[JobStatus, ...] = tuple(s for s in JobStatus if s.terminal)
_GUILD_SETTINGS_FIELDS: frozenset[str] = frozenset(
    {"provider", "log_channel_id", "ideogram_enabled", "reframe_enabled", "language"}
)
#: Tries of a transaction the engine aborted to break a deadlock between processes.
CONFLICT_ATTEMPTS = 6


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


class StoreConflictError(StoreError):
    """The engine aborted a transaction to break a deadlock (or a serialization conflict)
    with another connection: nothing of it was written, and running it again is safe.
    :meth:`Store.run_transaction` does so."""


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


@dataclasses.dataclass(frozen=True, slots=True)
class LeaseConfig:
    """Which jobs this process may own (PostgreSQL): those of its own shards' guilds, and
    any other whose lease ran out ``grace`` seconds ago (its process died, and nobody who
    owns that shard took it). ``owner`` names the process in the lease rows: a restart
    with the same shards takes its old leases back at once."""

    owner: str
    shard_ids: tuple[int, ...] | None = None  # None: every shard
    shard_count: int = 1
    lease_seconds: float = 20.0

    @property
    def grace(self) -> float:
        return self.lease_seconds / 3

    def owns_guild(self, guild_id: int | None) -> bool:
        if self.shard_ids is None or self.shard_count <= 1:
            return True
        return ((guild_id or 0) >> 22) % self.shard_count in self.shard_ids


def is_postgres_url(url: str | os.PathLike[str]) -> bool:
    text = os.fspath(url).strip().lower()
    return text.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://"))


def job_to_params(job: JobRecord) -> dict[str, Any]:
    params = {name: getattr(job, name) for name in JOB_FIELDS}
    params["status"] = JobStatus(job.status).value
    params["inputs"] = json.dumps(job.inputs, ensure_ascii=False)
    params["result_urls"] = json.dumps(list(job.result_urls), ensure_ascii=False)
    return params


def row_to_job(row: Row) -> JobRecord:
    keys = set(row.keys())
    data: dict[str, Any] = {name: row[name] for name in JOB_FIELDS if name in keys}
    data["status"] = JobStatus(data["status"])
    data["inputs"] = json.loads(data["inputs"]) if data.get("inputs") else {}
    data["result_urls"] = json.loads(data["result_urls"]) if data.get("result_urls") else []
    return JobRecord(**data)


def row_to_preset(row: Row) -> Preset:
    magic = row["magic_prompt"]
    return Preset(
        name=str(row["name"]), style=row["style"], aspect_ratio=row["aspect_ratio"],
        magic_prompt=None if magic is None else bool(magic),
        negative_prompt=row["negative_prompt"], prompt_suffix=row["prompt_suffix"],
        color_palette=row["color_palette"], created_by=int(row["created_by"]),
        updated_at=float(row["updated_at"]))


def statuses_json(statuses: Iterable[JobStatus | str]) -> str:
    return json.dumps(sorted({JobStatus(s).value for s in statuses}))


def _normalize_phrase(phrase: str) -> str:
    return " ".join(phrase.split()).lower()


class Store(abc.ABC):
    """Jobs, server settings and quotas. Create one with ``await Store.open(url)``."""

    #: ``"sqlite"`` or ``"postgresql"``.
    engine: ClassVar[str]
    #: The engine's SQL: a module of named statements (the same names in every engine).
    _sql: ModuleType
    schema_version: int

    # ------------------------------------------------------------------ opening

    @classmethod
    async def open(cls, database: str | os.PathLike[str], **options: Any) -> Store:
        """Open (creating if needed) and migrate the database named by ``database`` (a
        ``DATABASE_URL``, or a path to an SQLite file); return a ready store."""
        if is_postgres_url(database):
            from bot.store.postgres import PostgresStore

            return await PostgresStore.open(database, **options)
        from bot.store.store import SqliteStore

        return await SqliteStore.open(database, **options)

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish what is in progress, then close. Safe to call twice."""

    @property
    @abc.abstractmethod
    def closed(self) -> bool: ...

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the data lives, for logs (never a password)."""

    @abc.abstractmethod
    async def probe_write(self) -> None:
        """Prove the database takes a committed write (for the health check); raises
        when it cannot."""

    async def checkpoint(self) -> bool:
        """Before a clean stop: fold what the engine keeps aside into the database (SQLite's
        WAL); False if that could not complete. PostgreSQL has nothing to do."""
        return True

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ engine primitives

    @abc.abstractmethod
    def transaction(
        self, *, immediate: bool = True, urgent: bool = False
    ) -> AbstractAsyncContextManager[Any]:
        """Run the body in one transaction: commit on success, roll back on any exception.
        Store methods called inside the body (by the same task) join it; a nested
        ``transaction()`` is a savepoint. ``immediate``: the body writes (SQLite takes the
        write lock at once). ``urgent``: the body answers an interaction, so it never
        queues behind the tracker's work. Yields the engine's connection."""

    @abc.abstractmethod
    async def _execute(self, statement: str, params: Sequence[Any] | Mapping[str, Any] = ()
                       ) -> int:
        """Run one statement; return the number of rows it changed."""

    @abc.abstractmethod
    async def _executemany(self, statement: str,
                           params: Sequence[Sequence[Any] | Mapping[str, Any]]) -> None:
        """Run one statement once per parameter set."""

    @abc.abstractmethod
    async def _fetchall(self, statement: str,
                        params: Sequence[Any] | Mapping[str, Any] = (), *,
                        urgent: bool = False) -> list[Row]:
        """Run one statement; return its rows."""

    async def _fetchone(self, statement: str, params: Sequence[Any] | Mapping[str, Any] = (),
                        *, urgent: bool = False) -> Row | None:
        rows = await self._fetchall(statement, params, urgent=urgent)
        return rows[0] if rows else None

    async def run_transaction(self, body: Callable[[], Awaitable[T]], *, immediate: bool = True,
                              urgent: bool = False) -> T:
        """``body()`` inside one transaction, run again (a few times) when the engine
        aborted it to break a deadlock with another process. The body must do nothing
        but store work, so that running it again is harmless."""
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                async with self.transaction(immediate=immediate, urgent=urgent):
                    return await body()
            except StoreConflictError:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                log.debug("Transaction conflict (try %d); running it again", attempt)
                await asyncio.sleep(0.005 * 2 ** attempt)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ processes

    @property
    def leases_enabled(self) -> bool:
        """Whether jobs are owned through leases (several processes share the database)."""
        return False

    def configure_leases(self, config: LeaseConfig) -> None:
        """Which jobs this process owns (PostgreSQL); SQLite has one process: all of them."""
        return None

    async def take_unfinished_jobs(self) -> list[JobRecord]:
        """At start: claim the unfinished jobs nobody holds, return all this process owns
        (SQLite, one process: every unfinished job)."""
        await self.claim_unfinished_jobs()
        return await self.owned_unfinished_jobs()

    async def take_undelivered_jobs(self) -> list[JobRecord]:
        """At start: the same for finished jobs whose outcome was never delivered."""
        await self.claim_undelivered_jobs()
        return await self.owned_undelivered_jobs()

    async def claim_unfinished_jobs(self) -> list[JobRecord]:
        """Take the unfinished jobs nobody holds (their process died); return those that
        this process now owns and did not before. SQLite, one process, owns every job
        from the start: nothing is ever new."""
        return []

    async def claim_undelivered_jobs(self) -> list[JobRecord]:
        """The same for finished jobs whose outcome was never delivered."""
        return []

    async def owned_unfinished_jobs(self) -> list[JobRecord]:
        """Unfinished jobs this process owns (for the tracker's reconciliation)."""
        return await self.unfinished_jobs()

    async def owned_undelivered_jobs(self) -> list[JobRecord]:
        """Finished, undelivered jobs this process owns."""
        return await self.undelivered_finished_jobs()

    async def renew_leases(self) -> set[str] | None:
        """Extend this process's leases; return the ids of the jobs it still owns (None:
        no leases, one process owns everything)."""
        return None

    async def subscribe(self, topic: str, callback: ChangeCallback) -> None:
        """Call ``callback(key)`` when another process changed something under ``topic``
        (PostgreSQL ``LISTEN``); SQLite has no other process, so nothing ever comes."""
        return None

    async def _lock_guild_settings(self, guild_id: int) -> None:
        """Hold a guild's settings row until the transaction ends (a read-change-write of
        it must not interleave with another). SQLite's write transaction holds the file."""
        return None

    async def _changed(self, topic: str, key: object) -> None:
        """Tell the other processes (inside the current transaction, so they hear of it
        when it commits) that something under ``topic`` changed."""
        return None


    # ------------------------------------------------------------------ jobs

    async def insert_job(self, job: JobRecord) -> JobRecord:
        """Write a new job row. Raises the engine's integrity error if the id exists."""
        await self._execute(self._sql.INSERT_JOB, job_to_params(job))
        return job

    async def insert_jobs(self, jobs: Sequence[JobRecord]) -> None:
        """Write several new job rows with one statement (inside a transaction, they join
        it). Raises the engine's integrity error if an id exists."""
        if not jobs:
            return
        await self._executemany(self._sql.INSERT_JOB, [job_to_params(j) for j in jobs])

    async def get_job(self, job_id: str, *, urgent: bool = False) -> JobRecord | None:
        """The job, or None. ``urgent``: before an interaction's answer (see ``transaction``)."""
        row = await self._fetchone(self._sql.SELECT_JOB, (job_id,), urgent=urgent)
        return None if row is None else row_to_job(row)

    async def find_job_by_prefix(self, guild_id: int | None, prefix: str) -> JobRecord | None:
        """The job of this guild (None: DMs) whose id starts with ``prefix`` (a short id).

        Returns None when nothing matches, and also when the prefix matches more than one
        job (the caller should ask for more characters).
        """
        prefix = prefix.strip().lower()
        if not prefix:
            return None
        rows = await self._fetchall(self._sql.SELECT_JOBS_BY_PREFIX,
                                    (guild_id, len(prefix), prefix))
        if len(rows) != 1:
            if rows:
                log.debug("short id %r is ambiguous in guild %s", prefix, guild_id)
            return None
        return row_to_job(rows[0])

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
        statement = self._sql.update_job_columns(tuple(sorted(changes)), if_status_in=False)
        row = await self._fetchone(statement, {**changes, "id": job_id})
        if row is None:
            raise JobNotFoundError(f"no job with id {job_id!r}")
        return row_to_job(row)

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
        statement = self._sql.update_job_columns(tuple(sorted(changes)), if_status_in=True)
        row = await self._fetchone(
            statement, {**changes, "id": job_id, "expected": statuses_json(allowed)})
        return None if row is None else row_to_job(row)

    async def unfinished_jobs(self) -> list[JobRecord]:
        """Jobs still pending, queued or running, oldest first (to resume after a restart)."""
        rows = await self._fetchall(
            self._sql.SELECT_JOBS_IN_STATUSES, (statuses_json(UNFINISHED_STATUSES),)
        )
        return [row_to_job(row) for row in rows]

    async def undelivered_finished_jobs(self) -> list[JobRecord]:
        """Jobs in a terminal status whose outcome was never delivered, oldest first."""
        rows = await self._fetchall(
            self._sql.SELECT_UNDELIVERED_JOBS_IN_STATUSES, (statuses_json(TERMINAL_STATUSES),)
        )
        return [row_to_job(row) for row in rows]

    async def jobs_for_user(
        self, guild_id: int | None, user_id: int, limit: int = 10, offset: int = 0
    ) -> list[JobRecord]:
        """A member's jobs in a guild, newest first."""
        rows = await self._fetchall(self._sql.SELECT_JOBS_FOR_USER,
                                    (guild_id, user_id, limit, offset))
        return [row_to_job(row) for row in rows]

    async def count_jobs_for_user(self, guild_id: int | None, user_id: int) -> int:
        row = await self._fetchone(self._sql.COUNT_JOBS_FOR_USER, (guild_id, user_id))
        return int(row[0]) if row is not None else 0

    async def jobs_for_guild(
        self, guild_id: int | None, limit: int | None = 50, offset: int = 0
    ) -> list[JobRecord]:
        """A guild's jobs, newest first; ``limit=None`` returns them all (CSV export)."""
        rows = await self._fetchall(
            self._sql.SELECT_JOBS_FOR_GUILD, (guild_id, -1 if limit is None else limit, offset)
        )
        return [row_to_job(row) for row in rows]

    async def recent_durations(self, model: str, limit: int = 20) -> list[tuple[float, float]]:
        """(queue seconds, run seconds) of the latest completed jobs of ``model``, newest first."""
        rows = await self._fetchall(
            self._sql.SELECT_RECENT_DURATIONS, (model, JobStatus.COMPLETED.value, limit)
        )
        return [(float(row[0]), float(row[1])) for row in rows]

    # ------------------------------------------------------------------ history, queue, retention

    async def jobs_by_prefix(self, guild_id: int | None, prefix: str) -> list[JobRecord]:
        """Up to two jobs of this guild whose id starts with ``prefix``: none, one, or an
        ambiguous pair (where :meth:`find_job_by_prefix` returns None for both)."""
        prefix = prefix.strip().lower()
        if not prefix:
            return []
        rows = await self._fetchall(self._sql.SELECT_JOBS_BY_PREFIX,
                                    (guild_id, len(prefix), prefix))
        return [row_to_job(row) for row in rows]

    async def visible_jobs_for_user(
        self, guild_id: int | None, user_id: int, limit: int = 10, offset: int = 0
    ) -> list[JobRecord]:
        """A member's jobs that were not deleted, newest first (``/history``)."""
        rows = await self._fetchall(
            self._sql.SELECT_VISIBLE_JOBS_FOR_USER, (guild_id, user_id, limit, offset)
        )
        return [row_to_job(row) for row in rows]

    async def count_visible_jobs_for_user(self, guild_id: int | None, user_id: int) -> int:
        row = await self._fetchone(self._sql.COUNT_VISIBLE_JOBS_FOR_USER, (guild_id, user_id))
        return int(row[0]) if row is not None else 0

    async def guild_jobs_after(
        self, guild_id: int | None, after: tuple[float, str] | None, limit: int = 500
    ) -> list[JobRecord]:
        """The next ``limit`` jobs of a guild, oldest first, after ``(created_at, id)`` of
        the last one seen (None: from the first). Keyset paging for exports."""
        created_at, job_id = after if after is not None else (None, None)
        rows = await self._fetchall(
            self._sql.SELECT_JOBS_FOR_GUILD_AFTER,
            {"guild_id": guild_id, "created_at": created_at, "id": job_id, "limit": limit},
        )
        return [row_to_job(row) for row in rows]

    async def unfinished_jobs_for_guild(self, guild_id: int | None) -> list[JobRecord]:
        """A guild's pending, queued and running jobs, oldest first (``/queue``)."""
        rows = await self._fetchall(
            self._sql.SELECT_GUILD_JOBS_IN_STATUSES, (guild_id, statuses_json(UNFINISHED_STATUSES))
        )
        return [row_to_job(row) for row in rows]

    async def prune_jobs(self, created_before: float, *, batch: int = 500) -> int:
        """Delete up to ``batch`` finished jobs created before ``created_before``; return how
        many went. Unfinished jobs are never touched. Quota usage rows are kept (detached
        from the job) so that spending already counted stays counted."""
        terminal = statuses_json(TERMINAL_STATUSES)

        async def prune() -> int:  # several processes may prune at once: run again if so
            rows = await self._fetchall(
                self._sql.SELECT_PRUNABLE_JOB_IDS, (created_before, terminal, batch)
            )
            if not rows:
                return 0
            ids = json.dumps([str(row[0]) for row in rows])
            await self._execute(self._sql.DETACH_USAGE_FROM_JOBS, (ids,))
            return await self._execute(self._sql.DELETE_JOBS_IN_STATUSES, (ids, terminal))

        return await self.run_transaction(prune)

    # ------------------------------------------------------------------ guild settings

    async def get_guild_settings(self, guild_id: int) -> GuildSettings:
        async with self.transaction(immediate=False):
            row = await self._fetchone(self._sql.SELECT_GUILD_SETTINGS, (guild_id,))
            channels = await self._fetchall(self._sql.SELECT_ALLOWED_CHANNELS, (guild_id,))
            words = await self._fetchall(self._sql.SELECT_BLOCKED_WORDS, (guild_id,))
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
        rows = await self._fetchall(self._sql.SELECT_BATCH_JOBS, (batch_id,))
        return [row_to_job(row) for row in rows]

    # ------------------------------------------------------------------ presets

    async def all_presets(self) -> dict[int, list[Preset]]:
        """Every server's presets (for the in-memory settings cache)."""
        found: dict[int, list[Preset]] = {}
        for row in await self._fetchall(self._sql.SELECT_ALL_PRESETS):
            found.setdefault(int(row["guild_id"]), []).append(row_to_preset(row))
        return found

    async def guild_presets(self, guild_id: int) -> list[Preset]:
        rows = await self._fetchall(self._sql.SELECT_GUILD_PRESETS, (guild_id,))
        return [row_to_preset(row) for row in rows]

    async def save_preset(self, guild_id: int, preset: Preset, *, actor_id: int,
                          limit: int) -> Preset | None:
        """Save (or replace, by name) a preset and audit it; return the one it replaced.
        Raises :class:`PresetLimitError` when the server has ``limit`` others already."""
        async with self.transaction(immediate=True):
            await self._lock_guild_settings(guild_id)  # counting and adding: one at a time
            row = await self._fetchone(self._sql.SELECT_PRESET, (guild_id, preset.name))
            old = None if row is None else row_to_preset(row)
            if old is None:
                count_row = await self._fetchone(self._sql.COUNT_GUILD_PRESETS, (guild_id,))
                if count_row is not None and int(count_row[0]) >= limit:
                    raise PresetLimitError(limit)
            await self._execute(self._sql.UPSERT_PRESET, {
                "guild_id": guild_id, "name": preset.name, "style": preset.style,
                "aspect_ratio": preset.aspect_ratio,
                "magic_prompt": None if preset.magic_prompt is None else int(preset.magic_prompt),
                "negative_prompt": preset.negative_prompt,
                "prompt_suffix": preset.prompt_suffix, "color_palette": preset.color_palette,
                "created_by": preset.created_by, "updated_at": preset.updated_at})
            await self._execute(self._sql.INSERT_SETTINGS_AUDIT, (
                guild_id, actor_id, "preset:replace" if old else "preset:save",
                json.dumps({"name": preset.name, **preset.options()}, ensure_ascii=False),
                time.time()))
            await self._changed(PRESETS_TOPIC, guild_id)
        return old

    async def delete_preset(self, guild_id: int, name: str, *, actor_id: int) -> Preset | None:
        """Delete a preset (by name, any case) and audit it; None if there was none."""
        async with self.transaction(immediate=True):
            row = await self._fetchone(self._sql.SELECT_PRESET, (guild_id, name))
            if row is None:
                return None
            old = row_to_preset(row)
            await self._execute(self._sql.DELETE_PRESET, (guild_id, old.name))
            await self._execute(self._sql.INSERT_SETTINGS_AUDIT, (
                guild_id, actor_id, "preset:delete", json.dumps({"name": old.name}),
                time.time()))
            await self._changed(PRESETS_TOPIC, guild_id)
        return old

    async def all_guild_settings(self) -> dict[int, GuildSettings]:
        """Every guild that has changed a setting (for the in-memory settings cache)."""
        async with self.transaction(immediate=False):
            rows = await self._fetchall(self._sql.SELECT_ALL_GUILD_SETTINGS)
            channels = await self._fetchall(self._sql.SELECT_ALL_ALLOWED_CHANNELS)
            words = await self._fetchall(self._sql.SELECT_ALL_BLOCKED_WORDS)
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
            await self._lock_guild_settings(guild_id)
            current = dataclasses.replace(await self.get_guild_settings(guild_id), **fields)
            await self._execute(
                self._sql.UPSERT_GUILD_SETTINGS,
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
            await self._changed(GUILD_SETTINGS_TOPIC, guild_id)
            return await self.get_guild_settings(guild_id)

    async def add_allowed_channel(self, guild_id: int, channel_id: int) -> bool:
        """True if the channel was added, False if it was already allowed."""
        async with self.transaction(immediate=True):
            added = await self._execute(self._sql.INSERT_ALLOWED_CHANNEL, (guild_id, channel_id))
            await self._changed(GUILD_SETTINGS_TOPIC, guild_id)
        return added == 1

    async def remove_allowed_channel(self, guild_id: int, channel_id: int) -> bool:
        """True if the channel was removed, False if it was not in the list."""
        async with self.transaction(immediate=True):
            removed = await self._execute(self._sql.DELETE_ALLOWED_CHANNEL,
                                          (guild_id, channel_id))
            await self._changed(GUILD_SETTINGS_TOPIC, guild_id)
        return removed == 1

    async def add_blocked_words(self, guild_id: int, phrases: Iterable[str]) -> tuple[str, ...]:
        """Add phrases (stored lowercased, whitespace collapsed); return those newly added."""
        added: list[str] = []
        async with self.transaction(immediate=True):
            for phrase in dict.fromkeys(_normalize_phrase(p) for p in phrases):
                if phrase and await self._execute(self._sql.INSERT_BLOCKED_WORD,
                                                  (guild_id, phrase)):
                    added.append(phrase)
            await self._changed(GUILD_SETTINGS_TOPIC, guild_id)
        return tuple(added)

    async def remove_blocked_words(self, guild_id: int, phrases: Iterable[str]) -> tuple[str, ...]:
        """Remove phrases (matched after the same normalization); return those removed."""
        removed: list[str] = []
        async with self.transaction(immediate=True):
            for phrase in dict.fromkeys(_normalize_phrase(p) for p in phrases):
                if phrase and await self._execute(self._sql.DELETE_BLOCKED_WORD,
                                                  (guild_id, phrase)):
                    removed.append(phrase)
            await self._changed(GUILD_SETTINGS_TOPIC, guild_id)
        return tuple(removed)

    # ------------------------------------------------------------------ quota
    # The quota service decides; these read and write its tables. Call them inside
    # ``transaction()`` / ``run_transaction()`` where several must agree.

    async def lock_quota_guilds(self, keys: Iterable[tuple[int, str]]) -> None:
        """Hold the (guild, month) usage rows until the transaction ends, so that the
        decisions of other processes about these guilds wait for this one. SQLite's
        ``BEGIN IMMEDIATE`` already holds the whole file: nothing to do."""
        return None

    async def quota_snapshot_row(self, params: Mapping[str, Any]) -> Row:
        """Limits and use of a member and guild (:data:`sql.SELECT_QUOTA_SNAPSHOT`)."""
        row = await self._fetchone(self._sql.SELECT_QUOTA_SNAPSHOT, params)
        assert row is not None  # the statement always returns one row
        return row

    async def insert_reservation(self, params: Mapping[str, Any]) -> None:
        await self._execute(self._sql.INSERT_RESERVATION, params)

    async def quota_snapshot_rows(self, keys: Sequence[tuple[int, int]], day: str,
                                  month: str) -> dict[tuple[int, int], Row]:
        """:meth:`quota_snapshot_row` for each (guild, member) of ``keys``."""
        return {(guild_id, user_id): await self.quota_snapshot_row(
                    {"guild_id": guild_id, "user_id": user_id, "day": day, "month": month})
                for guild_id, user_id in keys}

    async def insert_reservations(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Several :data:`INSERT_RESERVATION` rows in one statement."""
        if rows:
            await self._executemany(self._sql.INSERT_RESERVATION, list(rows))

    async def settle_reservation(self, job_key: str, state: str, cost_actual: float | None,
                                 now: float) -> bool:
        """Commit or release a reservation still ``reserved``; False if there was none."""
        changed = await self._execute(self._sql.SETTLE_RESERVATION, {
            "job_key": job_key, "state": state, "cost_actual": cost_actual, "now": now})
        return changed == 1

    async def set_job_costs_if_missing(self, costs: Sequence[tuple[float, str]]) -> None:
        """(cost, job id) pairs: a job the provider reported no cost for gets this one."""
        if costs:
            await self._executemany(self._sql.SET_JOB_COST_IF_MISSING, list(costs))

    async def reconcile_commit_completed(self, now: float) -> list[Row]:
        """Commit the reservations of completed jobs; rows (job_key, cost_actual)."""
        return await self._fetchall(self._sql.RECONCILE_COMMIT_COMPLETED, {"now": now})

    async def reconcile_release_orphans(self, now: float, older_than: float) -> int:
        return await self._execute(self._sql.RECONCILE_RELEASE_ORPHANS,
                                   {"now": now, "older_than": older_than})

    async def guild_limit(self, guild_id: int, name: str) -> float | None:
        row = await self._fetchone(self._sql.SELECT_GUILD_LIMIT, (guild_id, name))
        return None if row is None else float(row[0])

    async def set_guild_limit(self, guild_id: int, name: str, value: float) -> None:
        await self._execute(self._sql.UPSERT_GUILD_LIMIT, (guild_id, name, value))

    async def delete_guild_limit(self, guild_id: int, name: str) -> None:
        await self._execute(self._sql.DELETE_GUILD_LIMIT, (guild_id, name))

    async def member_override(self, guild_id: int, user_id: int) -> int | None:
        row = await self._fetchone(self._sql.SELECT_MEMBER_OVERRIDE, (guild_id, user_id))
        return None if row is None else int(row[0])

    async def set_member_override(self, guild_id: int, user_id: int, daily: int) -> None:
        await self._execute(self._sql.UPSERT_MEMBER_OVERRIDE, (guild_id, user_id, daily))

    async def forgive_day_usage(self, guild_id: int, day: str, user_id: int | None) -> int:
        """Forgive a day's use (of one member, or everyone); return the images forgiven."""
        rows = await self._fetchall(self._sql.FORGIVE_DAY_USAGE,
                                    {"guild_id": guild_id, "day": day, "user_id": user_id})
        return sum(int(r[0]) for r in rows)

    async def insert_quota_audit(self, values: Sequence[Any]) -> None:
        """(guild_id, actor_id, action, user_id, old_value, new_value, created_at)"""
        await self._execute(self._sql.INSERT_QUOTA_AUDIT, tuple(values))

    async def recent_quota_audit(self, guild_id: int, limit: int) -> list[Row]:
        return await self._fetchall(self._sql.SELECT_RECENT_QUOTA_AUDIT, (guild_id, limit))
