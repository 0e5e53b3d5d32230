"""The tracker's own writes never lose a finished job: a database locked by another
connection (past ``busy_timeout``) at a terminal write only delays it."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.jobs import JobStatus
from bot.localserver.app import LocalRunComfyServer
from bot.providers.ideogram import IdeogramClient
from bot.providers.runcomfy import RunComfyClient
from bot.quota_service import QuotaService
from bot.store import Store
from bot.tracker import JobEvent, JobTracker, TrackerConfig
from tests.helpers import FAST_POLLING, TOKEN, Recorder, make_job, make_sync_job


@contextlib.contextmanager
def locked(db: Path) -> Iterator[sqlite3.Connection]:
    """Another connection holding the write lock (``BEGIN IMMEDIATE``) until the block ends."""
    other = sqlite3.connect(db, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        other.execute("COMMIT")
        other.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "bot.db", busy_timeout_ms=50)
    yield s
    await s.close()


async def wait_status(recorder: Recorder, job_id: str, status: JobStatus) -> None:
    async with asyncio.timeout(10), recorder.changed:
        await recorder.changed.wait_for(lambda: status in recorder.statuses(job_id))


@pytest.mark.parametrize("prompt, ends", [
    ("a calm sea", JobStatus.COMPLETED),
    ("a stormy sea [fail]", JobStatus.FAILED),
])
async def test_terminal_write_waits_out_a_lock(
        store: Store, tmp_path: Path, local_server: LocalRunComfyServer, prompt: str,
        ends: JobStatus, caplog: pytest.LogCaptureFixture) -> None:
    local_server.state.config.queue_seconds = 0.1
    local_server.state.config.run_seconds = 0.3
    async with RunComfyClient(token=TOKEN, base_url=local_server.base_url) as client:
        tracker = JobTracker(store, {"local": client}, config=TrackerConfig(polling=FAST_POLLING))
        quota = QuotaService(store)
        recorder = Recorder(store)
        tracker.add_listener(quota)
        tracker.add_listener(recorder)
        await tracker.start()
        try:
            job = make_job(prompt)
            await quota.admit(job)
            tracker.accept(job)
            await wait_status(recorder, job.id, JobStatus.RUNNING)
            with locked(tmp_path / "bot.db"):
                # The provider finishes meanwhile; the tracker cannot write it down.
                await asyncio.sleep(1.0)
                assert not any(e.status.terminal for e in recorder.events)
            final = await recorder.wait_terminal(job.id)
        finally:
            await tracker.stop()
    assert final.status is ends
    assert [e.status for e in recorder.events if e.status.terminal] == [ends]  # once
    stored = await store.get_job(job.id)
    assert stored is not None and stored.status is ends
    rows = await store._fetchall(  # the reservation followed the job's end
        "SELECT state FROM usage_reservations WHERE job_key = ?", (job.id,))
    assert [r[0] for r in rows] == ["committed" if ends is JobStatus.COMPLETED else "released"]
    assert "Database busy" in caplog.text
    assert local_server.state.submit_count == 1


async def test_synchronous_result_waits_out_a_lock(
        store: Store, tmp_path: Path, local_server: LocalRunComfyServer) -> None:
    local_server.state.config.run_seconds = 0.3
    async with IdeogramClient(api_key=TOKEN, base_url=local_server.base_url,
                              timeout_seconds=10) as client:
        tracker = JobTracker(store, {"ideogram": client},
                             config=TrackerConfig(polling=FAST_POLLING))
        recorder = Recorder(store)
        tracker.add_listener(recorder)
        await tracker.start()
        try:
            job = make_sync_job("a calm sea")
            await store.insert_job(job)
            tracker.accept(job)
            await wait_status(recorder, job.id, JobStatus.RUNNING)
            with locked(tmp_path / "bot.db"):
                await asyncio.sleep(0.8)
            final = await recorder.wait_terminal(job.id)
        finally:
            await tracker.stop()
    assert final.status is JobStatus.COMPLETED
    assert local_server.state.request_counts["generate"] == 1


async def test_a_settlement_that_meets_a_lock_is_settled_by_the_reconciliation(
        store: Store, tmp_path: Path) -> None:
    """A release that cannot be written does not hold the member back until a restart."""
    quota = QuotaService(store)
    job = make_job()
    await quota.admit(job)
    ended = await store.transition_job(job.id, [JobStatus.PENDING], status=JobStatus.FAILED)
    assert ended is not None
    with locked(tmp_path / "bot.db"):
        await quota.on_job_event(JobEvent(job=ended))  # gives up after a few tries
    rows = await store._fetchall("SELECT state FROM usage_reservations")
    assert [r[0] for r in rows] == ["reserved"]
    report = await quota.reconcile(orphan_age=0)
    assert report.released == 1
    rows = await store._fetchall("SELECT state FROM usage_reservations")
    assert [r[0] for r in rows] == ["released"]
