"""The store interface: what the rest of the bot reads and writes, whatever the engine.

:class:`Store` is the one type the bot is written against. ``await Store.open(url)`` picks
the engine from ``DATABASE_URL``: ``sqlite:///…`` (one process, one file:
:class:`bot.store.store.SqliteStore`) or ``postgresql://…`` (several processes sharing a
server: :class:`bot.store.postgres.PostgresStore`). Every public method here runs the same
statements on either engine: each engine names its SQL in one namespace (``bot.store.sql``
for SQLite, ``bot.store.postgres.sql`` for PostgreSQL) under the same constant names, with
the same parameters, and supplies the few primitives of :class:`bot.store.engine.StoreEngine`
(a transaction, run a statement, fetch rows). A new query goes into the mixin of its area,
with its SQL under the same name in each engine's ``sql`` package (written once, in
``bot.store.sql``, when its text is the same in both dialects). Opening migrates the schema
the same way on both (:mod:`bot.store.migrator`).

Several processes (PostgreSQL only) add two things, which do nothing on SQLite:

* job leases: :meth:`Store.claim_unfinished_jobs` and friends hand each unfinished job to
  one process at a time (see :mod:`bot.leases`);
* change notices: :meth:`Store.subscribe` tells a process when another one changed a
  cached thing (server settings), so its cache follows within moments.
"""


from __future__ import annotations

import abc
import logging
import os
from collections.abc import Sequence
from types import TracebackType
from typing import Any, ClassVar, Self, cast

from bot.jobs import JobRecord
from bot.store.engine import CONFLICT_ATTEMPTS, StoreEngine
from bot.store.job_queries import JobQueries
from bot.store.migrations import Migration
from bot.store.migrator import SchemaMigrator, migration_target
from bot.store.preset_queries import PresetQueries
from bot.store.quota_queries import QuotaQueries
from bot.store.records import (
    GUILD_SETTINGS_TOPIC,
    JOB_ENDED_TOPIC,
    JOB_FIELDS,
    PRESETS_TOPIC,
    TERMINAL_STATUSES,
    ChangeCallback,
    GuildSettings,
    JobNotFoundError,
    LeaseConfig,
    PresetLimitError,
    Row,
    StoreBusyError,
    StoreConflictError,
    StoreError,
    is_postgres_url,
    job_to_params,
    row_to_job,
    row_to_preset,
    statuses_json,
)
from bot.store.settings_queries import SettingsQueries

log = logging.getLogger(__name__)

# The records and the engine's primitives are used through this module too.
__all__ = [
    "CONFLICT_ATTEMPTS",
    "GUILD_SETTINGS_TOPIC",
    "JOB_ENDED_TOPIC",
    "JOB_FIELDS",
    "PRESETS_TOPIC",
    "TERMINAL_STATUSES",
    "ChangeCallback",
    "GuildSettings",
    "JobNotFoundError",
    "LeaseConfig",
    "PresetLimitError",
    "Row",
    "Store",
    "StoreBusyError",
    "StoreConflictError",
    "StoreEngine",
    "StoreError",
    "is_postgres_url",
    "job_to_params",
    "row_to_job",
    "row_to_preset",
    "statuses_json",
]


