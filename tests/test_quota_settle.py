"""Every end of a job settles its reservation exactly once: the real tracker, the local
provider server and a real SQLite file; restarts are a second Store on the same file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.jobs import JobRecord, JobStatus
from bot.localserver.app import LocalRunComfyServer
from bot.providers.retry import RetryPolicy
from bot.providers.runcomfy import RunComfyClient
from bot.quota_admin import QuotaAdmin
from bot.quota_service import QuotaService
from bot.store import Store
from bot.tracker import JobEvent, JobTracker, TrackerConfig
from tests.helpers import FAST_POLLING, TOKEN, make_job, tracker_running, url_rows

GUILD = 1  # make_job's guild
MOD = 99


class Ends:
    """Waits for terminal events (registered after the quota listener, like Discord's)."""

    def __init__(self) -> None:
        self.done: dict[str, asyncio.Event] = {}

    async def on_job_event(self, event: JobEvent) -> None:
        if event.status.terminal:
            self.done.setdefault(event.job.id, asyncio.Event()).set()

    async def wait(self, job_id: str, limit: float = 10.0) -> None:
        async with asyncio.timeout(limit):
            await self.done.setdefault(job_id, asyncio.Event()).wait()


async def reservation(database_url: str, job_id: str) -> tuple[object, ...]:
    rows = await url_rows(database_url, "SELECT state, cost_actual, job_id "
                                        "FROM usage_reservations WHERE job_key = ?", job_id)
    assert rows, job_id
    return rows[0]


def charged(job_id: str) -> tuple[object, ...]:
    """A reservation committed at the price table's $0.08, linked to its job."""
    return ("committed", pytest.approx(0.08), job_id)


@pytest.fixture
async def client(local_server: LocalRunComfyServer) -> AsyncIterator[RunComfyClient]:
    local_server.state.config.queue_seconds = 0.1
    local_server.state.config.run_seconds = 0.1
    async with RunComfyClient(token=TOKEN, base_url=local_server.base_url,
                              retry=RetryPolicy(attempts=2, base_delay=0.01)) as c:
        yield c


async def wired(store: Store, client: RunComfyClient, **config: Any
                ) -> tuple[QuotaService, JobTracker, Ends]:
    quota = QuotaService(store)
    tracker = JobTracker(store, {"local": client},
                         config=TrackerConfig(polling=FAST_POLLING, **config))
    ends = Ends()
    tracker.add_listener(quota)
    tracker.add_listener(ends)
    return quota, tracker, ends


async def launch(quota: QuotaService, tracker: JobTracker, record: JobRecord) -> JobRecord:
    await quota.reserve(record)
    return await tracker.submit(record)


async def test_success_commits_at_the_providers_cost_and_failures_release(
        database_url: str, client: RunComfyClient, local_server: LocalRunComfyServer) -> None:
    async with await Store.open(database_url) as store:
        quota, tracker, ends = await wired(store, client)
        await QuotaAdmin(store).set_limits(GUILD, MOD, {"user_daily": 4})
        async with tracker_running(tracker):
            local_server.state.config.queue_seconds = 2.0  # the job to cancel stays queued
            to_cancel = await launch(quota, tracker, make_job("never mind"))
            local_server.state.config.queue_seconds = 0.1
            ok = await launch(quota, tracker, make_job())
            failing = await launch(quota, tracker, make_job("boom [fail]"))
            local_server.state.faults.insufficient_balance(1)
            refused = await launch(quota, tracker, make_job())  # a 402 at submit
            assert refused.status is JobStatus.FAILED
            # The refused submit gave its unit back at once; three are in flight.
            assert (await quota.allowance(GUILD, 3)).daily_left == 1
            await tracker.cancel(to_cancel.id)
            for j in (ok, failing, refused, to_cancel):
                await ends.wait(j.id)
        assert await reservation(database_url, ok.id) == charged(ok.id)
        for j in (failing, refused, to_cancel):
            assert await reservation(database_url, j.id) == ("released", None, j.id)
        assert (await quota.allowance(GUILD, 3)).daily_left == 3  # three units came back
        assert (await quota.settle((await store.get_job(ok.id)) or ok)) is False  # once only


async def test_a_timed_out_job_releases(database_url: str, client: RunComfyClient,
                                        local_server: LocalRunComfyServer) -> None:
    local_server.state.config.queue_seconds = 30.0
    async with await Store.open(database_url) as store:
        quota, tracker, ends = await wired(store, client, queue_timeout=0.3)
        async with tracker_running(tracker):
            slow = await launch(quota, tracker, make_job())
            await ends.wait(slow.id)
    assert await reservation(database_url, slow.id) == ("released", None, slow.id)


async def test_a_completed_job_without_a_cost_is_charged_the_price_table(
        database_url: str, client: RunComfyClient) -> None:
    async with await Store.open(database_url) as store:
        quota = QuotaService(store)
        record = make_job()
        await quota.reserve(record)
        await store.insert_job(record.evolve(status=JobStatus.COMPLETED))
        assert await quota.settle(record.evolve(status=JobStatus.COMPLETED, cost=None))
        stored = await store.get_job(record.id)
        assert stored is not None and stored.cost == pytest.approx(0.08)
    assert await reservation(database_url, record.id) == charged(record.id)


async def test_restart_reconciliation(database_url: str, client: RunComfyClient,
                                      local_server: LocalRunComfyServer) -> None:
    local_server.state.config.queue_seconds = 0.6
    async with await Store.open(database_url) as store:
        quota = QuotaService(store)
        await QuotaAdmin(store).set_limits(GUILD, MOD, {"guild_daily": 10})
        orphan = make_job()  # reserved, then the process died before the job row was written
        await quota.reserve(orphan)
        unsent = make_job().evolve(message_id=99)  # answered, never sent: it is sent after all
        await quota.admit(unsent)
        pending = make_job().evolve(submitting_at=1.0)  # maybe sent, never confirmed: it fails
        await quota.admit(pending)
        completed = make_job()  # completed while nobody listened (no cost reported)
        await quota.reserve(completed)
        await store.insert_job(completed.evolve(status=JobStatus.COMPLETED))
        failed = make_job()
        await quota.reserve(failed)
        await store.insert_job(failed.evolve(status=JobStatus.FAILED))
        tracker = JobTracker(store, {"local": client}, config=TrackerConfig(polling=FAST_POLLING))
        queued = await launch(quota, tracker, make_job())  # still at the provider: keeps its unit

    async with await Store.open(database_url) as store:  # the restart
        quota, tracker, ends = await wired(store, client)
        report = await quota.reconcile()
        assert (report.committed, report.released) == (1, 2)
        assert (await quota.reconcile()).released == 0  # idempotent
        assert await reservation(database_url, orphan.id) == ("released", None, None)
        assert await reservation(database_url, failed.id) == ("released", None, failed.id)
        # Unfinished jobs keep their reservation: the tracker ends them, and that settles it.
        assert (await reservation(database_url, pending.id))[0] == "reserved"
        assert (await reservation(database_url, unsent.id))[0] == "reserved"
        assert await reservation(database_url, completed.id) == charged(completed.id)
        stored = await store.get_job(completed.id)
        assert stored is not None and stored.cost == pytest.approx(0.08)
        assert (await reservation(database_url, queued.id))[0] == "reserved"
        await tracker.start()  # fails `pending`, sends `unsent`, resumes `queued`
        try:
            for ended in (queued, unsent, pending):
                await ends.wait(ended.id)
        finally:
            await tracker.stop()
        assert await reservation(database_url, queued.id) == charged(queued.id)
        assert await reservation(database_url, unsent.id) == charged(unsent.id)
        assert await reservation(database_url, pending.id) == ("released", None, pending.id)
        assert local_server.state.submit_count == 2  # `queued` once, `unsent` once
        snapshot = await quota.snapshot(GUILD, 3)
        assert snapshot.usage.guild_day == 3 and snapshot.usage.in_flight == 0


@pytest.mark.parametrize("refusal", ["busy", "deadlock"])
async def test_a_settlement_the_database_refuses_once_is_tried_again(
        store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch,
        refusal: str) -> None:
    """A busy database, or a deadlock PostgreSQL broke (against the reconciliation's own
    settling): the listener tries again instead of leaving it to the next round."""
    from bot.store import StoreBusyError, StoreConflictError

    quota = QuotaService(store)
    job = make_job()
    await store.insert_job(job)
    await quota.reserve(job)
    real = store.settle_reservation
    refused: list[str] = []

    async def once_refused(*args: Any, **kwargs: Any) -> bool:
        if not refused:
            refused.append(refusal)
            raise StoreBusyError("locked") if refusal == "busy" else StoreConflictError(
                "deadlock detected")
        return await real(*args, **kwargs)

    monkeypatch.setattr(store, "settle_reservation", once_refused)
    ended = job.evolve(status=JobStatus.FAILED, finished_at=1.0)
    await quota.on_job_event(JobEvent(job=ended, ended=True))
    assert refused == [refusal]
    assert (await reservation(database_url, job.id))[0] == "released"
