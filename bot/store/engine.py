"""What each engine supplies to the store's queries.

A transaction, running a statement, fetching rows, and the hooks several processes need.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import ModuleType
from typing import Any, ClassVar, TypeVar

from bot.store.records import Row, StoreConflictError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Tries of a transaction the engine aborted to break a deadlock between processes.
CONFLICT_ATTEMPTS = 6


class StoreEngine(abc.ABC):
    """The primitives every query of the store is written with.

    Each engine implements the abstract ones.
    """

    #: ``"sqlite"`` or ``"postgresql"``.
    engine: ClassVar[str]
    #: The engine's SQL: a module of named statements (the same names in every engine).
    _sql: ModuleType
    schema_version: int

    @abc.abstractmethod
    def transaction(
        self, *, immediate: bool = True, urgent: bool = False
    ) -> AbstractAsyncContextManager[Any]:
        """Run the body in one transaction: commit on success, roll back on any exception.

        Store methods called inside the body (by the same task) join it; a nested ``transaction()``
        is a savepoint. ``immediate``: the body writes (SQLite takes the write lock at once).
        ``urgent``: the body answers an interaction, so it never queues behind the tracker's work.
        Yields the engine's connection.
        """

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
        """Run ``body()`` in one transaction, again when a deadlock aborted it.

        The engine may abort it to break a deadlock with another process; it then runs again,
        a few times. The body must do nothing but store work, so that running it again is
        harmless.
        """
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

    async def _lock_guild_settings(self, guild_id: int) -> None:
        """Hold a guild's settings row until the transaction ends.

        A read-change-write of it must not interleave with another. SQLite's write
        transaction holds the whole file, so there it does nothing.
        """
        return None

    async def _changed(self, topic: str, key: object) -> None:
        """Tell the other processes that something under ``topic`` changed.

        Called inside the current transaction, so that they hear of it when it commits.
        """
        return None
