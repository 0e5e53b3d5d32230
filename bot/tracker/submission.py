"""Submission: sending a ``pending`` job to its provider, exactly once.

``submitting_at`` is written just before the request and the request id the moment it
answers, so a restart can tell a job that was never sent (it is sent then) from one that
may have been (it ends, never resent: a resend is a second charge). A new submit first
lets the commands of the moment be answered (:meth:`Submissions.give_way_to`). A job on
a synchronous provider is handed to :class:`~bot.tracker.sync_calls.SyncCalls` instead.
A reframe whose Discord source link has expired, or could before the image service
fetches it, gets a fresh one first (:mod:`bot.source_links`); when Discord gives none
and the link has expired, the job ends unsent. A job is only ever ended here while its
send is unclaimed (:meth:`~bot.store.Store.end_unsent`): after a lease takeover, the
process that claimed it ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from bot import job_errors
from bot.jobs import JobRecord, JobStatus
from bot.log_context import bind_job
from bot.providers.base import SyncProvider
from bot.providers.errors import ProviderError, SubmitUncertain
from bot.source_links import (
    RENEW_MARGIN_SECONDS,
    LinkRenewer,
    has_expired,
    needs_renewal,
    source_link,
    with_source_link,
)
from bot.store.priority_lock import ahead_of_routine
from bot.tracker.events import JobEvent
from bot.tracker.job_ids import TrackedJobs

if TYPE_CHECKING:
    from bot.tracker.core import JobTracker

log = logging.getLogger(__name__)

#: How long a new submit waits at most while commands are being answered.
SUBMIT_YIELD_SECONDS = 2.0
#: The start of each submit task's name: a graceful stop waits for the tasks named so
#: (``cogs/core/bot.py``), since a submit cut short could only end "interrupted".
SUBMIT_TASK_PREFIX: Final = "submit-"
#: How long asking Discord for a fresh source link may take.
RENEW_DEADLINE_SECONDS: Final = 10.0


class Submissions(TrackedJobs):
    """The sending half of :class:`~bot.tracker.core.JobTracker`."""

    def __init__(self, tracker: JobTracker) -> None:
        super().__init__()  # the ids of the jobs whose submit runs
        self._tracker = tracker
        self._answers_done: Callable[[], Awaitable[object]] | None = None
        self._renew_link: LinkRenewer | None = None

    def give_way_to(self, answers_done: Callable[[], Awaitable[object]]) -> None:
        """Make each submit wait for ``answers_done()`` first (bounded)."""
        self._answers_done = answers_done

    def renew_links_with(self, renew: LinkRenewer) -> None:
        """Ask ``renew`` for a fresh source link when a job's expires (or has expired)."""
        self._renew_link = renew

    def accept(self, job: JobRecord) -> JobRecord:
        """Submit a ``pending`` job, already written, in a task the tracker owns.

        Its reply's message id, when known, is written within moments
        (:class:`~bot.tracker.replies.ReplyIds`), before the send may even start.
        """
        if job.message_id is not None:
            self._tracker.replies.note(job.id, job.message_id)
        self._job_ids.add(job.id)
        self._tracker.spawn(self._submit_owned(job), f"{SUBMIT_TASK_PREFIX}{job.short_id}")
        return job

    async def submit(self, job: JobRecord) -> JobRecord:
        """For tests and benchmarks: write a new job row and submit it now.

        The bot's launch path writes the row with its reservation, then calls :meth:`accept`.
        """
        await self._tracker.store.insert_job(job)
        self._job_ids.add(job.id)
        try:
            return await self._submit(job)
        finally:
            self._job_ids.discard(job.id)

    async def _submit_owned(self, job: JobRecord) -> None:
        bind_job(job.id, job.guild_id)  # this task's log lines name the job
        try:
            if self._answers_done is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(SUBMIT_YIELD_SECONDS):
                        await self._answers_done()
            await self._submit(job)
        finally:
            self._job_ids.discard(job.id)

    async def _submit(self, job: JobRecord) -> JobRecord:
        tracker = self._tracker
        store = tracker.store
        provider = tracker.provider(job.provider)
        if provider is None:
            return await self._end_unsent(job, job_errors.PROVIDER_GONE)
        # Written with the claim of the send (``mark_submitting``).
        claim_fields: dict[str, Any] = ({} if job.message_id is None
                                        else {"message_id": job.message_id})
        if isinstance(provider, SyncProvider):  # it only generates: no source link to renew
            return await tracker.sync.enqueue(job, provider, **claim_fields)
        inputs = await self._renewed_inputs(job)
        if inputs is None:
            return await self._end_unsent(job, job_errors.SOURCE_EXPIRED)
        if inputs is not job.inputs:
            claim_fields["inputs"] = inputs
        deadline = tracker.config.call_deadline
        slots = tracker.slot(job.provider, "submit")
        try:  # a job waits for a free submit no longer than it may wait in a queue
            async with asyncio.timeout(tracker.config.queue_timeout):
                await slots.acquire()
        except TimeoutError:
            log.warning("Job %s found no free submit within %.0fs", job.short_id,
                        tracker.config.queue_timeout)
            return await self._end_unsent(job, job_errors.TIMED_OUT_QUEUED)
        try:
            # Ahead of routine store work: it holds one of the provider's few submit slots.
            with ahead_of_routine():
                marked = await tracker.durable(lambda: store.mark_submitting(
                    job.id, submitting_at=tracker.now(), **claim_fields))
            if marked is None:  # ended meanwhile, or another process is sending it
                return await store.get_job(job.id) or job
            try:
                async with asyncio.timeout(deadline):
                    receipt = await provider.submit(marked.model, marked.inputs)
            except ProviderError as exc:
                log.info("Submit of job %s failed: %s", job.short_id, type(exc).__name__)
                return await tracker.finish(marked, JobStatus.FAILED,
                                            error=job_errors.from_provider(exc)) or marked
            except TimeoutError:
                log.warning("Submit of job %s took over %.0fs: not resent", job.short_id,
                            deadline)
                uncertain = SubmitUncertain(f"no answer within {deadline:g} s")
                return await tracker.finish(marked, JobStatus.FAILED,
                                            error=job_errors.from_provider(uncertain)) or marked
            except Exception:
                log.exception("Submit of job %s failed unexpectedly", job.short_id)
                return await tracker.finish(marked, JobStatus.FAILED,
                                            error=job_errors.SUBMIT_UNEXPECTED) or marked
            # The request id is written before the slot goes to another job, and ahead of
            # routine work too: however fast the provider answers, no more jobs than there
            # are slots are ever sent without it on disk (a crash ends such a job
            # "interrupted", and the provider may still make it).
            now = tracker.now()
            with ahead_of_routine():
                queued = await tracker.durable(lambda: store.transition_job(
                    job.id, [JobStatus.PENDING], status=JobStatus.QUEUED,
                    request_id=receipt.request_id, submitted_at=now))
        finally:
            slots.release()
        if queued is None:  # cannot happen unless someone else ended it meanwhile
            return await store.get_job(job.id) or marked
        log.info("Job %s (%s) for user %s in guild %s sent: request %s", job.short_id,
                 job.model, job.user_id, job.guild_id, receipt.request_id)
        tracker.poller.track(job.id, JobStatus.QUEUED,
                             now + tracker.config.polling.first_delay, queued)
        await tracker.emit(JobEvent(job=queued, eta=tracker.eta(queued, now)))
        return queued

    async def _end_unsent(self, job: JobRecord, reason: str) -> JobRecord:
        """End a job before its send was claimed (unless another process has claimed it)."""
        ended = await self._tracker.finish(job, JobStatus.FAILED, unsent_only=True,
                                           error=reason)
        return ended or await self._tracker.store.get_job(job.id) or job

    async def _renewed_inputs(self, job: JobRecord) -> dict[str, Any] | None:
        """The job's inputs, with a fresh source link where its own expires soon.

        Soon: before the job could have waited for a free submit and in the provider's
        queue, and a margin. The same object when nothing changed; None when the link has
        expired and Discord gave no working new one (sending it would only fail at the
        image service).
        """
        link = source_link(job.inputs)
        now = time.time()  # Discord's expiry is wall-clock time
        margin = RENEW_MARGIN_SECONDS + 2 * self._tracker.config.queue_timeout
        if link is None or self._renew_link is None or not needs_renewal(link, now, margin):
            return job.inputs
        try:
            async with asyncio.timeout(RENEW_DEADLINE_SECONDS):
                renewed = await self._renew_link(link)
        except TimeoutError:
            log.warning("Renewing the source link of job %s took over %.0fs", job.short_id,
                        RENEW_DEADLINE_SECONDS)
            renewed = None
        except Exception:
            log.exception("Renewing the source link of job %s failed", job.short_id)
            renewed = None
        if renewed is not None and (renewed == link or has_expired(renewed, time.time())):
            log.warning("Job %s: Discord renewed its source link with one that does not "
                        "work", job.short_id)
            renewed = None
        if renewed is not None:
            log.info("Job %s: source link renewed", job.short_id)
            return with_source_link(job.inputs, renewed)
        if has_expired(link, time.time()):
            log.info("Job %s: its source link expired and was not renewed", job.short_id)
            return None
        return job.inputs
