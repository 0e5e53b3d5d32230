"""The quota service: applies :mod:`bot.quota`'s policy on the store.

- :meth:`QuotaService.admit_batch` — what answering a command waits for: the command's
  images (one, or ``count:N``) reserved and their job rows written with them, or
  :class:`~bot.quota.QuotaDenied`. Concurrent requests are decided in arrival order by one
  drainer task, up to ``MAX_GROUP`` per write transaction (group commit). The transaction
  reads the snapshots of the group's members once, then decides in order, counting each
  grant on top exactly as the usage triggers will count its reservation, so a group
  decides exactly as the same requests one transaction each would, with one BEGIN/COMMIT
  (and one log write), one read and one write of reservations for many (see
  ``bench/quota.py``). :meth:`QuotaService.admit` is the same for one job, and
  :meth:`QuotaService.reserve` without the job row. On SQLite the transaction holds the
  file (``BEGIN IMMEDIATE``); on PostgreSQL it first locks the usage row of each (server,
  month) it decides for, so decisions of other processes about the same servers wait for
  it, then read what it wrote: exact across processes too.
- :meth:`QuotaService.on_job_event` — the tracker listener: a job's end commits
  (completed) or releases (failed, cancelled, timed out, refused) its reservation.
- :meth:`QuotaService.reconcile` — at start and periodically, settles what a stopped
  process or an error left reserved.
- :meth:`QuotaService.snapshot`, :meth:`QuotaService.allowance` — limits and use as a
  reservation would see them (``/quota show``, a result's footer).

Moderators' changes are :mod:`bot.quota_admin`'s.

Do not call :meth:`reserve` from inside a store transaction: the drainer needs the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from bot.i18n import lazy, lazy_ngettext
from bot.jobs import JobRecord, JobStatus
from bot.pricing import PriceTable
from bot.quota import (
    UNITS_PER_IMAGE,
    Allowance,
    QuotaDenied,
    ReconcileReport,
    Reservation,
    Snapshot,
    Window,
    decide,
    relative,
    snapshot_from_row,
)
from bot.store import Store, StoreBusyError, StoreConflictError
from bot.tracker import JobEvent

log = logging.getLogger(__name__)

#: The most reservation decisions one transaction makes, for as many commands (group
#: commit; it holds the store meanwhile: about 10-20 ms at this size on a small machine).
MAX_GROUP: Final = 128
#: Tries to settle a reservation while the database is busy, before leaving it to the
#: periodic reconciliation.
SETTLE_ATTEMPTS: Final = 4


@dataclass(slots=True)
class _Request:
    """One decision: one job, or the jobs of a ``count:N`` batch (all or none)."""

    jobs: list[JobRecord]
    estimates: list[float]
    future: asyncio.Future[list[Reservation]]
    record_job: bool = False

    @property
    def job(self) -> JobRecord:
        return self.jobs[0]


def _with_what_fits(denial: QuotaDenied, snapshot: Snapshot, window: Window, now: float,
                    request: _Request) -> QuotaDenied:
    """For a batch the limits refused whole: say how many images would still fit."""
    wanted = len(request.jobs)
    fits = next((n for n in range(wanted - 1, 0, -1)
                 if decide(snapshot, window, now, units=n * UNITS_PER_IMAGE,
                           estimate=sum(request.estimates[:n])) is None), 0)
    if wanted == 1 or fits == 0:
        return denial
    if denial.left is not None and denial.retry_at is not None:
        # The limit has said how many are left: only what to do remains to be said.
        return QuotaDenied(denial.kind, lazy(
            "{left} Use `/ideogram count:{count}`, or try again {when}", left=denial.left,
            count=fits, when=relative(denial.retry_at)), denial.retry_at, left=denial.left)
    # The reason is the denial itself: shown (translated) when the sentence is.
    return QuotaDenied(denial.kind, lazy_ngettext(
        "{reason}. Only {n} more image fits now: use `/ideogram count:{count}`.",
        "{reason}. Only {n} more images fit now: use `/ideogram count:{count}`.",
        fits, reason=denial, count=fits), denial.retry_at)


class _GroupState:
    """The quota snapshots of one group of decisions (one transaction).

    The snapshots of one group, read once inside its transaction (after the guilds'
    usage rows were locked), and the group's own grants counted on top exactly as the usage
    triggers will count their reservation rows, in the same order: every decision sees the
    ones before it, as if it had read the database again.
    """

    def __init__(self, rows: Mapping[tuple[int, int], Any]) -> None:
        self._read: dict[tuple[int, int], Snapshot] = {
            key: snapshot_from_row(row) for key, row in rows.items()}
        # Running figures: per guild (day, month, reserved cost), per member (day, in
        # flight, latest reservation); present once the group granted something there.
        self._guilds: dict[int, tuple[int, int, float]] = {}
        self._members: dict[tuple[int, int], tuple[int, int, float | None]] = {}
        self.reservations: list[dict[str, object]] = []

    def snapshot(self, key: tuple[int, int]) -> Snapshot:
        read = self._read[key]
        use = read.usage
        if key[0] in self._guilds:
            day, month, reserved = self._guilds[key[0]]
            use = replace(use, guild_day=day, guild_month=month, month_reserved=reserved)
        if key in self._members:
            user_day, in_flight, last = self._members[key]
            use = replace(use, user_day=user_day, in_flight=in_flight, last_reserved_at=last)
        return read if use is read.usage else replace(read, usage=use)

    def grant(self, key: tuple[int, int], units: int, estimate: float, now: float) -> None:
        use = self.snapshot(key).usage
        self._guilds[key[0]] = (use.guild_day + units, use.guild_month + units,
                                use.month_reserved + estimate)
        self._members[key] = (use.user_day + units, use.in_flight + 1, now)


class QuotaService:
    """Reserves and settles quotas on the store, and reads a member's allowance.

    Also the tracker listener that settles a reservation when its job ends (register it before the
    Discord one).
    """

    def __init__(self, store: Store, prices: PriceTable | None = None, *,
                 clock: Callable[[], float] = time.time, max_group: int = MAX_GROUP) -> None:
        if max_group < 1:
            raise ValueError("max_group must be at least 1")
        self._store = store
        self.prices = prices or PriceTable()
        self._clock = clock
        self._max_group = max_group
        self._queue: deque[_Request] = deque()
        self._drainer: asyncio.Task[None] | None = None

    # -- reserve / settle ------------------------------------------------------------

    async def admit(self, job: JobRecord) -> Reservation:
        """Reserve one image for ``job`` and write the job's row.

        Both in one transaction; else raise :class:`QuotaDenied`, and nothing is recorded.

        This is what answering a command waits for: the transaction is *urgent* (it goes
        before the tracker's queued store work) and shared with the other admissions that
        arrived meanwhile (group commit). If the caller is cancelled after its admission
        was recorded, the job is left ``pending`` and the tracker or the reconciliation
        ends it (nothing is lost and nothing stays reserved).
        """
        return (await self._request([job], record_job=True))[0]

    async def admit_batch(self, jobs: list[JobRecord]) -> list[Reservation]:
        """Reserve the images of one command, all or none.

        :meth:`admit` for the images of one command (``count:N``), in one decision: all
        are reserved (one reservation each, settled each on its own) or none, and a
        refusal says how many would still fit.
        """
        if not jobs:
            raise ValueError("a batch has at least one job")
        return await self._request(list(jobs), record_job=True)

    async def reserve(self, job: JobRecord, *, record_job: bool = False) -> Reservation:
        """Reserve one image for ``job`` or raise :class:`QuotaDenied` (nothing recorded).

        The decision and the reservation happen in one ``BEGIN IMMEDIATE`` transaction
        (shared with the other requests of the same group); with ``record_job`` the job's
        row is inserted in it too (see :meth:`admit`). If the caller is cancelled after a
        reservation without a job row was recorded, the reservation is released.
        """
        return (await self._request([job], record_job=record_job))[0]

    async def _request(self, jobs: list[JobRecord], *,
                       record_job: bool) -> list[Reservation]:
        if any(job.guild_id is None for job in jobs):
            raise ValueError("quotas are per server: a job without a guild cannot reserve")
        request = _Request(jobs, [self.prices.estimate(j.model, j.inputs) for j in jobs],
                           asyncio.get_running_loop().create_future(), record_job)
        self._queue.append(request)
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain(), name="quota-reservations")
        try:
            return await request.future
        except asyncio.CancelledError:
            future = request.future
            if (future.done() and not future.cancelled() and future.exception() is None
                    and not record_job):
                # Granted, but the caller was cancelled before it could take the answer.
                for job in jobs:
                    await asyncio.shield(self._release_abandoned(job.id))
            raise

    async def _drain(self) -> None:
        group: list[_Request] = []
        try:
            while self._queue:
                group = [self._queue.popleft()
                         for _ in range(min(self._max_group, len(self._queue)))]
                await self._decide_group(group)
                group = []
        except BaseException:
            # Only a cancellation gets here (shutdown): nobody will decide the rest.
            for request in (*group, *self._queue):
                request.future.cancel()
            self._queue.clear()
            raise
        finally:
            self._drainer = None

    async def _decide_group(self, group: list[_Request]) -> None:
        now = self._clock()
        window = Window.at(now)

        async def decide_all() -> list[tuple[_Request, list[Reservation] | QuotaDenied]]:
            waiting = [r for r in group if not r.future.done()]  # else its caller gave up
            await self._store.lock_quota_guilds(
                {(r.job.guild_id, window.month) for r in waiting if r.job.guild_id is not None})
            state = _GroupState(await self._store.quota_snapshot_rows(
                sorted({(r.job.guild_id, r.job.user_id) for r in waiting
                        if r.job.guild_id is not None}), window.day, window.month))
            decided = [(request, await self._decide(request, now, window, state))
                       for request in waiting]
            # Neither the reservations nor the job rows change a decision any more (the
            # state already counts them): each written together, in one statement.
            await self._store.insert_reservations(state.reservations)
            await self._store.insert_jobs([
                job for request, outcome in decided
                if request.record_job and not isinstance(outcome, QuotaDenied)
                for job in request.jobs])
            return decided

        try:
            decided = await self._store.run_transaction(decide_all, immediate=True, urgent=True)
        except Exception as exc:  # nothing of the group was recorded
            for request in group:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        for request, outcome in decided:
            if request.future.done():  # the caller was cancelled while the group ran
                if not isinstance(outcome, QuotaDenied) and not request.record_job:
                    for reservation in outcome:
                        await self._release_abandoned(reservation.job_key)
            elif isinstance(outcome, QuotaDenied):
                request.future.set_exception(outcome)
            else:
                request.future.set_result(outcome)

    async def _decide(self, request: _Request, now: float, window: Window,
                      state: _GroupState) -> list[Reservation] | QuotaDenied:
        job = request.job
        assert job.guild_id is not None
        key = (job.guild_id, job.user_id)
        snapshot = state.snapshot(key)
        denial = decide(snapshot, window, now, units=len(request.jobs) * UNITS_PER_IMAGE,
                        estimate=sum(request.estimates))
        if denial is not None:
            return _with_what_fits(denial, snapshot, window, now, request)
        granted = []
        for each, estimate in zip(request.jobs, request.estimates, strict=True):
            state.grant(key, UNITS_PER_IMAGE, estimate, now)
            state.reservations.append({
                "guild_id": job.guild_id, "user_id": job.user_id, "day": window.day,
                "month": window.month, "job_key": each.id, "units": UNITS_PER_IMAGE,
                "cost_estimate": estimate, "created_at": now})
            granted.append(Reservation(
                job_key=each.id, guild_id=job.guild_id, user_id=job.user_id,
                units=UNITS_PER_IMAGE, cost_estimate=estimate, day=window.day,
                month=window.month))
        return granted

    async def _release_abandoned(self, job_key: str) -> None:
        try:
            await self.release(job_key)
        except Exception:
            log.exception("Releasing the abandoned reservation %s failed (the next start "
                          "releases it)", job_key[:8])

    async def release(self, job_key: str) -> bool:
        """Give a reserved image back (failure, cancellation, a launch that never got to submit).

        False if there was nothing reserved under ``job_key``.
        """
        # One statement: atomic without a transaction (whose BEGIN and COMMIT would be two
        # more waits on the store's connection).
        return await self._store.settle_reservation(job_key, "released", None, self._clock())

    async def commit(self, job: JobRecord) -> bool:
        """Charge a completed job.

        At the provider's cost, else the price table's (which then becomes the job's cost too).
        False if there was nothing reserved.
        """
        now = self._clock()
        if job.cost is not None:  # one statement: atomic without a transaction
            return await self._store.settle_reservation(job.id, "committed", job.cost, now)
        cost = self.prices.estimate(job.model, job.inputs)

        async def commit() -> bool:
            settled = await self._store.settle_reservation(job.id, "committed", cost, now)
            await self._store.set_job_costs_if_missing([(cost, job.id)])
            return settled

        return await self._store.run_transaction(commit)

    async def settle(self, job: JobRecord) -> bool:
        """Settle an ended job's reservation.

        Commit (completed) or release (failed, cancelled) an ended job's reservation;
        settling twice is harmless. Unfinished jobs are left alone.
        """
        if not job.status.terminal:
            return False
        if job.status is JobStatus.COMPLETED:
            return await self.commit(job)
        return await self.release(job.id)

    async def on_job_event(self, event: JobEvent) -> None:
        """Settle an ended job's reservation.

        A database that stays busy is retried a few times; past that the periodic reconciliation
        settles it (never blocking the member's next request until a restart).
        """
        if not event.status.terminal:
            return
        for attempt in range(1, SETTLE_ATTEMPTS + 1):
            try:
                if await self.settle(event.job):
                    log.debug("Settled the reservation of job %s (%s)", event.job.short_id,
                              event.status)
                return
            except (StoreBusyError, StoreConflictError):  # busy; a deadlock PostgreSQL broke
                if attempt == SETTLE_ATTEMPTS:
                    log.warning("Settling job %s: database busy; the reconciliation will "
                                "settle it", event.job.short_id)
                    return
                await asyncio.sleep(0.1 * 2 ** attempt)

    async def reconcile(self, *, orphan_age: float = 0.0) -> ReconcileReport:
        """Settle what an error or a stopped process left reserved.

        At start (before the tracker resumes) and periodically.

        Completed job → committed; no job row, or a job failed or cancelled → released;
        unfinished jobs keep their reservation (their end settles it). Reservations younger
        than ``orphan_age`` seconds are left alone. Safe to run again: only ``reserved``
        rows change.
        """
        now = self._clock()

        async def reconcile() -> tuple[int, int]:
            settled = await self._store.reconcile_commit_completed(now)
            await self._store.set_job_costs_if_missing(
                [(row["cost_actual"], row["job_key"]) for row in settled])
            released = await self._store.reconcile_release_orphans(now, now - orphan_age)
            return len(settled), released

        committed, released = await self._store.run_transaction(reconcile)
        if committed or released:
            log.info("Quota reconciliation: %d reservation(s) committed, %d released",
                     committed, released)
        return ReconcileReport(committed=max(0, committed), released=max(0, released))

    # -- reading ---------------------------------------------------------------------

    async def snapshot(self, guild_id: int, user_id: int) -> Snapshot:
        """Limits and use for a member (and the server), as a reservation would see them now."""
        window = Window.at(self._clock())
        params = {"guild_id": guild_id, "user_id": user_id, "day": window.day,
                  "month": window.month}
        return snapshot_from_row(await self._store.quota_snapshot_row(params))

    async def allowance(self, guild_id: int, user_id: int) -> Allowance:
        """Return what the member may still use today and this month."""
        return Allowance.of(await self.snapshot(guild_id, user_id))

    async def footer_text(self, job: JobRecord) -> str | None:
        """The requester's remaining allowance for a result's footer ("7 left today")."""
        if job.guild_id is None:
            return None
        return (await self.allowance(job.guild_id, job.user_id)).footer_text()
