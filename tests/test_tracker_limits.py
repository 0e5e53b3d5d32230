"""Time limits are kept by the tracker's clock, whatever a stalled provider call does."""

from __future__ import annotations

import asyncio
import time

from bot.jobs import JobStatus
from bot.localserver.app import LocalRunComfyServer
from bot.providers.runcomfy import RunComfyClient
from bot.store import Store
from bot.tracker import TIMED_OUT_QUEUED, JobTracker, TrackerConfig
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

