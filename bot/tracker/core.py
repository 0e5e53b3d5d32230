"""The job tracker: one owner for every unfinished job.

Life of a job: the launch path writes the row (``pending``, with its quota reservation)
before the interaction is answered, then hands the job over with :meth:`JobTracker.accept`.
The tracker submits it in a task it owns: ``submitting_at`` is written just before the
request and the request id the moment it answers, so a restart can tell a job that was
never sent (it is sent now) from one that may have been (it ends, never resent: a resend is
a second charge). A scheduler then polls each job when :func:`bot.polling.next_delay` says
it is worth it. Every state change is written to the store (compare-and-set on the status)
*before* listeners hear of it, so a terminal state is announced exactly once.

Time limits are kept by the tracker's clock: every provider call (and the wait for a free
call slot) is bounded by the job's own limit, so a stalled provider cannot keep a job alive.
Status polls, result fetches and submits have separate slots per provider, so neither
starves the others. A terminal state that the database refuses for a moment (locked) is
held in memory and written again until it is saved.

Synchronous providers (one long call makes the image) run through :class:`SyncCalls`.
At start the tracker resumes unfinished jobs and re-announces undelivered ones; a periodic
reconciliation adopts any unfinished job an error left untracked. With several processes
on one database (PostgreSQL) it takes only the jobs the store says this process owns (job
leases, :mod:`bot.leases`), and :meth:`JobTracker.take_over` / :meth:`JobTracker.let_go`
follow what the lease keeper finds later. Nothing here imports Discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.inputs import ALL_MODELS
from bot.jobs import UNFINISHED_STATUSES, JobRecord, JobStatus
from bot.log_context import bind_job
from bot.polling import DurationHistory, PollingConfig, PollState, error_delay, next_delay
from bot.providers.base import AnyProvider, Provider, SyncProvider
from bot.providers.errors import ProviderError, RateLimited, RequestNotFound
from bot.providers.types import CancelOutcome, RemoteState
from bot.store import Store, StoreBusyError
from bot.tracker import reasons
from bot.tracker.events import JobEvent, JobListener, ReplyConfirmer
from bot.tracker.sync_calls import SyncCalls

log = logging.getLogger(__name__)
#: What a store write returns, handed back by ``JobTracker._durable``.
_T = TypeVar("_T")

RESULT_FAILURES_MAX = 5
#: Unexpected errors (unreadable answers…) in a row before a job is given up.
UNEXPECTED_FAILURES_MAX = 5
#: How long a new submit waits at most while commands are being answered.
SUBMIT_YIELD_SECONDS = 2.0
#: How long an unfinished job may go untracked before the reconciliation adopts it.
ADOPT_AFTER_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """The tracker's time limits, concurrency and polling."""

    queue_timeout: float = 600.0
    run_timeout: float = 600.0
    #: Most simultaneous calls per provider, for each of: submits, status polls, results.
    concurrency: int = 16
    #: Longest one provider call may take (retries included), whatever its job's limit.
    call_deadline: float = 30.0
    #: Seconds between reconciliations (adopting jobs an error left untracked); 0 = never.
    reconcile_interval: float = 300.0
    polling: PollingConfig = field(default_factory=PollingConfig)


