"""Job leases: which bot process follows each unfinished job.

With several bot processes on one PostgreSQL database, each unfinished job is followed by
exactly one of them.

A process leases the jobs it launches (the job row and its lease are written together),
and at start claims the unfinished jobs of its own shards that nobody holds. The
:class:`LeaseKeeper` then, every third of the lease time:

* renews this process's leases (a live process never loses its jobs), and tells the
  tracker to let go of any it no longer holds (it stalled past the lease, and another
  process took the job over: that one follows it now);
* claims jobs whose lease ran out (their process died): those of its own shards at once,
  any other shard's a little later (when no process of that shard took them), and hands
  them to the tracker, which resumes them and delivers through the channel or the stored
  interaction token, as after a restart.

Claims skip locked rows (``FOR UPDATE SKIP LOCKED``), so two processes never claim the
same job. Letting go stops polls; a job not yet sent may still be in the old owner's hands,
but only one process can start sending it (:meth:`bot.store.Store.mark_submitting`). On
SQLite there is one process: no keeper runs, and the tracker owns every job.
Nothing here imports Discord.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from bot.periodic import PeriodicTask
from bot.store import LeaseConfig, Store

if TYPE_CHECKING:
    from bot.jobs import JobRecord
    from bot.tracker import JobTracker

log = logging.getLogger(__name__)
T = TypeVar("T")


def lease_owner(shard_ids: tuple[int, ...] | None, shard_count: int | None) -> str:
    """Return the name this process leases jobs under.

    The name this process leases jobs under: its host and shards, so that a restart
    of the same process takes its own jobs back at once (two processes for the same
    shards on one host would be one owner: run each shard set once).
    """
    shards = ("all" if shard_ids is None
              else f"{','.join(map(str, shard_ids))}-of-{shard_count}")
    return f"{socket.gethostname()}/shards-{shards}"


def lease_config(shard_ids: tuple[int, ...] | None, shard_count: int | None,
                 lease_seconds: float) -> LeaseConfig:
    """Return the lease configuration of a process that runs ``shard_ids`` of ``shard_count``."""
    every_shard = shard_ids is None or shard_count is None
    return LeaseConfig(owner=lease_owner(shard_ids, shard_count),
                       shard_ids=None if every_shard else shard_ids,
                       shard_count=1 if every_shard else int(shard_count or 1),
                       lease_seconds=lease_seconds)


class LeaseKeeper(PeriodicTask):
    """Renews this process's job leases and takes over jobs whose process died."""

    def __init__(self, store: Store, tracker: JobTracker, *,
                 interval: float | None = None) -> None:
        config = getattr(store, "lease_config", None)
        seconds = config.lease_seconds if isinstance(config, LeaseConfig) else 20.0
        super().__init__("job-leases", self.run_once,
                         interval=interval if interval is not None else seconds / 3)
        self._store = store
        self._tracker = tracker

    async def run_once(self) -> int:
        """One round: renew, let go of lost jobs, claim and hand over free ones.

        Returns how many jobs were taken over.
        """
        held = await self._store.renew_leases()
        if held is None:  # one process owns everything (SQLite)
            return 0
        lost = {job_id for job_id in self._tracker.polled_ids() if job_id not in held}
        if lost:
            self._tracker.let_go(lost)
        claimed = [*await self._store.claim_unfinished_jobs(),
                   *await self._store.claim_undelivered_jobs()]
        if claimed:
            log.info("Taking over %d job(s) whose process stopped", len(claimed))
            # In a task of its own: taking over may ask Discord about each job's reply,
            # and the next renewal must not wait for that.
            self._tracker.spawn(self._take_over(claimed), "take-over")
        return len(claimed)

    async def _take_over(self, jobs: list[JobRecord]) -> None:
        for job in jobs:
            await self._tracker.take_over(job)

    async def renewing_while(self, work: Awaitable[T]) -> T:
        """Await ``work``, renewing this process's leases every round meanwhile.

        For the tracker's start, which may ask Discord about many jobs' replies.
        """
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _pending = await asyncio.wait({task}, timeout=self._interval)
                if done:
                    return task.result()
                try:
                    await self._store.renew_leases()
                except Exception:
                    log.exception("Renewing job leases failed")
        finally:
            if not task.done():
                task.cancel()