class Store(JobQueries, SettingsQueries, PresetQueries, QuotaQueries, SchemaMigrator):
    """Jobs, server settings and quotas. Create one with ``await Store.open(url)``.

    The queries come by area from the mixins (:mod:`bot.store.job_queries`,
    :mod:`bot.store.settings_queries`, :mod:`bot.store.preset_queries`,
    :mod:`bot.store.quota_queries`); the primitives they run on from
    :class:`bot.store.engine.StoreEngine`, which each engine implements; opening's
    migrations from :class:`bot.store.migrator.SchemaMigrator`.
    """

    # ------------------------------------------------------------------ opening

    #: This engine's migrations, oldest first (:mod:`bot.store.migrations`).
    MIGRATIONS: ClassVar[Sequence[Migration]]

    @classmethod
    async def open(cls, database: str | os.PathLike[str], *, target_version: int | None = None,
                   migrations: Sequence[Migration] | None = None, **options: Any) -> Self:
        """Open (creating if needed) and migrate a database; return a ready store.

        ``database`` is a ``DATABASE_URL`` or a path to an SQLite file. Called on
        :class:`Store`, it picks the engine from ``database``; on an engine's class, that
        engine. ``target_version`` stops migrating at that version and ``migrations``
        replaces the engine's :attr:`MIGRATIONS`: both exist for tests and tools, the bot
        passes neither (job and settings methods assume the latest schema). ``options`` are
        the engine's own (its :meth:`_connect`).
        """
        engine = _engine_for(database) if cls is Store else cls
        steps = engine.MIGRATIONS if migrations is None else migrations
        target = migration_target(steps, target_version)
        store = await engine._connect(database, **options)
        await store._ready(steps, target)
        return cast(Self, store)

    @classmethod
    @abc.abstractmethod
    async def _connect(cls, *args: Any, **options: Any) -> Store:
        """Connect to the database named by the first argument, with the engine's options.

        The schema is not touched yet: :meth:`open` migrates it next.
        """

    async def _ready(self, migrations: Sequence[Migration], target: int) -> None:
        """Set up and migrate a store just connected; close it again if that fails."""
        try:
            await self._set_up(migrations, target)
        except BaseException as exc:
            await self.close()
            if isinstance(exc, self.statement_errors) and not isinstance(exc, StoreError):
                # Locked by another program, damaged, or not a database at all: one line.
                text = str(exc).lower()
                busy = "locked" in text or "busy" in text
                raise (StoreBusyError if busy else StoreError)(
                    f"{self.describe()}: {exc}") from exc
            raise
        log.info("opened database (%s, schema version %d)", self.describe(),
                 self.schema_version)

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish what is in progress, then close. Safe to call twice."""

    @property
    @abc.abstractmethod
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""

    @abc.abstractmethod
    async def probe_write(self) -> None:
        """Prove the database takes a committed write.

        For the health check; raises when it cannot.
        """

    async def checkpoint(self) -> bool:
        """Fold what the engine keeps aside into the database, before a clean stop.

        SQLite folds its WAL; False if that could not complete. PostgreSQL has nothing to do.
        """
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

    # ------------------------------------------------------------------ processes

    @property
    def leases_enabled(self) -> bool:
        """Whether jobs are owned through leases (several processes share the database)."""
        return False

    def configure_leases(self, config: LeaseConfig) -> None:
        """Which jobs this process owns (PostgreSQL); SQLite has one process: all of them."""
        return None

    async def take_unfinished_jobs(self) -> list[JobRecord]:
        """At start, claim the unfinished jobs nobody holds; return all this process owns.

        On SQLite (one process) that is every unfinished job.
        """
        await self.claim_unfinished_jobs()
        return await self.owned_unfinished_jobs()

    async def take_undelivered_jobs(self) -> list[JobRecord]:
        """At start: the same for finished jobs whose outcome was never delivered."""
        await self.claim_undelivered_jobs()
        return await self.owned_undelivered_jobs()

    async def claim_unfinished_jobs(self) -> list[JobRecord]:
        """Take the unfinished jobs nobody holds; return those newly owned.

        Nobody holds a job whose process died. SQLite, one process, owns every job from the
        start: nothing is ever new.
        """
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
        """Extend this process's leases; return the ids of the jobs it still owns.

        None when there are no leases: one process owns everything.
        """
        return None

    async def subscribe(self, topic: str, callback: ChangeCallback) -> None:
        """Call ``callback(key)`` when another process changed something under ``topic``.

        PostgreSQL listens (``LISTEN``); SQLite has no other process, so nothing ever comes.
        """
        return None


def _engine_for(database: str | os.PathLike[str]) -> type[Store]:
    """The engine ``database`` names: PostgreSQL for a ``postgresql://`` URL, else SQLite."""
    if is_postgres_url(database):
        from bot.store.postgres import PostgresStore

        return PostgresStore
    from bot.store.store import SqliteStore

    return SqliteStore