class JobTracker:
    """Submits jobs, follows them to their end, and announces every change to listeners."""

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
        self._confirm: ReplyConfirmer | None = None
        self._answers_done: Callable[[], Awaitable[object]] | None = None
        self._slots: dict[tuple[str, str], asyncio.Semaphore] = {}
        self._history = DurationHistory(self._config.polling)
        self._states: dict[str, PollState] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._scheduler: asyncio.Task[None] | None = None
        self._reconciler: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._active: set[str] = set()  # job ids being polled right now
        self._submitting: set[str] = set()  # job ids whose submit task runs
        self._result_failures: dict[str, int] = {}
        self._sync = SyncCalls(self)

    # ------------------------------------------------------------------ lifecycle

    def add_listener(self, listener: JobListener) -> None:
        """Announce every job event to ``listener`` from now on."""
        self._listeners.append(listener)

    def give_way_to(self, answers_done: Callable[[], Awaitable[object]]) -> None:
        """Let commands be answered before new submits.

        A new submit waits for ``answers_done()`` (at most ``SUBMIT_YIELD_SECONDS``), so a
        burst is answered within Discord's limit before its jobs are sent, which is never
        as urgent.
        """
        self._answers_done = answers_done

    def set_reply_confirmer(self, confirm: ReplyConfirmer) -> None:
        """How to ask, after a restart, whether a never-sent job's reply exists."""
        self._confirm = confirm

    @property
    def history(self) -> DurationHistory:
        """The queue and run times of recent jobs, per model."""
        return self._history

    @property
    def config(self) -> TrackerConfig:
        """The tracker's configuration."""
        return self._config

    @property
    def store(self) -> Store:
        """The store the tracker writes to."""
        return self._store

    @property
    def tracked(self) -> int:
        """Jobs held in memory: polled, being submitted, or in a synchronous call."""
        return len(self._states) + len(self._submitting) + self._sync.count

    def tracks(self, job_id: str) -> bool:
        """Whether the tracker holds ``job_id`` in memory."""
        return (job_id in self._states or job_id in self._submitting
                or self._sync.tracks(job_id))

    def now(self) -> float:
        """Return the tracker's clock (seconds since the epoch)."""
        return self._clock()

    async def start(self) -> None:
        """Learn timings from the store, resume unfinished jobs, re-announce undelivered ones."""
        if self._scheduler is not None:
            return
        unfinished = await self._store.take_unfinished_jobs()
        for model in {j.model for j in unfinished} | set(ALL_MODELS):
            for queue_s, run_s in await self._store.recent_durations(model, limit=50):
                self._history.record(model, queue_s, run_s)
        self._scheduler = asyncio.create_task(self._run(), name="job-tracker")
        for job in unfinished:
            await self._adopt(job)
        for job in await self._store.take_undelivered_jobs():
            await self._emit(JobEvent(job=job, resumed=True))
        if self._config.reconcile_interval > 0:
            self._reconciler = asyncio.create_task(self._reconcile_forever(),
                                                   name="job-reconciler")

    async def stop(self) -> None:
        """Cancel the scheduler and every task the tracker owns.

        Jobs stay in the store for the next start (which fails a synchronous job that was running).
        """
        tasks = [t for t in (self._scheduler, self._reconciler, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._scheduler = self._reconciler = None
        self._tasks.clear()
        self._states.clear()
        self._submitting.clear()
        self._sync.clear()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task the tracker owns (cancelled by :meth:`stop`)."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait_idle(self) -> None:
        """Wait until no submit, poll or call task is running (tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ taking jobs

    def accept(self, job: JobRecord) -> JobRecord:
        """Take a ``pending`` job whose row is written, and submit it in the background.

        Its reservation is written too. ``job.message_id``, when known, is saved with the
        submit.
        """
        self._submitting.add(job.id)
        self.spawn(self._submit_owned(job), f"submit-{job.short_id}")
        return job

    async def submit(self, job: JobRecord) -> JobRecord:
        """Write a new job row, submit it and start tracking; return how it went.

        Failures end the job (announced); never raises :class:`ProviderError`.
        """
        await self._store.insert_job(job)
        self._submitting.add(job.id)
        try:
            return await self._submit(job)
        finally:
            self._submitting.discard(job.id)

    async def abandon(self, job: JobRecord, reason: str) -> JobRecord | None:
        """End a job whose interaction was never answered: failed, settled, not shown."""
        return await self._finish(job, JobStatus.FAILED, announce=False, error=reason,
                                  delivered_at=self._clock())

    async def _submit_owned(self, job: JobRecord) -> None:
        bind_job(job.id, job.guild_id)  # this task's log lines name the job
        try:
            if self._answers_done is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(SUBMIT_YIELD_SECONDS):
                        await self._answers_done()
            await self._submit(job)
        finally:
            self._submitting.discard(job.id)

    async def _submit(self, job: JobRecord) -> JobRecord:
        provider = self._providers.get(job.provider)
        if provider is None:
            return await self._finish(job, JobStatus.FAILED, error=reasons.PROVIDER_GONE) or job
        remember = {} if job.message_id is None else {"message_id": job.message_id}
        if isinstance(provider, SyncProvider):
            return await self._sync.enqueue(job, provider, **remember)
        async with self._slot(job.provider, "submit"):
            marked = await self._store.transition_job(
                job.id, [JobStatus.PENDING], submitting_at=self._clock(), **remember)
            if marked is None:  # ended meanwhile (abandoned, or a restart's reconciliation)
                return await self._store.get_job(job.id) or job
            try:
                async with asyncio.timeout(self._config.call_deadline):
                    receipt = await provider.submit(marked.model, marked.inputs)
            except ProviderError as exc:
                log.info("Submit of job %s failed: %s", job.short_id, type(exc).__name__)
                return await self._finish(marked, JobStatus.FAILED,
                                          error=exc.user_message) or marked
            except TimeoutError:
                log.warning("Submit of job %s took over %.0fs: not resent", job.short_id,
                            self._config.call_deadline)
                return await self._finish(marked, JobStatus.FAILED,
                                          error=reasons.INTERRUPTED) or marked
            except Exception:
                log.exception("Submit of job %s failed unexpectedly", job.short_id)
                return await self._finish(marked, JobStatus.FAILED,
                                          error=reasons.SUBMIT_UNEXPECTED) or marked
        now = self._clock()
        queued = await self._durable(lambda: self._store.transition_job(
            job.id, [JobStatus.PENDING], status=JobStatus.QUEUED,
            request_id=receipt.request_id, submitted_at=now))
        if queued is None:  # cannot happen unless someone else ended it meanwhile
            return await self._store.get_job(job.id) or marked
        log.info("Job %s (%s) for user %s in guild %s sent: request %s", job.short_id,
                 job.model, job.user_id, job.guild_id, receipt.request_id)
        self._states[job.id] = PollState(status=JobStatus.QUEUED)
        self._schedule(job.id, now + self._config.polling.first_delay)
        await self._emit(JobEvent(job=queued, eta=self.eta(queued, now)))
        return queued

    async def _adopt(self, job: JobRecord, *, resumed: bool = True) -> None:
        """Take over an unfinished job found in the store (at start, or reconciling)."""
        provider = self._providers.get(job.provider)
        if provider is None:
            await self._finish(job, JobStatus.FAILED, resumed=resumed,
                               error=reasons.PROVIDER_GONE)
            return
        if job.status is JobStatus.PENDING:
            await self._adopt_pending(job, resumed=resumed)
            return
        if isinstance(provider, SyncProvider):
            await self._sync.adopt(job, provider, resumed=resumed)
            return
        if job.request_id is None:
            await self._finish(job, JobStatus.FAILED, resumed=resumed, error=reasons.INTERRUPTED)
            return
        now = self._clock()
        self._states[job.id] = PollState(status=job.status)
        self._schedule(job.id, now)  # ask at once: much may have happened meanwhile
        await self._emit(JobEvent(job=job, resumed=resumed, eta=self.eta(job, now)))

    async def _adopt_pending(self, job: JobRecord, *, resumed: bool) -> None:
        if job.maybe_sent:  # the request may have reached the provider: never again
            await self._finish(job, JobStatus.FAILED, resumed=resumed, error=reasons.INTERRUPTED)
            return
        if job.message_id is None and self._confirm is not None:
            try:
                message_id = await self._confirm(job)
            except Exception:
                log.exception("Checking the reply of job %s failed", job.short_id)
                message_id = None
            if message_id is None:
                log.info("Job %s was written but its command never answered: dropped",
                         job.short_id)
                await self.abandon(job, reasons.NOT_ACKNOWLEDGED)
                return
            job = job.evolve(message_id=message_id)
        log.info("Job %s was never sent: sending it now", job.short_id)
        self.accept(job)

    # ------------------------------------------------------------------ cancel, delivery

    async def cancel(self, job_id: str) -> CancelOutcome:
        """Ask the provider to cancel a queued job; on success the job ends ``cancelled``."""
        job = await self._store.get_job(job_id)
        if job is None or job.status.terminal:
            return CancelOutcome.NOT_CANCELLABLE
        provider = self._providers.get(job.provider)
        if isinstance(provider, SyncProvider):
            return await self._sync.cancel(job)
        if job.status is not JobStatus.QUEUED or job.request_id is None or provider is None:
            return CancelOutcome.NOT_CANCELLABLE
        async with asyncio.timeout(self._config.call_deadline), self._slot(job.provider, "poll"):
            outcome = await provider.cancel(job.request_id)
        if outcome is CancelOutcome.CANCELLED:
            await self._finish(job, JobStatus.CANCELLED, error=reasons.CANCELLED)
        return outcome

    async def mark_delivered(self, job_id: str) -> None:
        """Record that a job's outcome reached Discord."""
        await self._durable(lambda: self._store.update_job(job_id, delivered_at=self._clock()))

    # ------------------------------------------------------------------ reconciliation

    async def reconcile(self) -> int:
        """Adopt unfinished jobs nothing tracks and announce undelivered ones.

        An error or a lost task may leave an unfinished job untracked, or a finished one
        undelivered. Returns how many jobs it picked up.
        """
        now = self._clock()
        picked = 0
        for job in await self._store.owned_unfinished_jobs():
            if self.tracks(job.id) or now - job.updated_at < ADOPT_AFTER_SECONDS:
                continue
            log.warning("Job %s (%s) was not tracked: taking it over", job.short_id, job.status)
            picked += 1
            await self._adopt(job, resumed=False)
        for job in await self._store.owned_undelivered_jobs():
            if job.finished_at is not None and now - job.finished_at >= ADOPT_AFTER_SECONDS:
                picked += 1
                await self._emit(JobEvent(job=job, resumed=True))
        return picked

    async def take_over(self, job: JobRecord) -> None:
        """Take a job this process has just come to own.

        Its lease ran out elsewhere: resume it if unfinished, else announce it for delivery.
        """
        if self._scheduler is None or self.tracks(job.id):
            return
        if job.status.terminal:
            if job.delivered_at is None:
                await self._emit(JobEvent(job=job, resumed=True))
            return
        log.info("Taking over job %s (%s)", job.short_id, job.status)
        await self._adopt(job)

    def polled_ids(self) -> set[str]:
        """The jobs this tracker polls right now (asynchronous providers)."""
        return set(self._states)

    def let_go(self, job_ids: set[str]) -> None:
        """Stop polling the jobs this process no longer owns.

        Stop polling jobs this process no longer owns (another took them over while
        this one could not renew its leases): they are the other's to follow now.
        """
        for job_id in job_ids & set(self._states):
            log.warning("Job %s is owned elsewhere now: no longer polling it", job_id[:8])
            self._forget(job_id)

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(self._config.reconcile_interval)
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Job reconciliation failed; trying again later")

    # ------------------------------------------------------------------ scheduler

    def _slot(self, provider_key: str, kind: str) -> asyncio.Semaphore:
        slot = self._slots.get((provider_key, kind))
        if slot is None:
            slot = self._slots[(provider_key, kind)] = asyncio.Semaphore(
                self._config.concurrency)
        return slot

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
                self.spawn(self._poll(job_id), f"poll-{job_id[:8]}")
            self._wake.clear()
            timeout = self._heap[0][0] - now if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _poll(self, job_id: str) -> None:
        try:
            await self._poll_once(job_id)
        except asyncio.CancelledError:
            raise
        except StoreBusyError:
            log.warning("Database busy while polling job %s; will retry", job_id[:8])
            self._retry_later(job_id, self._config.polling.cap)
        except Exception:
            state = self._states.get(job_id)
            failures = (state.failures + 1) if state is not None else UNEXPECTED_FAILURES_MAX
            log.exception("Polling job %s failed unexpectedly (%d in a row)", job_id[:8],
                          failures)
            if state is not None:
                state.failures = failures
            if failures >= UNEXPECTED_FAILURES_MAX:
                job = await self._store.get_job(job_id)
                if job is not None:
                    await self._finish(job, JobStatus.FAILED, error=reasons.UNREADABLE)
                self._forget(job_id)
            else:
                self._retry_later(job_id, self._config.polling.cap)
        finally:
            self._active.discard(job_id)

    def _retry_later(self, job_id: str, delay: float) -> None:
        if job_id in self._states:
            self._schedule(job_id, self._clock() + delay)

    def _call_budget(self, job: JobRecord) -> float:
        """Return how long the next provider call for ``job`` may take.

        Seconds the next provider call for ``job`` may take: the call deadline, or less
        when the job's own time limit comes first.
        """
        limit_at = self._limit_at(job)
        budget = self._config.call_deadline
        if limit_at is not None:
            budget = min(budget, limit_at - self._clock())
        return max(0.001, budget)

    def _limit_at(self, job: JobRecord) -> float | None:
        if job.status is JobStatus.QUEUED and job.submitted_at is not None:
            return job.submitted_at + self._config.queue_timeout
        if job.status is JobStatus.RUNNING and job.started_at is not None:
            return job.started_at + self._config.run_timeout
        return None

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
        assert isinstance(provider, Provider) and job.request_id is not None
        try:
            async with asyncio.timeout(self._call_budget(job)), self._slot(job.provider, "poll"):
                status = await provider.status(job.request_id)
        except TimeoutError:
            if not await self._check_time_limit(job):
                state.failures += 1
                log.info("Status of job %s took too long; asking again later", job.short_id)
                self._schedule(job_id, self._clock() + error_delay(
                    state.failures, None, self._config.polling))
            return
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
            await self._complete(job, state, provider)
            return
        if status.state is RemoteState.FAILED:
            # The provider's own words go to the log only (they may carry anything).
            log.info("Job %s failed at the provider", job.short_id)
            await self._finish(job, JobStatus.FAILED, error=reasons.FAILED_REMOTELY)
            return
        if status.state is RemoteState.CANCELLED:
            await self._finish(job, JobStatus.CANCELLED, error=reasons.CANCELLED_REMOTELY)
            return

        if status.state is RemoteState.QUEUED and job.status is JobStatus.QUEUED:
            state.last_queued_poll = now
            state.polls_in_status += 1
            if status.queue_position != job.queue_position:
                updated = await self._store.transition_job(
                    job.id, [JobStatus.QUEUED], queue_position=status.queue_position)
                if updated is not None:
                    await self._emit(JobEvent(job=updated, eta=self.eta(updated, now)))
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
                await self._emit(JobEvent(job=running, eta=self.eta(running, now)))
        else:
            state.polls_in_status += 1
        self._schedule(job_id, now + next_delay(state, job.model, now, self._history,
                                                self._config.polling))

    async def _complete(self, job: JobRecord, state: PollState, provider: Provider) -> None:
        assert job.request_id is not None
        try:
            async with asyncio.timeout(self._call_budget(job)), \
                    self._slot(job.provider, "result"):
                result = await provider.result(job.request_id)
        except (ProviderError, TimeoutError) as exc:
            failures = self._result_failures.get(job.id, 0) + 1
            self._result_failures[job.id] = failures
            if await self._check_time_limit(job):
                return
            if failures >= RESULT_FAILURES_MAX or isinstance(exc, RequestNotFound):
                error = (exc.user_message if isinstance(exc, ProviderError)
                         else reasons.UNREADABLE)
                await self._finish(job, JobStatus.FAILED, error=error)
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
        """End ``job`` if its time limit has passed (by the tracker's clock)."""
        limit_at = self._limit_at(job)
        if limit_at is None or self._clock() <= limit_at:
            return False
        if job.status is JobStatus.QUEUED:
            provider = self._providers.get(job.provider)
            if job.request_id is not None and isinstance(provider, Provider):
                with contextlib.suppress(ProviderError, TimeoutError):
                    async with asyncio.timeout(min(5.0, self._config.call_deadline)):
                        await provider.cancel(job.request_id)
            await self._finish(job, JobStatus.FAILED, error=reasons.TIMED_OUT_QUEUED)
        else:
            await self._finish(job, JobStatus.FAILED, error=reasons.TIMED_OUT_RUNNING)
        return True

    # ------------------------------------------------------------------ writing, announcing

    async def _durable(self, write: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
        """Run a store write until the database takes it.

        A lock held elsewhere delays it, never loses it (the result waits here, in memory).
        """
        delay = 0.05
        attempt = 0
        while True:
            try:
                return await write()
            except StoreBusyError as exc:
                attempt += 1
                if attempt == 1 or attempt % 10 == 0:
                    log.warning("Database busy (%s); retrying a job write (try %d)", exc,
                                attempt)
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)

    async def _finish(self, job: JobRecord, status: JobStatus, *, resumed: bool = False,
                      announce: bool = True, **fields: object) -> JobRecord | None:
        """Write a terminal state once, then announce it.

        A compare-and-set, retried while the database is busy.
        """
        ended = await self._durable(lambda: self._store.transition_job(
            job.id, UNFINISHED_STATUSES, status=status, finished_at=self._clock(), **fields))
        self._forget(job.id)
        if ended is not None:
            await self._emit(JobEvent(job=ended, resumed=resumed, announce=announce))
        return ended

    async def finish(self, job: JobRecord, status: JobStatus, *, resumed: bool = False,
                     **fields: Any) -> None:
        """End ``job`` (used by :class:`SyncCalls`)."""
        await self._finish(job, status, resumed=resumed, **fields)

    def _forget(self, job_id: str) -> None:
        self._states.pop(job_id, None)
        self._result_failures.pop(job_id, None)

    def eta(self, job: JobRecord, now: float) -> float | None:
        """Return when ``job`` should end (seconds since the epoch), or None when unknown."""
        run = self._history.typical_run(job.model)
        if job.status is JobStatus.RUNNING:
            start = job.started_at or now
            return max(now + 1.0, start + run)
        if job.status is JobStatus.QUEUED:
            submitted = job.submitted_at or now
            return max(now + 1.0, submitted + self._history.typical_queue(job.model) + run)
        return None

    async def emit(self, event: JobEvent) -> None:
        """Announce ``event`` to every listener."""
        await self._emit(event)

    async def _emit(self, event: JobEvent) -> None:
        for listener in self._listeners:
            try:
                await listener.on_job_event(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Listener failed on job %s (%s)", event.job.short_id,
                              event.status)
