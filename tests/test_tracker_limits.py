"""Time limits are kept by the tracker's clock, whatever a stalled provider call does."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.jobs import JobStatus
from bot.localserver.app import LocalRunComfyServer
from bot.providers.runcomfy import RunComfyClient
from bot.store import Store
from bot.tracker import TIMED_OUT_QUEUED, JobTracker, TrackerConfig
from bot.tracker.events import JobEvent
from tests.harness import eventually
from tests.helpers import FAST_POLLING, FAST_RETRY, TOKEN, Recorder, make_job


async def test_stalled_status_calls_cannot_outlive_the_jobs_time_limit(
        store: Store, local_server: LocalRunComfyServer) -> None:
    local_server.state.config.queue_seconds = 30.0  # the jobs would wait a long time
    local_server.state.faults.slow(20.0, count=100, kind="status")  # every status call hangs
    async with RunComfyClient(token=TOKEN, base_url=local_server.base_url,
                              retry=FAST_RETRY) as client:
        tracker = JobTracker(store, {"local": client}, config=TrackerConfig(
            polling=FAST_POLLING, concurrency=2, queue_timeout=1.0))
        recorder = Recorder(store)
        tracker.add_listener(recorder)
        await tracker.start()
        started = time.monotonic()
        try:
            # More jobs than poll slots: most of them wait for a slot the stalled calls hold.
            jobs = await asyncio.gather(*(tracker.submit(make_job(f"j{i}")) for i in range(5)))
            ends = [await recorder.wait_terminal(job.id, limit=10) for job in jobs]
        finally:
            await tracker.stop()
    elapsed = time.monotonic() - started
    assert all(e.status is JobStatus.FAILED and e.job.error == TIMED_OUT_QUEUED for e in ends)
    assert elapsed < 5.0, elapsed  # the 1 s limit, not the 20 s stall



async def _one_job(store: Store, local_server: LocalRunComfyServer,
                   **config: float) -> tuple[str, JobEvent]:
    """Run one job on a tracker with these time limits: (request id, final event)."""
    async with RunComfyClient(token=TOKEN, base_url=local_server.base_url,
                              retry=FAST_RETRY) as client:
        tracker = JobTracker(store, {"local": client}, config=TrackerConfig(
            polling=FAST_POLLING, **config))
        recorder = Recorder(store)
        tracker.add_listener(recorder)
        await tracker.start()
        try:
            job = await tracker.submit(make_job())
            final = await recorder.wait_terminal(job.id, limit=10)
        finally:
            await tracker.stop()
    return job.request_id or "", final


async def test_a_job_whose_cancel_fails_at_its_queue_limit_is_still_watched(
        store: Store, local_server: LocalRunComfyServer) -> None:
    # The cancel does not get through, and the provider makes the image after all: it is
    # delivered (and charged), not left made and billed behind a "timed out".
    local_server.state.config.queue_seconds = 1.0
    local_server.state.config.run_seconds = 0.2
    local_server.state.faults.server_error(100, kind="cancel")
    # Status answers take a moment: past the limit, polls still get time to be answered.
    local_server.state.faults.slow(0.05, count=100, kind="status")
    _, final = await _one_job(store, local_server, queue_timeout=0.3, cancel_grace=30.0)
    assert final.status is JobStatus.COMPLETED and final.job.result_urls


async def test_a_job_whose_cancel_keeps_failing_ends_after_the_grace(
        store: Store, local_server: LocalRunComfyServer) -> None:
    local_server.state.config.queue_seconds = 30.0
    local_server.state.faults.server_error(100, kind="cancel")
    started = time.monotonic()
    _, final = await _one_job(store, local_server, queue_timeout=0.3, cancel_grace=0.6)
    assert final.status is JobStatus.FAILED and final.job.error == TIMED_OUT_QUEUED
    assert time.monotonic() - started >= 0.9  # the limit, then the grace


async def test_a_job_that_started_as_its_queue_time_ran_out_goes_on(
        store: Store, local_server: LocalRunComfyServer) -> None:
    local_server.state.config.queue_seconds = 30.0
    local_server.state.config.run_seconds = 0.2
    # The cancel is answered late; meanwhile the job leaves the queue and is made.
    local_server.state.faults.slow(1.0, count=1, kind="cancel")

    async def start_it_soon() -> None:
        await asyncio.sleep(0.5)
        for remote in local_server.state.jobs.values():
            remote.queue_seconds = 0.0

    starter = asyncio.create_task(start_it_soon())
    try:
        _, final = await _one_job(store, local_server, queue_timeout=0.3, cancel_grace=0.0)
    finally:
        await starter
    assert final.status is JobStatus.COMPLETED and final.job.result_urls


@pytest.mark.parametrize("results_busy_for", [0.0, 1.0])
async def test_a_job_made_while_the_bot_was_away_past_its_run_limit_is_delivered(
        database_url: str, local_server: LocalRunComfyServer, results_busy_for: float) -> None:
    """The bot stops while a job runs and is back only after the job's run limit: the
    provider made the image meanwhile, so it is delivered, not failed as "timed out";
    also when the provider cannot be asked at once (every result call slot is busy)."""
    local_server.state.config.queue_seconds = 0.1
    local_server.state.config.run_seconds = 0.5
    config = TrackerConfig(polling=FAST_POLLING, run_timeout=0.6, concurrency=1,
                           call_deadline=0.5)
    async with RunComfyClient(token=TOKEN, base_url=local_server.base_url,
                              retry=FAST_RETRY) as client:
        async with await Store.open(database_url) as store:
            tracker = JobTracker(store, {"local": client}, config=config)
            recorder = Recorder(store)
            tracker.add_listener(recorder)
            await tracker.start()
            try:
                job = await tracker.submit(make_job())
                await eventually(lambda: JobStatus.RUNNING in recorder.statuses(job.id),
                                 what="the job running")
            finally:
                await tracker.stop()
        await asyncio.sleep(1.2)  # the provider makes the image; the run limit passes
        async with await Store.open(database_url) as store:
            tracker = JobTracker(store, {"local": client}, config=config)
            recorder = Recorder(store)
            tracker.add_listener(recorder)
            busy = tracker.slot("local", "result")
            await busy.acquire()  # other jobs' calls hold every result slot for a while
            asyncio.get_running_loop().call_later(results_busy_for, busy.release)
            await tracker.start()
            try:
                final = await recorder.wait_terminal(job.id, limit=10)
            finally:
                await tracker.stop()
    assert final.status is JobStatus.COMPLETED and final.job.result_urls, final.job.error
    assert local_server.state.submit_count == 1
