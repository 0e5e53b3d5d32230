"""Jobs on a synchronous provider: one long call makes the image.

Such a job is not polled: the tracker runs the call in a task it owns. The job is
``queued`` until one of that provider's call slots is free, ``running`` (persisted *before*
the call is sent) while the call is in flight, then ends like any other job, with the same
time limits and events. A restart loses the call: a job found ``running`` then ends failed,
never resent (a resend is a second charge); one still ``queued`` was never sent, and runs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from bot import job_errors
from bot.jobs import JobRecord, JobStatus
from bot.log_context import bind_job
from bot.providers.base import SyncProvider
from bot.providers.errors import ProviderError
from bot.providers.types import CancelOutcome, RemoteState
from bot.tracker.events import JobEvent
from bot.tracker.job_ids import TrackedJobs

if TYPE_CHECKING:
    from bot.tracker.core import JobTracker

log = logging.getLogger(__name__)


class SyncCalls(TrackedJobs):
    """The synchronous-provider half of :class:`~bot.tracker.core.JobTracker`."""

    def __init__(self, tracker: JobTracker) -> None:
        super().__init__()  # the ids of the jobs whose call task exists
        self._tracker = tracker
        self._limits: dict[str, asyncio.Semaphore] = {}  # provider key → its call slots

    async def enqueue(self, job: JobRecord, provider: SyncProvider,
                      **fields: Any) -> JobRecord:
        """A new job: ``queued`` now, its call as soon as a slot is free."""
        tracker = self._tracker
        now = tracker.now()
        queued = await tracker.durable(lambda: tracker.store.transition_job(
            job.id, [JobStatus.PENDING], status=JobStatus.QUEUED, submitted_at=now, **fields))
        if queued is None:
            return await tracker.store.get_job(job.id) or job
        await tracker.emit(JobEvent(job=queued, eta=tracker.eta(queued, now)))
        self._start(queued, provider)
        return queued

    async def adopt(self, job: JobRecord, provider: SyncProvider, *, resumed: bool) -> None:
        """Take over a job found in the store.

        A job found in the store: a running call is lost (never resent); a queued one
        was never sent, and runs.
        """
        tracker = self._tracker
        if job.status is JobStatus.RUNNING:
            await tracker.finish(job, JobStatus.FAILED, resumed=resumed,
                                 error=job_errors.SYNC_INTERRUPTED)
            return
        await tracker.emit(JobEvent(job=job, resumed=resumed, eta=tracker.eta(job, tracker.now())))
        self._start(job, provider)

    def _start(self, job: JobRecord, provider: SyncProvider) -> None:
        self._job_ids.add(job.id)
        task = self._tracker.spawn(self._run(job, provider), f"sync-{job.short_id}")
        job_id = job.id
        task.add_done_callback(lambda _task: self._job_ids.discard(job_id))

    async def cancel(self, job: JobRecord) -> CancelOutcome:
        """Only while waiting for a slot: once running, the call is out of our hands."""
        if job.status is not JobStatus.QUEUED:
            return CancelOutcome.NOT_CANCELLABLE
        # The owned task finds the job no longer queued when it gets a slot, and stops.
        ended = await self._tracker.end_cancelled(job, (JobStatus.QUEUED,))
        return CancelOutcome.NOT_CANCELLABLE if ended is None else CancelOutcome.CANCELLED

    async def _run(self, job: JobRecord, provider: SyncProvider) -> None:
        """Wait for a slot of this provider (the job stays queued), then make the call."""
        bind_job(job.id, job.guild_id)  # this task's log lines name the job
        tracker = self._tracker
        config = tracker.config
        slots = self._limits.get(job.provider)
        if slots is None:
            slots = self._limits[job.provider] = asyncio.Semaphore(config.concurrency)
        waited = tracker.now() - (job.submitted_at or tracker.now())
        try:
            async with asyncio.timeout(max(0.0, config.queue_timeout - waited)):
                await slots.acquire()
        except TimeoutError:
            await tracker.finish(job, JobStatus.FAILED, error=job_errors.TIMED_OUT_QUEUED)
            return
        try:
            await self._call(job.id, provider)
        finally:
            slots.release()

    async def _call(self, job_id: str, provider: SyncProvider) -> None:
        tracker = self._tracker
        started = tracker.now()
        running = await tracker.durable(lambda: tracker.store.transition_job(
            job_id, [JobStatus.QUEUED], status=JobStatus.RUNNING, started_at=started,
            queue_position=None))
        if running is None:  # cancelled while it waited: here, or by another process
            tracker.found_ended(job_id)
            return
        await tracker.emit(JobEvent(job=running, eta=tracker.eta(running, started)))
        try:
            async with asyncio.timeout(tracker.config.run_timeout):
                result = await provider.generate(running.model, running.inputs)
        except TimeoutError:
            await tracker.finish(running, JobStatus.FAILED, error=job_errors.TIMED_OUT_RUNNING)
            return
        except ProviderError as exc:
            log.info("Job %s failed at the provider: %s", running.short_id, type(exc).__name__)
            await tracker.finish(running, JobStatus.FAILED, error=job_errors.from_provider(exc))
            return
        except Exception:
            log.exception("The provider call of job %s failed unexpectedly", running.short_id)
            await tracker.finish(running, JobStatus.FAILED, error=job_errors.SYNC_UNEXPECTED)
            return
        now = tracker.now()
        if result.state is RemoteState.COMPLETED and result.image_urls:
            if running.submitted_at is not None:
                tracker.history.record(running.model, started - running.submitted_at,
                                       now - started)
            await tracker.finish(running, JobStatus.COMPLETED,
                                 result_urls=list(result.image_urls), cost=result.cost,
                                 revised_prompt=result.revised_prompt)
            return
        reason = job_errors.coerce(result.error) if result.error else job_errors.NO_IMAGE
        await tracker.finish(running, JobStatus.FAILED, error=reason,
                             revised_prompt=result.revised_prompt)
