"""The job tracker: one owner for every unfinished job.

Life of a job: the launch path writes the row (``pending``, with its quota reservation)
before the interaction is answered, then hands the job over with :meth:`JobTracker.accept`.
The tracker submits it in a task it owns (:mod:`bot.tracker.submission`): ``submitting_at``
is written just before the request and the request id the moment it answers, so a restart
can tell a job that was never sent (it is sent now) from one that may have been (it ends,
never resent: a resend is a second charge). A scheduler then polls each job when
:func:`bot.polling.next_delay` says it is worth it (:mod:`bot.tracker.poller`). Every state
change is written to the store (compare-and-set on the status) *before* listeners hear of
it, so a terminal state is announced exactly once.

Time limits are kept by the tracker's clock: every provider call (and the wait for a free
call slot) is bounded by the job's own limit, so a stalled provider cannot keep a job alive.
Status polls, result fetches and submits have separate slots per provider, so neither
starves the others. A terminal state that the database refuses for a moment (locked) is
held in memory and written again until it is saved. Why a job ended is stored as a code
(:mod:`bot.job_errors`).

Synchronous providers (one long call makes the image) run through :class:`SyncCalls`.
At start the tracker resumes unfinished jobs and re-announces undelivered ones; a periodic
reconciliation adopts any unfinished job an error left untracked (:mod:`bot.tracker.adoption`
says what happens to each state). With several processes on one database (PostgreSQL) it
takes only the jobs the store says this process owns (job leases, :mod:`bot.leases`), and
:meth:`JobTracker.take_over` / :meth:`JobTracker.let_go` follow what the lease keeper finds
later. Nothing here imports Discord.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot import job_errors
from bot.inputs import ALL_MODELS
from bot.jobs import UNFINISHED_STATUSES, JobRecord, JobStatus
from bot.owned_tasks import OwnedTasks, cancel_and_wait
from bot.polling import DurationHistory, PollingConfig
from bot.providers.base import AnyProvider, SyncProvider
from bot.providers.errors import ProviderUnavailable
from bot.providers.types import CancelOutcome
from bot.source_links import LinkRenewer
from bot.store import JOB_ENDED_TOPIC, Store, StoreBusyError
from bot.tracker.adoption import Adoption
from bot.tracker.events import JobEvent, JobListener, ReplyConfirmer
from bot.tracker.poller import Poller
from bot.tracker.replies import ReplyIds
from bot.tracker.submission import Submissions
from bot.tracker.sync_calls import SyncCalls

log = logging.getLogger(__name__)
#: Longest a stop waits to write the reply ids still pending.
REPLY_FLUSH_AT_STOP_SECONDS = 2.0
#: What a store write returns, handed back by :meth:`JobTracker.durable`.
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Time limits, concurrency and intervals of the tracker (seconds)."""

    queue_timeout: float = 600.0
    run_timeout: float = 600.0
    #: Past the queue limit, how long a job whose cancel did not get through is still
    #: watched (and the cancel tried again): the provider may yet make, and bill, it. Past
    #: the run limit, how long the provider is asked again when it could not say whether it
    #: made the image (busy, or out of reach).
    cancel_grace: float = 300.0
    #: Most simultaneous calls per provider, for each of: submits, status polls, results.
    concurrency: int = 16
    #: Unfinished jobs adopted at once at a start: a never-sent job whose reply id was not
    #: written asks Discord about its reply, and after a burst there may be hundreds.
    adopt_concurrency: int = 8
    #: Longest one provider call may take (retries included), whatever its job's limit.
    call_deadline: float = 30.0
    #: Seconds between reconciliations (adopting jobs an error left untracked); 0 = never.
    reconcile_interval: float = 300.0
    polling: PollingConfig = field(default_factory=PollingConfig)


