"""The job tracker: one scheduler owns every unfinished job.

Life of a job: :meth:`JobTracker.submit` writes the row (``pending``) before the provider
is called, so a crash can never leave a charged job the bot does not know; the answer
moves it to ``queued``. A single scheduler task then polls each job when
:func:`bot.polling.next_delay` says it is worth it, through one concurrency bound shared
by every provider call. Every state change is written to the store (compare-and-set on
the status) *before* listeners hear of it, so a terminal state is announced exactly once.

A :class:`~bot.providers.base.SyncProvider` (one long call makes the image) is not polled:
the tracker runs the call as a task it owns. The job is ``queued`` until one of that
provider's concurrency slots is free, ``running`` (persisted *before* the call is sent)
while the call is in flight, then ends like any other job, with the same time limits and
events. A restart loses the call: a job found ``running`` then ends failed, never resent
(a resend is a second charge); one still ``queued`` was never sent, and simply runs.

At start the tracker reloads unfinished jobs and resumes them, and hands finished but
undelivered jobs to the listeners again. Nothing here imports Discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bot.inputs import ALL_MODELS
from bot.jobs import UNFINISHED_STATUSES, JobRecord, JobStatus
from bot.log_context import bind_job
from bot.polling import DurationHistory, PollingConfig, PollState, error_delay, next_delay
from bot.providers.base import AnyProvider, SyncProvider
from bot.providers.errors import (
    ProviderError,
    RateLimited,
    RequestNotFound,
)
from bot.providers.types import CancelOutcome, RemoteState
from bot.store import Store

log = logging.getLogger(__name__)

TIMED_OUT_QUEUED = "Timed out waiting in the image service's queue."
TIMED_OUT_RUNNING = "Timed out while the image was being made."
INTERRUPTED = (
    "The bot restarted before the image service confirmed this job; it was not resent, "
    "to avoid a double charge. Please try again."
)
SYNC_INTERRUPTED = (
    "The bot restarted while this image was being made. This image service answers only "
    "once, so the job could not be resumed, and it was not resent, to avoid a double "
    "charge. Please try again."
)
PROVIDER_GONE = "The image service this job used is no longer configured on this bot."
SYNC_UNEXPECTED = "The image service call failed unexpectedly. Please try again."
RESULT_FAILURES_MAX = 5


@dataclass(frozen=True, slots=True)
class JobEvent:
    """A state change, already persisted. ``resumed``: announced after a restart."""

    job: JobRecord
    resumed: bool = False
    #: queued: when the result is expected (Unix time), if it can be estimated.
    eta: float | None = None

    @property
    def status(self) -> JobStatus:
        return self.job.status


class JobListener(Protocol):
    async def on_job_event(self, event: JobEvent) -> None: ...


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    queue_timeout: float = 600.0
    run_timeout: float = 600.0
    concurrency: int = 16
    polling: PollingConfig = field(default_factory=PollingConfig)


class JobTracker:
    def __init__(
        self,
        store: Store,
        providers: Mapping[str, AnyProvider],
        *,
        config: TrackerConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._providers = dict(providers)
        self._config = config or TrackerConfig()
        self._clock = clock
        self._listeners: list[JobListener] = []
        self._limit = asyncio.Semaphore(self._config.concurrency)
        self._history = DurationHistory(self._config.polling)
        self._states: dict[str, PollState] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._scheduler: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._active: set[str] = set()  # job ids being polled right now
        self._result_failures: dict[str, int] = {}
        self._sync_tasks: dict[str, asyncio.Task[None]] = {}  # job id → its owned call
        self._sync_limits: dict[str, asyncio.Semaphore] = {}  # provider key → its slots

    # ------------------------------------------------------------------ lifecycle

    def add_listener(self, listener: JobListener) -> None:
        self._listeners.append(listener)

    @property
    def history(self) -> DurationHistory:
        return self._history

    @property
    def tracked(self) -> int:
        return len(self._states)

    async def start(self) -> None:
        """Learn timings from the store, resume unfinished jobs, re-announce undelivered ones."""
        if self._scheduler is not None:
            return
        unfinished = await self._store.unfinished_jobs()
        for model in {j.model for j in unfinished} | set(ALL_MODELS):
            for queue_s, run_s in await self._store.recent_durations(model, limit=50):
                self._history.record(model, queue_s, run_s)
        self._scheduler = asyncio.create_task(self._run(), name="job-tracker")
        now = self._clock()
        for job in unfinished:
            provider = self._providers.get(job.provider)
            if provider is None:
                await self._finish(job, JobStatus.FAILED, resumed=True, error=PROVIDER_GONE)
                continue
            if isinstance(provider, SyncProvider) and job.status is not JobStatus.PENDING:
                if job.status is JobStatus.RUNNING:  # the call was (maybe) sent: never again
                    await self._finish(job, JobStatus.FAILED, resumed=True,
                                       error=SYNC_INTERRUPTED)
                    continue
                # Queued: the call was never sent (running is persisted before it is).
                await self._emit(JobEvent(job=job, resumed=True, eta=self._eta(job, now)))
                self._start_sync(job, provider)
                continue
            if job.status is JobStatus.PENDING or job.request_id is None:
                await self._finish(job, JobStatus.FAILED, resumed=True, error=INTERRUPTED)
                continue
            self._states[job.id] = PollState(status=job.status)
            self._schedule(job.id, now)  # ask at once: much may have happened meanwhile
            await self._emit(JobEvent(job=job, resumed=True, eta=self._eta(job, now)))
        for job in await self._store.undelivered_finished_jobs():
            await self._emit(JobEvent(job=job, resumed=True))

    async def stop(self) -> None:
        """Cancel the scheduler, in-flight polls and owned calls. Jobs stay in the store for
        the next start (which fails a synchronous job that was running)."""
        tasks = [t for t in (self._scheduler, *self._inflight, *self._sync_tasks.values())
                 if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._scheduler = None
        self._inflight.clear()
        self._sync_tasks.clear()

    # ------------------------------------------------------------------ submit / cancel

    async def submit(self, job: JobRecord) -> JobRecord:
        """Persist, submit and start tracking. Failures end the job (announced); never raises
        :class:`ProviderError` — the returned record tells how it went."""
        provider = self._providers[job.provider]
        await self._store.insert_job(job)
        if isinstance(provider, SyncProvider):
            return await self._submit_sync(job, provider)
        try:
            async with self._limit:
                receipt = await provider.submit(job.model, job.inputs)
        except ProviderError as exc:
            log.info("Submit of job %s failed: %s", job.short_id, type(exc).__name__)
            return await self._finish(job, JobStatus.FAILED, error=exc.user_message) or job
        now = self._clock()
        queued = await self._store.transition_job(
            job.id, [JobStatus.PENDING], status=JobStatus.QUEUED,
            request_id=receipt.request_id, submitted_at=now,
        )
        if queued is None:  # cannot happen unless someone else ended it meanwhile
            return await self._store.get_job(job.id) or job
        self._states[job.id] = PollState(status=JobStatus.QUEUED)
        self._schedule(job.id, now + self._config.polling.first_delay)
        await self._emit(JobEvent(job=queued, eta=self._eta(queued, now)))
        return queued

    async def cancel(self, job_id: str) -> CancelOutcome:
        """Ask the provider to cancel a queued job; on success the job ends ``cancelled``."""
        job = await self._store.get_job(job_id)
        if job is None or job.status.terminal:
            return CancelOutcome.NOT_CANCELLABLE
        if isinstance(self._providers.get(job.provider), SyncProvider):
            return await self._cancel_sync(job)
        if job.status is not JobStatus.QUEUED or job.request_id is None:
            return CancelOutcome.NOT_CANCELLABLE
        async with self._limit:
            outcome = await self._providers[job.provider].cancel(job.request_id)
        if outcome is CancelOutcome.CANCELLED:
            await self._finish(job, JobStatus.CANCELLED, error="Cancelled.")
        return outcome

    async def mark_delivered(self, job_id: str) -> None:
        await self._store.update_job(job_id, delivered_at=self._clock())

    # ------------------------------------------------------------------ synchronous providers

    async def _submit_sync(self, job: JobRecord, provider: SyncProvider) -> JobRecord:
        now = self._clock()
        queued = await self._store.transition_job(
            job.id, [JobStatus.PENDING], status=JobStatus.QUEUED, submitted_at=now)
        if queued is None:
            return await self._store.get_job(job.id) or job
        await self._emit(JobEvent(job=queued, eta=self._eta(queued, now)))
        self._start_sync(queued, provider)
        return queued

    def _start_sync(self, job: JobRecord, provider: SyncProvider) -> None:
        task = asyncio.create_task(self._run_sync(job, provider), name=f"sync-{job.short_id}")
        self._sync_tasks[job.id] = task
        task.add_done_callback(lambda t, job_id=job.id: self._sync_tasks.pop(job_id, None))

    async def _cancel_sync(self, job: JobRecord) -> CancelOutcome:
        """Only while waiting for a slot: once running, the call is out of our hands."""
        if job.status is not JobStatus.QUEUED:
            return CancelOutcome.NOT_CANCELLABLE
        ended = await self._store.transition_job(
            job.id, [JobStatus.QUEUED], status=JobStatus.CANCELLED, finished_at=self._clock(),
            error="Cancelled.")
        if ended is None:
            return CancelOutcome.NOT_CANCELLABLE
        # The owned task finds the job no longer queued when it gets a slot, and stops.
        await self._emit(JobEvent(job=ended))
        return CancelOutcome.CANCELLED

    async def _run_sync(self, job: JobRecord, provider: SyncProvider) -> None:
        """Wait for a slot of this provider (the job stays queued), then make the call."""
        bind_job(job.id, job.guild_id)  # this task's log lines name the job
        slots = self._sync_limits.get(job.provider)
        if slots is None:
            slots = self._sync_limits[job.provider] = asyncio.Semaphore(
                self._config.concurrency)
        waited = self._clock() - (job.submitted_at or self._clock())
        try:
            async with asyncio.timeout(max(0.0, self._config.queue_timeout - waited)):
                await slots.acquire()
        except TimeoutError:
            await self._finish(job, JobStatus.FAILED, error=TIMED_OUT_QUEUED)
            return
        try:
            await self._call_sync(job.id, provider)
        finally:
            slots.release()

    async def _call_sync(self, job_id: str, provider: SyncProvider) -> None:
        started = self._clock()
        running = await self._store.transition_job(
            job_id, [JobStatus.QUEUED], status=JobStatus.RUNNING, started_at=started,
            queue_position=None)
        if running is None:  # cancelled while it waited
            return
        await self._emit(JobEvent(job=running, eta=self._eta(running, started)))
        try:
            async with asyncio.timeout(self._config.run_timeout):
                result = await provider.generate(running.model, running.inputs)
        except TimeoutError:
            await self._finish(running, JobStatus.FAILED, error=TIMED_OUT_RUNNING)
            return
        except ProviderError as exc:
            log.info("Job %s failed at the provider: %s", running.short_id, type(exc).__name__)
            await self._finish(running, JobStatus.FAILED, error=exc.user_message)
            return
        except Exception:
            log.exception("The provider call of job %s failed unexpectedly", running.short_id)
            await self._finish(running, JobStatus.FAILED, error=SYNC_UNEXPECTED)
            return
        now = self._clock()
        if result.state is RemoteState.COMPLETED and result.image_urls:
            if running.submitted_at is not None:
                self._history.record(running.model, started - running.submitted_at,
                                     now - started)
            await self._finish(running, JobStatus.COMPLETED,
                               result_urls=list(result.image_urls), cost=result.cost,
                               revised_prompt=result.revised_prompt)
            return
        reason = result.error or "The image service made no image."
        await self._finish(running, JobStatus.FAILED, error=reason[:300],
                           revised_prompt=result.revised_prompt)

    # ------------------------------------------------------------------ scheduler

    def _schedule(self, job_id: str, when: float) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, job_id))
        self._wake.set()

    async def _run(self) -> None:
        while True:
            now = self._clock()
            while self._heap and self._heap[0][0] <= now:
                _, _, job_id = heapq.heappop(self._heap)
                if job_id not in self._states or job_id in self._active:
                    continue
                self._active.add(job_id)
                task = asyncio.create_task(self._poll(job_id), name=f"poll-{job_id[:8]}")
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            self._wake.clear()
            timeout = self._heap[0][0] - now if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _poll(self, job_id: str) -> None:
        try:
            await self._poll_once(job_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Polling job %s failed unexpectedly; will retry", job_id[:8])
            if job_id in self._states:
                self._schedule(job_id, self._clock() + self._config.polling.cap)
        finally:
            self._active.discard(job_id)

    async def _poll_once(self, job_id: str) -> None:
        job = await self._store.get_job(job_id)
        if job is not None:
            bind_job(job.id, job.guild_id)  # this poll's log lines name the job
        state = self._states.get(job_id)
        if job is None or state is None or job.status.terminal:
            self._forget(job_id)
            return
        if await self._check_time_limit(job):
            return
        provider = self._providers[job.provider]
        assert job.request_id is not None
        try:
            async with self._limit:
                status = await provider.status(job.request_id)
        except RequestNotFound as exc:
            await self._finish(job, JobStatus.FAILED, error=exc.user_message)
            return
        except ProviderError as exc:
            state.failures += 1
            retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            delay = error_delay(state.failures, retry_after, self._config.polling)
            log.info("Status of job %s failed (%s); next try in %.1fs", job.short_id,
                     type(exc).__name__, delay)
            self._schedule(job_id, self._clock() + delay)
            return
        state.failures = 0
        now = self._clock()
        state.last_poll = now

        if status.state is RemoteState.COMPLETED:
            await self._complete(job, state)
            return
        if status.state is RemoteState.FAILED:
            reason = status.error or "no reason given"
            await self._finish(job, JobStatus.FAILED,
                               error=f"The image service failed: {reason}"[:300])
            return
        if status.state is RemoteState.CANCELLED:
            await self._finish(job, JobStatus.CANCELLED, error="Cancelled at the image service.")
            return

        if status.state is RemoteState.QUEUED and job.status is JobStatus.QUEUED:
            state.last_queued_poll = now
            state.polls_in_status += 1
            if status.queue_position != job.queue_position:
                updated = await self._store.transition_job(
                    job.id, [JobStatus.QUEUED], queue_position=status.queue_position)
                if updated is not None:
                    await self._emit(JobEvent(job=updated, eta=self._eta(updated, now)))
        elif status.state in (RemoteState.RUNNING, RemoteState.UNKNOWN) and (
            job.status is JobStatus.QUEUED
        ):
            running = await self._store.transition_job(
                job.id, [JobStatus.QUEUED], status=JobStatus.RUNNING, started_at=now,
                queue_position=None)
            state.status = JobStatus.RUNNING
            state.polls_in_status = 0
            state.running_seen_at = now
            if running is not None:
                await self._emit(JobEvent(job=running, eta=self._eta(running, now)))
        else:
            state.polls_in_status += 1
        self._schedule(job_id, now + next_delay(state, job.model, now, self._history,
                                                self._config.polling))

    async def _complete(self, job: JobRecord, state: PollState) -> None:
        assert job.request_id is not None
        try:
            async with self._limit:
                result = await self._providers[job.provider].result(job.request_id)
        except ProviderError as exc:
            failures = self._result_failures.get(job.id, 0) + 1
            self._result_failures[job.id] = failures
            if failures >= RESULT_FAILURES_MAX or isinstance(exc, RequestNotFound):
                await self._finish(job, JobStatus.FAILED, error=exc.user_message)
            else:
                self._schedule(job.id, self._clock() + error_delay(failures, None,
                                                                   self._config.polling))
            return
        if result.state is not RemoteState.COMPLETED or not result.image_urls:
            # Status and result disagree for a moment: ask again soon.
            self._schedule(job.id, self._clock() + self._config.polling.near_interval)
            return
        now = self._clock()
        started = job.started_at or state.running_seen_at
        if job.submitted_at is not None:
            queue_s = (started - job.submitted_at) if started else None
            run_s = (now - started) if started else None
            self._history.record(job.model, queue_s, run_s)
        await self._finish(job, JobStatus.COMPLETED, result_urls=list(result.image_urls),
                           cost=result.cost, started_at=job.started_at or now)

    async def _check_time_limit(self, job: JobRecord) -> bool:
        now = self._clock()
        if job.status is JobStatus.QUEUED and job.submitted_at is not None and (
            now - job.submitted_at > self._config.queue_timeout
        ):
            if job.request_id is not None:
                with contextlib.suppress(ProviderError):
                    async with self._limit:
                        await self._providers[job.provider].cancel(job.request_id)
            await self._finish(job, JobStatus.FAILED, error=TIMED_OUT_QUEUED)
            return True
        if job.status is JobStatus.RUNNING and job.started_at is not None and (
            now - job.started_at > self._config.run_timeout
        ):
            await self._finish(job, JobStatus.FAILED, error=TIMED_OUT_RUNNING)
            return True
        return False

    async def _finish(self, job: JobRecord, status: JobStatus, *, resumed: bool = False,
                      **fields: object) -> JobRecord | None:
        """Write a terminal state once (compare-and-set), then announce it."""
        ended = await self._store.transition_job(
            job.id, UNFINISHED_STATUSES, status=status, finished_at=self._clock(), **fields)
        self._forget(job.id)
        if ended is not None:
            await self._emit(JobEvent(job=ended, resumed=resumed))
        return ended

    def _forget(self, job_id: str) -> None:
        self._states.pop(job_id, None)
        self._result_failures.pop(job_id, None)

    def _eta(self, job: JobRecord, now: float) -> float | None:
        run = self._history.typical_run(job.model)
        if job.status is JobStatus.RUNNING:
            start = job.started_at or now
            return max(now + 1.0, start + run)
        if job.status is JobStatus.QUEUED:
            submitted = job.submitted_at or now
            return max(now + 1.0, submitted + self._history.typical_queue(job.model) + run)
        return None

    async def _emit(self, event: JobEvent) -> None:
        for listener in self._listeners:
            try:
                await listener.on_job_event(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Listener failed on job %s (%s)", event.job.short_id,
                              event.status)

