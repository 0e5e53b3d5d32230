"""Adoption: taking over unfinished jobs found in the store, and reconciling.

At start the tracker adopts every unfinished job this process owns; a periodic
reconciliation adopts any that an error left untracked, and re-announces finished jobs
whose delivery never happened; with several processes (job leases, :mod:`bot.leases`) a
job whose owner stopped is taken over. What adoption does with each state:

- ``pending``, never sent: sent now, if Discord saw its command answered (its reply id
  was written, or the reply exists); else dropped, its reservation given back, nothing
  shown; when Discord cannot say now, left for the next reconciliation.
- ``pending`` that may have been sent (``submitting_at`` written): failed, never resent.
- ``queued``/``running``: polled again at once; without a request id, failed.
- a synchronous provider's job: :meth:`~bot.tracker.sync_calls.SyncCalls.adopt`.
- a provider no longer configured: failed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot import job_errors
from bot.jobs import JobRecord, JobStatus
from bot.providers.base import SyncProvider
from bot.tracker.events import JobEvent, ReplyConfirmer

if TYPE_CHECKING:
    from bot.tracker.core import JobTracker

log = logging.getLogger(__name__)

#: How long an unfinished job may go untracked before the reconciliation adopts it.
ADOPT_AFTER_SECONDS = 60.0


class Adoption:
    """The resuming half of :class:`~bot.tracker.core.JobTracker`."""

    def __init__(self, tracker: JobTracker) -> None:
        self._tracker = tracker
        self._confirm: ReplyConfirmer | None = None

    def set_reply_confirmer(self, confirm: ReplyConfirmer) -> None:
        """Use ``confirm`` to ask Discord whether an unrecorded reply exists."""
        self._confirm = confirm

    async def adopt_all(self, jobs: list[JobRecord]) -> None:
        """Adopt the unfinished jobs found at a start, a few at a time.

        ``adopt_concurrency`` (the tracker's config) at once, in order of their start; the
        first error is raised once all are done.
        """
        slots = asyncio.Semaphore(self._tracker.config.adopt_concurrency)

        async def adopt_one(job: JobRecord) -> None:
            async with slots:
                await self.adopt(job)

        outcomes = await asyncio.gather(*(adopt_one(job) for job in jobs),
                                        return_exceptions=True)
        errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if errors:
            raise errors[0]

    async def adopt(self, job: JobRecord, *, resumed: bool = True) -> None:
        """Take over an unfinished job found in the store (at start, or reconciling)."""
        tracker = self._tracker
        provider = tracker.provider(job.provider)
        if provider is None:
            await tracker.finish(job, JobStatus.FAILED, resumed=resumed,
                                 error=job_errors.PROVIDER_GONE)
            return
        if job.status is JobStatus.PENDING:
            await self._adopt_pending(job, resumed=resumed)
            return
        if isinstance(provider, SyncProvider):
            await tracker.sync.adopt(job, provider, resumed=resumed)
            return
        if job.request_id is None:
            await tracker.finish(job, JobStatus.FAILED, resumed=resumed,
                                 error=job_errors.INTERRUPTED)
            return
        now = tracker.now()
        tracker.poller.track(job.id, job.status, now)  # at once: much may have happened
        await tracker.emit(JobEvent(job=job, resumed=resumed, eta=tracker.eta(job, now)))

    async def _adopt_pending(self, job: JobRecord, *, resumed: bool) -> None:
        tracker = self._tracker
        if job.maybe_sent:  # the request may have reached the provider: never again
            await tracker.finish(job, JobStatus.FAILED, resumed=resumed,
                                 error=job_errors.INTERRUPTED)
            return
        if job.message_id is None and self._confirm is not None:
            try:
                message_id = await self._confirm(job)
            except Exception as exc:
                # Answered or not, Discord cannot say now: neither sent nor dropped; the
                # next reconciliation asks again.
                log.warning("Checking the reply of job %s failed (%s); asking again at the "
                            "next reconciliation", job.short_id, type(exc).__name__)
                return
            if message_id is None:
                log.info("Job %s was written but its command never answered: dropped",
                         job.short_id)
                await tracker.abandon(job, job_errors.NOT_ACKNOWLEDGED)
                return
            job = job.evolve(message_id=message_id)
        log.info("Job %s was never sent: sending it now", job.short_id)
        tracker.accept(job)

    async def reconcile(self) -> int:
        """Adopt unfinished jobs nothing tracks, and announce finished ones never delivered.

        Returns how many jobs it picked up.
        """
        tracker = self._tracker
        now = tracker.now()
        picked = 0
        for listed in await tracker.store.owned_unfinished_jobs():
            if tracker.tracks(listed.id) or now - listed.updated_at < ADOPT_AFTER_SECONDS:
                continue
            # Read it again: it may have ended (or been picked up) since the list was read,
            # and adopting the old record would show a finished job as queued again.
            job = await tracker.store.get_job(listed.id)
            if (job is None or job.status.terminal or tracker.tracks(job.id)
                    or now - job.updated_at < ADOPT_AFTER_SECONDS):
                continue
            log.warning("Job %s (%s) was not tracked: taking it over", job.short_id, job.status)
            picked += 1
            await self.adopt(job, resumed=False)
        for job in await tracker.store.owned_undelivered_jobs():
            if job.finished_at is not None and now - job.finished_at >= ADOPT_AFTER_SECONDS:
                picked += 1
                await tracker.emit(JobEvent(job=job, resumed=True))
        return picked

    async def reconcile_forever(self) -> None:
        """Reconcile every ``reconcile_interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self._tracker.config.reconcile_interval)
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Job reconciliation failed; trying again later")

    async def take_over(self, job: JobRecord) -> None:
        """Resume an unfinished job this process now owns, or announce a finished one."""
        tracker = self._tracker
        if tracker.tracks(job.id):
            return
        if job.status.terminal:
            if job.delivered_at is None:
                await tracker.emit(JobEvent(job=job, resumed=True))
            return
        log.info("Taking over job %s (%s)", job.short_id, job.status)
        await self.adopt(job)
