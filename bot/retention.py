"""Retention: finished jobs older than ``RETENTION_DAYS`` leave the database, once a day.

The bot owns one :class:`RetentionTask` (started in ``setup_hook``, stopped on close). The
first run comes shortly after start, then one a day. Pruning deletes in small batches,
each its own short transaction, so the store is never held for long; unfinished jobs are
never pruned, whatever their age. Nothing here imports Discord.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final

from bot.periodic import PeriodicTask
from bot.store import Store

log = logging.getLogger(__name__)

DAY: Final = 86_400.0
FIRST_RUN_DELAY: Final = 60.0
BATCH: Final = 500


async def prune_old_jobs(store: Store, days: int, *, now: float | None = None,
                         batch: int = BATCH) -> int:
    """Delete finished jobs created more than ``days`` days ago; return how many went."""
    if days < 1:
        raise ValueError("retention must be at least one day")
    cutoff = (time.time() if now is None else now) - days * DAY
    total = 0
    while True:
        removed = await store.prune_jobs(cutoff, batch=batch)
        total += removed
        if removed < batch:
            return total
        await asyncio.sleep(0)  # let other store users in between batches


class RetentionTask(PeriodicTask):
    """Runs :func:`prune_old_jobs` after ``first_delay`` seconds, then every ``interval``."""

    def __init__(self, store: Store, days: int, *, first_delay: float = FIRST_RUN_DELAY,
                 interval: float = DAY, clock: Callable[[], float] = time.time) -> None:
        if days < 1:
            raise ValueError("retention must be at least one day")
        super().__init__("job-retention", self.run_once, interval=interval,
                         first_delay=first_delay)
        self._store = store
        self.days = days
        self._clock = clock
        self.last_run: float | None = None
        self.last_pruned: int = 0

    async def run_once(self) -> int:
        """Delete the finished jobs past the retention period; return how many."""
        removed = await prune_old_jobs(self._store, self.days, now=self._clock())
        self.last_run = self._clock()
        self.last_pruned = removed
        if removed:
            log.info("Retention: deleted %d finished jobs older than %d days", removed,
                     self.days)
        return removed
