"""Background tasks an object owns: kept while they run, waited for or cancelled together.

asyncio keeps only a weak reference to a task, so whoever starts one in the background
keeps it (here, until it ends) and cancels it on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancel the tasks (None is skipped), then wait for each to end.

    What they raise on the way out is dropped.
    """
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def _log_failure(task: asyncio.Task[Any]) -> None:
    """Log what a background task ended with, if it failed (nobody else awaits it)."""
    if task.cancelled():
        return
    failure = task.exception()
    if failure is not None:
        log.error("Background task %s failed", task.get_name(), exc_info=failure)


class OwnedTasks:
    """The background tasks of one owner (the tracker, delivery, the moderation log)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run ``coro`` as a task kept here until it ends."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)
        return task

    def take(self) -> list[asyncio.Task[Any]]:
        """The running tasks, forgotten here (the caller cancels or awaits them)."""
        tasks = list(self._tasks)
        self._tasks.clear()
        return tasks

    async def wait_idle(self) -> None:
        """Wait until no task is running, those the running ones start included."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel_all(self) -> None:
        """Cancel every task and wait for each to end."""
        await cancel_and_wait(self.take())

    async def close(self, grace: float) -> None:
        """Let the tasks finish for up to ``grace`` seconds, then cancel the rest."""
        tasks = self.take()
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=grace)
        await cancel_and_wait(pending)
