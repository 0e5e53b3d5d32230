"""Bringing a database's schema up to date, the same way on both engines.

Each engine opens its connection, starts one transaction and hands over to
:meth:`SchemaMigrator._apply_migrations`, which runs the missing migrations in order and
checks that each recorded its version. The transaction makes it all or nothing: a failing
migration leaves the database at the version it had.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from typing import ClassVar

from bot.store.migrations import Migration, check_migrations
from bot.store.records import StoreError

log = logging.getLogger(__name__)


def migration_target(migrations: Sequence[Migration], target_version: int | None) -> int:
    """Check ``migrations``; return the version to migrate to (the latest by default).

    Raises:
        ValueError: the versions do not run 1, 2, … without gaps.
        StoreError: ``target_version`` is not one of them (or 0).
    """
    check_migrations(migrations)
    latest = len(migrations)
    target = latest if target_version is None else target_version
    if not 0 <= target <= latest:
        raise StoreError(f"target_version {target} is outside 0..{latest}")
    return target


class SchemaMigrator(abc.ABC):
    """The migration runner both engines share; each supplies how to run one migration."""

    #: Where the engine records the schema version (for messages).
    version_record: ClassVar[str]
    #: What a failing statement of a migration raises on this engine.
    statement_errors: ClassVar[tuple[type[Exception], ...]]
    #: The schema version the store works with once open.
    schema_version: int

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the data lives, for logs (never a password)."""

    @abc.abstractmethod
    async def user_version(self) -> int:
        """The schema version recorded in the database."""

    @abc.abstractmethod
    async def _set_up(self, migrations: Sequence[Migration], target: int) -> None:
        """Make a store just connected ready.

        Its connection's settings, then one transaction that calls :meth:`_apply_migrations`.
        """

    @abc.abstractmethod
    async def _apply_migration(self, migration: Migration) -> None:
        """Run one migration's statements, inside the opening transaction."""

    async def _apply_migrations(self, migrations: Sequence[Migration], target: int) -> None:
        """Apply the migrations after the recorded version, up to ``target``.

        Call inside one transaction. Sets :attr:`schema_version`.

        Raises:
            StoreError: the database is newer than ``migrations``, or a migration failed or
                did not record its version.
        """
        known = len(migrations)
        start = await self.user_version()
        if start > known:
            raise StoreError(
                f"{self.describe()} has schema version {start}, but this version of the bot "
                f"knows only up to {known}: it was written by a newer release. Upgrade the "
                "bot, or point DATABASE_URL at another database.")
        for migration in migrations[start:target]:
            log.info("%s: applying migration %d (%s)", self.describe(), migration.version,
                     migration.name)
            try:
                await self._apply_migration(migration)
            except self.statement_errors as exc:
                raise StoreError(
                    f"migration {migration.version} ({migration.name}) failed: {exc}; "
                    f"the database is left at version {start}") from exc
            reached = await self.user_version()
            if reached != migration.version:
                raise StoreError(f"migration {migration.version} ({migration.name}) left "
                                 f"{self.version_record} at {reached}")
        self.schema_version = max(start, target)
