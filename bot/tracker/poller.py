"""Polling: when to ask the provider about each sent job, asking, and acting on the answer.

A scheduler keeps one heap of (when, job) and starts a poll task for each job that is due,
as :func:`bot.polling.next_delay` says. A poll reads the job, ends it when its time limit
has passed (by the tracker's clock), else asks the provider within the job's remaining
time: a queued job's status, a running job's result (which tells the state until the image
is made). A change is written, then announced; a completed job ends completed with its
images (or failed, after too many failed fetches of its result).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from typing import TYPE_CHECKING

from bot import job_errors
from bot.jobs import JobRecord, JobStatus
from bot.log_context import bind_job
from bot.polling import PollState, error_delay, next_delay
from bot.providers.base import Provider
from bot.providers.errors import NoImageInResult, ProviderError, RateLimited, RequestNotFound
from bot.providers.types import (
    CancelOutcome,
    RemoteState,
    RequestReport,
    RequestResult,
    RequestStatus,
)
from bot.store import StoreBusyError
from bot.tracker.events import JobEvent

if TYPE_CHECKING:
    from bot.tracker.core import JobTracker

log = logging.getLogger(__name__)

RESULT_FAILURES_MAX = 5
#: Unexpected errors (unreadable answers…) in a row before a job is given up.
UNEXPECTED_FAILURES_MAX = 5


class Poller:
    """The polled half of :class:`~bot.tracker.core.JobTracker` (asynchronous providers)."""

    def __init__(self, tracker: JobTracker) -> None:
        self._tracker = tracker
        self._states: dict[str, PollState] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._active: set[str] = set()  # job ids being polled right now
        self._result_failures: dict[str, int] = {}

    @property
    def count(self) -> int:
        """How many jobs are polled."""
        return len(self._states)

    def tracks(self, job_id: str) -> bool:
        """Tell whether the job is polled."""
        return job_id in self._states

    def polled_ids(self) -> set[str]:
        """The ids of the polled jobs."""
        return set(self._states)

    def clear(self) -> None:
        """Forget every polled job."""
        self._states.clear()

    def track(self, job_id: str, status: JobStatus, when: float,
              job: JobRecord | None = None) -> None:
        """Follow a sent job from now on; first ask at ``when``.

        ``job``: its row as just written, if known (the first poll need not read it).
        """
        self._states[job_id] = PollState(status=status, job=job)
        self._schedule(job_id, when)

    def forget(self, job_id: str) -> None:
        """Stop polling the job."""
        self._states.pop(job_id, None)
        self._result_failures.pop(job_id, None)

    def let_go(self, job_ids: set[str]) -> set[str]:
        """Stop polling ``job_ids`` (another process owns them now); those it polled."""
        polled = job_ids & set(self._states)
        for job_id in polled:
            log.warning("Job %s is owned elsewhere now: no longer polling it", job_id[:8])
            self.forget(job_id)
        return polled

    # ------------------------------------------------------------------ scheduler

    def _schedule(self, job_id: str, when: float) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, job_id))
        self._wake.set()

    async def run(self) -> None:
        """The scheduler: start a poll for each job that is due, forever."""
        tracker = self._tracker
        while True:
            now = tracker.now()
            while self._heap and self._heap[0][0] <= now:
                _, _, job_id = heapq.heappop(self._heap)
                if job_id not in self._states or job_id in self._active:
                    continue
                self._active.add(job_id)
                tracker.spawn(self._poll(job_id), f"poll-{job_id[:8]}")
            self._wake.clear()
            timeout = self._heap[0][0] - now if self._heap else None
            # Not ``asyncio.wait_for``: on Python 3.11 it can swallow a cancel that comes as
            # the wake-up does, and the scheduler would then wait forever at shutdown.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _poll(self, job_id: str) -> None:
        tracker = self._tracker
        cap = tracker.config.polling.cap
        try:
            await self._poll_once(job_id)
        except asyncio.CancelledError:
            raise
        except StoreBusyError:
            log.warning("Database busy while polling job %s; will retry", job_id[:8])
            self._retry_later(job_id, cap)
        except Exception:
            state = self._states.get(job_id)
            failures = (state.failures + 1) if state is not None else UNEXPECTED_FAILURES_MAX
            log.exception("Polling job %s failed unexpectedly (%d in a row)", job_id[:8],
                          failures)
            if state is not None:
                state.failures = failures
            if failures >= UNEXPECTED_FAILURES_MAX:
                job = await tracker.store.get_job(job_id)
                if job is not None:
                    await tracker.finish(job, JobStatus.FAILED, error=job_errors.UNREADABLE)
                self.forget(job_id)
            else:
                self._retry_later(job_id, cap)
        finally:
            self._active.discard(job_id)

    def _retry_later(self, job_id: str, delay: float) -> None:
        if job_id in self._states:
            self._schedule(job_id, self._tracker.now() + delay)

    # ------------------------------------------------------------------ time limits

    def _call_budget(self, job: JobRecord) -> float:
        """Seconds the next provider call for ``job`` may take.

        The call deadline, or less when the job's own time limit comes first.
        """
        config = self._tracker.config
        limit_at = self._limit_at(job)
        now = self._tracker.now()
        budget = config.call_deadline
        if limit_at is not None:
            if job.status is JobStatus.QUEUED and now > limit_at:
                # Past its queue limit, a job whose cancel was not confirmed is still
                # watched until the grace ends.
                limit_at += config.cancel_grace
            budget = min(budget, limit_at - now)
        return max(0.001, budget)

    def _limit_at(self, job: JobRecord) -> float | None:
        config = self._tracker.config
        if job.status is JobStatus.QUEUED and job.submitted_at is not None:
            return job.submitted_at + config.queue_timeout
        if job.status is JobStatus.RUNNING and job.started_at is not None:
            return job.started_at + config.run_timeout
        return None

    async def _check_time_limit(self, job: JobRecord) -> bool:
        """End ``job`` if its time limit has passed (by the tracker's clock).

        True when the job is handled (ended, or started after all); False when it goes on
        being polled as before.
        """
        tracker = self._tracker
        limit_at = self._limit_at(job)
        now = tracker.now()
        if limit_at is None or now <= limit_at:
            return False
        if job.status is not JobStatus.QUEUED:
            ended = await self._last_look(job)
            if ended is None and now <= limit_at + tracker.config.cancel_grace:
                # The provider could not say (busy, say, after the bot was away): ask again.
                state = self._states.get(job.id)
                if state is not None:
                    state.failures += 1
                    self._schedule(job.id, tracker.now() + error_delay(
                        state.failures, None, tracker.config.polling))
                return True
            if not ended:
                await tracker.finish(job, JobStatus.FAILED, error=job_errors.TIMED_OUT_RUNNING)
            return True
        outcome = await self._cancel_at_limit(job)
        if outcome is CancelOutcome.NOT_CANCELLABLE:
            # It started between the last poll and the cancel: it goes on, as running.
            log.info("Job %s started as its queue time ran out; it goes on", job.short_id)
            state = self._states.get(job.id)
            if state is not None:
                await self._mark_running(job, state, now)
                self._schedule(job.id, now + tracker.config.polling.near_interval)
            return True
        if outcome is None and now <= limit_at + tracker.config.cancel_grace:
            # The cancel did not get through: the provider may still make and bill the
            # image, so keep watching it (the next poll tries the cancel again).
            log.info("Cancelling job %s at its queue limit failed; still watching it",
                     job.short_id)
            return False
        await tracker.finish(job, JobStatus.FAILED, error=job_errors.TIMED_OUT_QUEUED)
        return True

    async def _last_look(self, job: JobRecord) -> bool | None:
        """Ask once whether the provider ended ``job``, past its run limit; end it so if so.

        Say the bot was down meanwhile: an image made then is delivered (and charged), not
        dropped behind a "timed out". True: ended; False: it still runs there (or nothing
        there stands for it); None: the provider could not say.
        """
        tracker = self._tracker
        provider = tracker.provider(job.provider)
        if job.request_id is None or not isinstance(provider, Provider):
            return False
        try:
            async with asyncio.timeout(min(5.0, tracker.config.call_deadline)), \
                    tracker.slot(job.provider, "result"):
                result = await provider.result(job.request_id)
        except TimeoutError:
            return None
        except ProviderError as exc:
            return None if exc.retryable else False
        if result.state is RemoteState.COMPLETED and result.image_urls:
            log.info("Job %s was made past its time limit: delivering it", job.short_id)
            await tracker.finish(job, JobStatus.COMPLETED, result_urls=list(result.image_urls),
                                 cost=result.cost, started_at=job.started_at or tracker.now())
            return True
        return await self._ended_remotely(job, result)

    async def _ended_remotely(self, job: JobRecord, report: RequestReport) -> bool:
        """End ``job`` as the provider failed or cancelled it; whether it had."""
        tracker = self._tracker
        if report.state is RemoteState.FAILED:
            # The provider's own words go to the log only (they may carry anything).
            log.info("Job %s failed at the provider", job.short_id)
            await tracker.finish(job, JobStatus.FAILED, error=job_errors.FAILED_REMOTELY)
            return True
        if report.state is RemoteState.CANCELLED:
            await tracker.finish(job, JobStatus.CANCELLED, error=job_errors.CANCELLED_REMOTELY)
            return True
        return False

    async def _cancel_at_limit(self, job: JobRecord) -> CancelOutcome | None:
        """Ask the provider to cancel a job past its queue limit.

        Its answer, or None when it could not say. A job no provider request stands for
        counts as cancelled: nothing can still make it.
        """
        tracker = self._tracker
        provider = tracker.provider(job.provider)
        if job.request_id is None or not isinstance(provider, Provider):
            return CancelOutcome.CANCELLED
        try:
            async with asyncio.timeout(min(5.0, tracker.config.call_deadline)):
                return await provider.cancel(job.request_id)
        except (ProviderError, TimeoutError):
            return None

    async def _mark_running(self, job: JobRecord, state: PollState, now: float) -> None:
        """A queued job has started: write and announce it."""
        tracker = self._tracker
        running = await tracker.store.transition_job(
            job.id, [JobStatus.QUEUED], status=JobStatus.RUNNING, started_at=now,
            queue_position=None)
        state.status = JobStatus.RUNNING
        state.polls_in_status = 0
        state.running_seen_at = now
        state.job = running
        if running is not None:
            await tracker.emit(JobEvent(job=running, eta=tracker.eta(running, now)))

    # ------------------------------------------------------------------ one poll

    async def _current(self, job_id: str, state: PollState | None) -> JobRecord | None:
        """The job as it stands, for a poll.

        On a store one process owns (SQLite), every change to what a poll reads is made by
        this poller, and every other end of the job stops its polling first
        (:meth:`forget`): the row the poller last read or wrote is current, and a poll need
        not wait on the database before asking the provider. Where other processes share the
        store, one may have ended the job: the row is read each time. Any write of the
        poller that finds the row changed (a compare-and-set that fails) drops its copy.
        """
        tracker = self._tracker
        if state is not None and state.job is not None and not tracker.store.leases_enabled:
            return state.job
        job = await tracker.store.get_job(job_id)
        if state is not None:
            state.job = job
        return job

    async def _poll_once(self, job_id: str) -> None:
        """Poll one job: load and check it, ask the provider, act on its answer."""
        tracker = self._tracker
        state = self._states.get(job_id)
        job = await self._current(job_id, state)
        if job is not None:
            bind_job(job.id, job.guild_id)  # this poll's log lines name the job
        if job is not None and state is not None and job.status.terminal:
            tracker.found_ended(job_id)  # ended by another process (it shows the end)
            return
        if job is None or state is None:
            self.forget(job_id)
            return
        if await self._check_time_limit(job):
            return
        provider = tracker.provider(job.provider)
        assert isinstance(provider, Provider) and job.request_id is not None
        report = await self._ask(job, state, provider)
        if report is not None:
            await self._apply_report(job, state, report, provider)

    async def _ask(self, job: JobRecord, state: PollState,
                   provider: Provider) -> RequestReport | None:
        """What the provider says of ``job`` now, or None when the asking failed.

        A queued job's status is asked for: it tells the place in the queue. A running job's
        result is asked for instead: until the image is made it answers with the state, as
        the status does, and once it is made it carries the image, so the end of a job costs
        one call instead of two (a status, then its result). Should that result be refused
        or unreadable before the image is made, the job's status is asked from then on, as
        for a queued job.

        None means the job is handled already: its next poll is scheduled, or it has ended.
        """
        tracker = self._tracker
        polling = tracker.config.polling
        assert job.request_id is not None
        running = job.status is JobStatus.RUNNING and not state.status_polls_only
        report: RequestReport
        try:
            # A running job's poll is the call that can bring its image: it takes the result
            # fetches' slots, where a crowd of queued jobs' polls cannot hold it up.
            async with asyncio.timeout(self._call_budget(job)), \
                    tracker.slot(job.provider, "result" if running else "poll"):
                if running:
                    report = await provider.result(job.request_id)
                else:
                    report = await provider.status(job.request_id)
        except TimeoutError:
            if not await self._check_time_limit(job):
                state.failures += 1
                log.info("Status of job %s took too long; asking again later", job.short_id)
                self._schedule(job.id, tracker.now() + error_delay(
                    state.failures, None, polling))
            return None
        except ProviderError as exc:
            if running and isinstance(exc, NoImageInResult):
                # Completed, but with no image: not asked for forever; a failed result fetch.
                await self._result_failed(job, exc)
                return None
            if running and not exc.retryable:
                log.info("The result of running job %s could not be had (%s); asking its "
                         "status instead", job.short_id, type(exc).__name__)
                state.status_polls_only = True
                return await self._ask(job, state, provider)
            if isinstance(exc, RequestNotFound):
                await tracker.finish(job, JobStatus.FAILED,
                                     error=job_errors.from_provider(exc))
                return None
            state.failures += 1
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            delay = error_delay(state.failures, retry_after, polling)
            log.info("Status of job %s failed (%s); next try in %.1fs", job.short_id,
                     type(exc).__name__, delay)
            self._schedule(job.id, tracker.now() + delay)
            return None
        state.failures = 0
        if running:
            self._result_failures.pop(job.id, None)
        return report

    async def _apply_report(self, job: JobRecord, state: PollState, report: RequestReport,
                            provider: Provider) -> None:
        """Act on what the provider says of ``job``: complete or end it, or note any change."""
        tracker = self._tracker
        now = tracker.now()
        state.last_poll = now

        if report.state is RemoteState.COMPLETED:
            if isinstance(report, RequestResult):
                await self._completed(job, state, report)
            else:
                await self._complete(job, state, provider)
            return
        if await self._ended_remotely(job, report):
            return

        if report.state is RemoteState.QUEUED and job.status is JobStatus.QUEUED:
            state.last_queued_poll = now
            state.polls_in_status += 1
            position = (report.queue_position if isinstance(report, RequestStatus)
                        else job.queue_position)
            if position != job.queue_position:
                updated = await tracker.store.transition_job(
                    job.id, [JobStatus.QUEUED], queue_position=position)
                state.job = updated
                if updated is not None:
                    await tracker.emit(JobEvent(job=updated, eta=tracker.eta(updated, now)))
        elif report.state in (RemoteState.RUNNING, RemoteState.UNKNOWN) and (
            job.status is JobStatus.QUEUED
        ):
            await self._mark_running(job, state, now)
        else:
            state.polls_in_status += 1
        self._schedule(job.id, now + next_delay(state, job.model, now, tracker.history,
                                                tracker.config.polling))

    async def _complete(self, job: JobRecord, state: PollState, provider: Provider) -> None:
        """The status said completed: fetch the result, then end the job with it."""
        tracker = self._tracker
        assert job.request_id is not None
        try:
            async with asyncio.timeout(self._call_budget(job)), \
                    tracker.slot(job.provider, "result"):
                result = await provider.result(job.request_id)
        except (ProviderError, TimeoutError) as exc:
            await self._result_failed(job, exc)
            return
        if result.state is not RemoteState.COMPLETED or not result.image_urls:
            # Status and result disagree for a moment: ask again soon.
            self._schedule(job.id, tracker.now() + tracker.config.polling.near_interval)
            return
        await self._completed(job, state, result)

    async def _result_failed(self, job: JobRecord, exc: ProviderError | TimeoutError) -> None:
        """A result could not be had: ask again later, or end the job after a few in a row."""
        tracker = self._tracker
        failures = self._result_failures.get(job.id, 0) + 1
        self._result_failures[job.id] = failures
        if await self._check_time_limit(job):
            return
        if failures >= RESULT_FAILURES_MAX or isinstance(exc, RequestNotFound):
            error = (job_errors.from_provider(exc) if isinstance(exc, ProviderError)
                     else job_errors.UNREADABLE)
            await tracker.finish(job, JobStatus.FAILED, error=error)
        else:
            self._schedule(job.id, tracker.now() + error_delay(
                failures, None, tracker.config.polling))

    async def _completed(self, job: JobRecord, state: PollState, result: RequestResult) -> None:
        """End ``job`` completed with its images, and learn its queue and run times."""
        tracker = self._tracker
        now = tracker.now()
        started = job.started_at or state.running_seen_at
        if job.submitted_at is not None:
            queue_s = (started - job.submitted_at) if started else None
            run_s = (now - started) if started else None
            tracker.history.record(job.model, queue_s, run_s)
        await tracker.finish(job, JobStatus.COMPLETED, result_urls=list(result.image_urls),
                             cost=result.cost, started_at=job.started_at or now)