class JobTracker:
    """Follows every unfinished job from submit to its end, and announces each change."""

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
        self._release_listeners: list[Callable[[set[str]], None]] = []
        self._slots: dict[tuple[str, str], asyncio.Semaphore] = {}
        self._history = DurationHistory(self._config.polling)
        self._scheduler: asyncio.Task[None] | None = None
        self._reconciler: asyncio.Task[None] | None = None
        self._tasks = OwnedTasks()
        self.poller = Poller(self)
        self.sync = SyncCalls(self)
        self._submissions = Submissions(self)
        self.replies = ReplyIds(self)
        self._adoption = Adoption(self)
        self._hearing_ends = False  # told of the ends other processes make (PostgreSQL)
        self._ending_here: set[str] = set()  # cancels this process is writing and announcing

    # ------------------------------------------------------------------ lifecycle

    def add_listener(self, listener: JobListener) -> None:
        """Announce every job event to ``listener`` too."""
        self._listeners.append(listener)

    def give_way_to(self, answers_done: Callable[[], Awaitable[object]]) -> None:
        """Let commands be answered before jobs are sent.

        A new submit waits for ``answers_done()`` (at most ``SUBMIT_YIELD_SECONDS``), so a
        burst is answered within Discord's limit before its jobs are sent, which is never
        as urgent.
        """
        self._submissions.give_way_to(answers_done)

    def renew_links_with(self, renew: LinkRenewer) -> None:
        """How to get a fresh Discord link for a reframe's source image that expires.

        Asked just before such a job is sent (:mod:`bot.source_links`).
        """
        self._submissions.renew_links_with(renew)

    def set_reply_confirmer(self, confirm: ReplyConfirmer) -> None:
        """How to ask, after a restart, whether a never-sent job's reply exists."""
        self._adoption.set_reply_confirmer(confirm)

    @property
    def history(self) -> DurationHistory:
        """Recent queue and run times, per model."""
        return self._history

    @property
    def config(self) -> TrackerConfig:
        """The tracker's limits and intervals."""
        return self._config

    @property
    def store(self) -> Store:
        """The store every state change is written to."""
        return self._store

    def provider(self, key: str) -> AnyProvider | None:
        """The provider a job names, or None when it is no longer configured."""
        return self._providers.get(key)

    @property
    def tracked(self) -> int:
        """Jobs held in memory: polled, being submitted, or in a synchronous call."""
        return self.poller.count + self._submissions.count + self.sync.count

    @property
    def sending(self) -> int:
        """Jobs accepted here whose send to the provider has not been answered yet."""
        return self._submissions.count

    def tracks(self, job_id: str) -> bool:
        """Tell whether this tracker follows the job now."""
        return (self.poller.tracks(job_id) or self._submissions.tracks(job_id)
                or self.sync.tracks(job_id))

    def now(self) -> float:
        """The tracker's clock (Unix time)."""
        return self._clock()

    async def start(self) -> None:
        """Learn timings from the store, resume unfinished jobs, re-announce undelivered ones."""
        if self._scheduler is not None:
            return
        if self._store.leases_enabled and not self._hearing_ends:
            self._hearing_ends = True
            await self._store.subscribe(JOB_ENDED_TOPIC, self._ended_elsewhere)
        unfinished = await self._store.take_unfinished_jobs()
        for model in {j.model for j in unfinished} | set(ALL_MODELS):
            for queue_s, run_s in await self._store.recent_durations(model, limit=50):
                self._history.record(model, queue_s, run_s)
        self._scheduler = asyncio.create_task(self.poller.run(), name="job-tracker")
        await self._adoption.adopt_all(unfinished)
        for job in await self._store.take_undelivered_jobs():
            await self.emit(JobEvent(job=job, resumed=True))
        if self._config.reconcile_interval > 0:
            self._reconciler = asyncio.create_task(self._adoption.reconcile_forever(),
                                                   name="job-reconciler")

    async def stop(self) -> None:
        """Cancel the scheduler and every task the tracker owns.

        Jobs stay in the store for the next start (which fails a synchronous job that was
        running).
        """
        try:
            # What an answered command showed, kept for a restart (not waited for without
            # end: a database gone at the stop leaves those jobs to be asked about again).
            async with asyncio.timeout(REPLY_FLUSH_AT_STOP_SECONDS):
                await self.replies.flush()
        except Exception:
            log.exception("Writing the last reply ids failed")
        await cancel_and_wait([self._scheduler, self._reconciler, *self._tasks.take()])
        self._scheduler = self._reconciler = None
        self.poller.clear()
        self._submissions.clear()
        self.sync.clear()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task the tracker owns (cancelled by :meth:`stop`)."""
        return self._tasks.spawn(coro, name)

    async def wait_idle(self) -> None:
        """Wait until no submit, poll or call task is running (tests and benchmarks)."""
        await self._tasks.wait_idle()

    def slot(self, provider_key: str, kind: str) -> asyncio.Semaphore:
        """The call slots of one provider for one kind of call (submit, poll, result)."""
        slot = self._slots.get((provider_key, kind))
        if slot is None:
            slot = self._slots[(provider_key, kind)] = asyncio.Semaphore(
                self._config.concurrency)
        return slot

    # ------------------------------------------------------------------ taking jobs

    def accept(self, job: JobRecord) -> JobRecord:
        """Take a ``pending`` job whose row and reservation are written; submit it later.

        The submit runs in the background; ``job.message_id``, when known, is saved with it.
        """
        return self._submissions.accept(job)

    async def submit(self, job: JobRecord) -> JobRecord:
        """For tests and benchmarks: write a new job row, submit it and start tracking.

        Returns how it went. Failures end the job (announced); never raises
        :class:`ProviderError`. The bot's launch path writes the row with its reservation
        (:meth:`bot.quota_service.QuotaService.admit_batch`), then calls :meth:`accept`.
        """
        return await self._submissions.submit(job)

    async def abandon(self, job: JobRecord, reason: str) -> JobRecord | None:
        """End a job whose interaction was never answered: failed, settled, not shown.

        ``reason`` is a stored reason (:mod:`bot.job_errors`).
        """
        return await self.finish(job, JobStatus.FAILED, announce=False, error=reason,
                                 delivered_at=self._clock())

    # ------------------------------------------------------------------ cancel, delivery

    def cancellable(self, job: JobRecord) -> bool:
        """Whether :meth:`cancel` may stop ``job`` as it stands.

        Queued at a provider (it has a request id there), or waiting for a synchronous
        provider's free call slot.
        """
        if job.status is not JobStatus.QUEUED:
            return False
        return (job.request_id is not None
                or isinstance(self._providers.get(job.provider), SyncProvider))

    async def cancel(self, job_id: str) -> CancelOutcome:
        """Ask the provider to cancel a queued job; on success the job ends ``cancelled``.

        Raises :class:`~bot.providers.errors.ProviderError` when the provider could not be
        asked (its call deadline included). Not cancellable when the job ended meanwhile
        (it finished first).
        """
        job = await self._store.get_job(job_id)
        if job is None or job.status.terminal:
            return CancelOutcome.NOT_CANCELLABLE
        provider = self._providers.get(job.provider)
        if isinstance(provider, SyncProvider):
            return await self.sync.cancel(job)
        if job.status is not JobStatus.QUEUED or job.request_id is None or provider is None:
            return CancelOutcome.NOT_CANCELLABLE
        try:
            async with asyncio.timeout(self._config.call_deadline), \
                    self.slot(job.provider, "poll"):
                outcome = await provider.cancel(job.request_id)
        except TimeoutError:
            raise ProviderUnavailable(
                f"no answer to the cancel within {self._config.call_deadline:g} s") from None
        if outcome is CancelOutcome.CANCELLED:
            ended = await self.end_cancelled(job, UNFINISHED_STATUSES)
            if ended is None:  # it ended first (completed, failed) as the cancel went out
                return CancelOutcome.NOT_CANCELLABLE
        return outcome

    async def end_cancelled(self, job: JobRecord,
                            expected: tuple[JobStatus, ...]) -> JobRecord | None:
        """End ``job`` as cancelled on request, and announce it; None if it ended already.

        Only while its status is one of ``expected``.

        With several processes on one database, the process that follows the job is told
        through the store, in the same transaction: it stops following the job and drops
        the progress edit it may have scheduled, which must not land after, and hide, the end.
        """
        changes = {"status": JobStatus.CANCELLED, "finished_at": self._clock(),
                   "error": job_errors.CANCELLED}
        followed_elsewhere = self._store.leases_enabled and not self.tracks(job.id)
        end = self._store.end_for_follower if followed_elsewhere else self._store.transition_job
        # A poll or call meanwhile must not take this end for another process's.
        self.poller.forget(job.id)
        self._ending_here.add(job.id)
        try:
            ended = await self.durable(lambda: end(job.id, expected, **changes))
            if ended is not None:
                await self.emit(JobEvent(job=ended, ended=True))
        finally:
            self._ending_here.discard(job.id)
        return ended

    async def _ended_elsewhere(self, job_id: str | None) -> None:
        """Another process ended (and showed the end of) a job this one follows.

        After notices were lost (``None``), the next poll finds such a job ended
        (:meth:`found_ended`).
        """
        if job_id is not None:
            self.found_ended(job_id)

    def found_ended(self, job_id: str) -> None:
        """Stop following a job found ended by another process, which shows the end.

        The release listeners are told. Whichever comes first: the notice, this process's
        own poll reading the ended row, or its own end of the job refused because the job
        had ended already.
        """
        followed = self.tracks(job_id)
        self.poller.forget(job_id)
        if followed and job_id not in self._ending_here:
            self._released({job_id})

    async def mark_delivered(self, job_id: str) -> None:
        """Record that nothing more is to be shown for the job.

        Its final message reached Discord, or Discord refused it for good; either way the
        reconciliation no longer announces it.
        """
        await self.durable(lambda: self._store.update_job(job_id, delivered_at=self._clock()))

    # ------------------------------------------------------------------ reconciliation

    async def reconcile(self) -> int:
        """Adopt untracked unfinished jobs, and announce finished ones never delivered.

        An error or a lost task can leave such jobs. Returns how many jobs it picked up.
        """
        return await self._adoption.reconcile()

    async def take_over(self, job: JobRecord) -> None:
        """Take a job this process has just come to own (its lease ran out elsewhere).

        An unfinished one is resumed, a finished one announced for delivery.
        """
        if self._scheduler is None:
            return
        await self._adoption.take_over(job)

    def polled_ids(self) -> set[str]:
        """The jobs this tracker polls right now (asynchronous providers)."""
        return self.poller.polled_ids()

    def add_release_listener(self, listener: Callable[[set[str]], None]) -> None:
        """Call ``listener(job_ids)`` with the jobs this process no longer follows.

        Those it lets go (:meth:`let_go`), or that another process ended and showed (a
        cancel asked of it).

        No event ever comes for them here again: whoever keeps something per job (a reply,
        a gauge) forgets it.
        """
        self._release_listeners.append(listener)

    def let_go(self, job_ids: set[str]) -> None:
        """Stop polling jobs this process no longer owns, and tell the release listeners.

        Another process took them over while this one could not renew its leases.
        """
        self._released(self.poller.let_go(job_ids))

    def _released(self, job_ids: set[str]) -> None:
        """Tell the release listeners that this process no longer follows ``job_ids``."""
        if not job_ids:
            return
        for listener in self._release_listeners:
            try:
                listener(job_ids)
            except Exception:
                log.exception("A release listener failed")

    # ------------------------------------------------------------------ writing, announcing

    async def durable(self, write: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
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

    async def finish(self, job: JobRecord, status: JobStatus, *, resumed: bool = False,
                     announce: bool = True, unsent_only: bool = False,
                     **fields: Any) -> JobRecord | None:
        """End ``job``: write its terminal state once, then announce it.

        The write is a compare-and-set, retried while the database is busy. With
        ``unsent_only``, only a job still pending and never sent is ended (a job whose send
        another process started is that process's to end).
        """
        changes = {"status": status, "finished_at": self._clock(), **fields}
        if unsent_only:
            ended = await self.durable(lambda: self._store.end_unsent(job.id, **changes))
        else:
            ended = await self.durable(lambda: self._store.transition_job(
                job.id, UNFINISHED_STATUSES, **changes))
        if ended is None:  # it had ended already: here (nothing more to do), or elsewhere
            self.found_ended(job.id)
            return None
        self.poller.forget(job.id)
        await self.emit(JobEvent(job=ended, resumed=resumed, announce=announce, ended=True))
        return ended

    def eta(self, job: JobRecord, now: float) -> float | None:
        """When the job's result is expected (Unix time), or None when it cannot be told."""
        run = self._history.typical_run(job.model)
        if job.status is JobStatus.RUNNING:
            start = job.started_at or now
            return max(now + 1.0, start + run)
        if job.status is JobStatus.QUEUED:
            submitted = job.submitted_at or now
            return max(now + 1.0, submitted + self._history.typical_queue(job.model) + run)
        return None

    async def emit(self, event: JobEvent) -> None:
        """Announce ``event`` to every listener; a failing listener is logged and skipped."""
        for listener in self._listeners:
            try:
                await listener.on_job_event(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Listener failed on job %s (%s)", event.job.short_id,
                              event.status)
