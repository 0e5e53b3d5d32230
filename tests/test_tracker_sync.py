"""The tracker running a synchronous provider as a task it owns: the same
events, time limits, cancellation, quota settlement and restart rules as a polled job."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.job_errors import WITHHELD
from bot.jobs import JobRecord, JobStatus
from bot.localserver.app import MAGIC_SUFFIX, LocalRunComfyServer
from bot.providers.ideogram import IdeogramClient
from bot.providers.types import CancelOutcome
from bot.quota_service import QuotaService
from bot.store import Store
from bot.tracker import (
    SYNC_INTERRUPTED,
    TIMED_OUT_QUEUED,
    TIMED_OUT_RUNNING,
    JobTracker,
    TrackerConfig,
)
from tests.harness import eventually
from tests.helpers import (
    FAST_POLLING,
    TOKEN,
    Recorder,
    make_sync_job,
    tracker_running,
    url_rows,
)

GUILD = 10


def sync_job(prompt: str = "a lighthouse at dusk") -> JobRecord:
    return make_sync_job(prompt, guild_id=GUILD)


@pytest.fixture
async def client(local_server: LocalRunComfyServer) -> AsyncIterator[IdeogramClient]:
    local_server.state.config.run_seconds = 0.2
    async with IdeogramClient(api_key=TOKEN, base_url=local_server.base_url) as c:
        yield c


def wired(store: Store, client: IdeogramClient, **config: Any
          ) -> tuple[JobTracker, QuotaService, Recorder]:
    tracker = JobTracker(store, {"ideogram": client},
                         config=TrackerConfig(polling=FAST_POLLING, **config))
    quota = QuotaService(store)
    recorder = Recorder(store)
    tracker.add_listener(quota)
    tracker.add_listener(recorder)
    return tracker, quota, recorder


async def status_of(store: Store, job_id: str) -> JobStatus:
    job = await store.get_job(job_id)
    assert job is not None, job_id
    return job.status


async def reservation_state(database_url: str, job_id: str) -> str:
    [(state,)] = await url_rows(database_url, "SELECT state FROM usage_reservations "
                                              "WHERE job_key = ?", job_id)
    return str(state)


async def test_queued_running_completed_with_the_revised_prompt(
        database_url: str, client: IdeogramClient, local_server: LocalRunComfyServer) -> None:
    async with await Store.open(database_url) as store:
        tracker, quota, recorder = wired(store, client)
        async with tracker_running(tracker):
            job = sync_job()
            await quota.reserve(job)
            queued = await tracker.submit(job)
            assert queued.status is JobStatus.QUEUED and queued.request_id is None
            final = await recorder.wait_terminal(job.id)
        assert recorder.statuses(job.id) == [JobStatus.QUEUED, JobStatus.RUNNING,
                                             JobStatus.COMPLETED]
        assert recorder.persisted_first
        [generated] = local_server.state.jobs.values()
        assert final.job.result_urls == [f"{local_server.base_url}/files/"
                                         f"{generated.request_id}.png"]
        assert final.job.revised_prompt == "a lighthouse at dusk" + MAGIC_SUFFIX
        stored = await store.get_job(job.id)
        assert stored is not None and stored.revised_prompt == final.job.revised_prompt
        assert stored.submitted_at and stored.started_at and stored.finished_at
        assert stored.submitted_at <= stored.started_at <= stored.finished_at
        assert stored.finished_at - stored.started_at >= 0.2
        snapshot = await quota.snapshot(GUILD, 3)
        assert snapshot.usage.user_day == 1 and snapshot.usage.in_flight == 0
        assert stored.cost == pytest.approx(0.08)  # the price table's: the API reports none
    assert await reservation_state(database_url, job.id) == "committed"


async def test_withheld_image_fails_and_is_not_counted(
        database_url: str, client: IdeogramClient) -> None:
    async with await Store.open(database_url) as store:
        tracker, quota, recorder = wired(store, client)
        async with tracker_running(tracker):
            job = sync_job("a thing [unsafe]")
            await quota.reserve(job)
            await tracker.submit(job)
            final = await recorder.wait_terminal(job.id)
        assert final.job.status is JobStatus.FAILED and final.job.error == WITHHELD
        assert final.job.result_urls == [] and final.job.revised_prompt
        snapshot = await quota.snapshot(GUILD, 3)
        assert snapshot.usage.user_day == 0 and snapshot.usage.in_flight == 0
    assert await reservation_state(database_url, job.id) == "released"


async def test_restart_while_running_fails_without_resending(
        database_url: str, client: IdeogramClient, local_server: LocalRunComfyServer) -> None:
    local_server.state.config.run_seconds = 2.0
    async with await Store.open(database_url) as store:
        tracker, quota, recorder = wired(store, client)
        await tracker.start()
        job = sync_job()
        await quota.reserve(job)
        await tracker.submit(job)
        async with asyncio.timeout(5), recorder.changed:
            await recorder.changed.wait_for(
                lambda: JobStatus.RUNNING in recorder.statuses(job.id))
        await eventually(lambda: local_server.state.request_counts["generate"] == 1,
                         what="the call on the wire")
        await tracker.stop()
    assert local_server.state.request_counts["generate"] == 1

    async with await Store.open(database_url) as store:  # the next process
        tracker, quota, recorder = wired(store, client)
        await quota.reconcile()
        async with tracker_running(tracker):
            final = await recorder.wait_terminal(job.id)
        assert final.resumed and final.job.status is JobStatus.FAILED
        assert final.job.error == SYNC_INTERRUPTED
    assert local_server.state.request_counts["generate"] == 1  # never resent
    assert await reservation_state(database_url, job.id) == "released"


async def is_running(store: Store, job_id: str) -> bool:
    return await status_of(store, job_id) is JobStatus.RUNNING


async def test_waiting_for_a_slot_is_queued_cancellable_and_resumable(
        database_url: str, client: IdeogramClient, local_server: LocalRunComfyServer) -> None:
    local_server.state.config.run_seconds = 0.5
    async with await Store.open(database_url) as store:
        tracker, _, recorder = wired(store, client, concurrency=1)
        await tracker.start()
        first, second, third = sync_job("one"), sync_job("two"), sync_job("three")
        try:
            for job in (first, second, third):
                await tracker.submit(job)
            await eventually(lambda: is_running(store, first.id), what="the first running")
            assert await status_of(store, second.id) is JobStatus.QUEUED
            # /queue offers to cancel those waiting for a slot, not the one running.
            by_id = {j.id: j for j in await store.jobs_for_guild(GUILD)}
            assert [tracker.cancellable(by_id[j.id]) for j in (first, second, third)] == [
                False, True, True]
            assert await tracker.cancel(second.id) is CancelOutcome.CANCELLED
            assert await tracker.cancel(first.id) is CancelOutcome.NOT_CANCELLABLE
            await recorder.wait_terminal(first.id)
            await eventually(lambda: is_running(store, third.id), what="the third running")
            # Its row says running before its call is made: wait for the call itself.
            await eventually(lambda: local_server.state.request_counts["generate"] == 2,
                             what="the third's call made")
        finally:
            await tracker.stop()
        assert recorder.statuses(second.id) == [JobStatus.QUEUED, JobStatus.CANCELLED]
    # "two" was never sent; "three" was running when the process stopped.
    assert local_server.state.request_counts["generate"] == 2

    # A job still queued at a restart was never sent: it simply runs.
    async with await Store.open(database_url) as store:
        waiting = sync_job("four")
        await store.insert_job(waiting.evolve(status=JobStatus.QUEUED, submitted_at=time.time()))
        tracker, _, recorder = wired(store, client)
        async with tracker_running(tracker):
            done = await recorder.wait_terminal(waiting.id)
            interrupted = await recorder.wait_terminal(third.id)
    assert done.job.status is JobStatus.COMPLETED
    assert interrupted.job.error == SYNC_INTERRUPTED
    assert local_server.state.request_counts["generate"] == 3


async def test_time_limits(database_url: str, client: IdeogramClient,
                          local_server: LocalRunComfyServer) -> None:
    local_server.state.config.run_seconds = 1.0
    async with await Store.open(database_url) as store:
        tracker, _, recorder = wired(store, client, concurrency=1, run_timeout=0.2,
                                     queue_timeout=0.1)
        async with tracker_running(tracker):
            slow, waiting = sync_job("slow"), sync_job("waiting")
            await tracker.submit(slow)
            await tracker.submit(waiting)
            timed_out = await recorder.wait_terminal(slow.id)
            never_ran = await recorder.wait_terminal(waiting.id)
    assert timed_out.job.error == TIMED_OUT_RUNNING
    assert never_ran.job.error == TIMED_OUT_QUEUED
    assert recorder.statuses(waiting.id) == [JobStatus.QUEUED, JobStatus.FAILED]
    # The waiting job was never sent, the slow one not twice. (Under load the slow one's
    # run limit can pass before its request reaches the server: then none arrived.)
    assert local_server.state.request_counts["generate"] <= 1


async def test_provider_errors_end_the_job(database_url: str, client: IdeogramClient,
                                           local_server: LocalRunComfyServer) -> None:
    local_server.state.faults.insufficient_balance(1, kind="generate")
    async with await Store.open(database_url) as store:
        tracker, _, recorder = wired(store, client)
        async with tracker_running(tracker):
            job = sync_job()
            await tracker.submit(job)
            final = await recorder.wait_terminal(job.id)
    assert final.job.status is JobStatus.FAILED and final.job.error == "insufficient_balance"
