"""Retention (bot/retention.py): only old, finished jobs go; quota use stays counted."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from bot.jobs import JobRecord, JobStatus, new_job_id
from bot.retention import DAY, RetentionTask, prune_old_jobs
from bot.store import Store
from tests.harness import eventually
from tests.helpers import store_rows

NOW = 1_750_000_000.0


def make_job(age_days: float, status: JobStatus = JobStatus.COMPLETED,
             **overrides: Any) -> JobRecord:
    values: dict[str, Any] = {
        "id": new_job_id(), "provider": "runcomfy", "model": "ideogram/ideogram-v2/generate",
        "guild_id": 1, "channel_id": 2, "user_id": 3, "inputs": {"prompt": "p", "seed": 1},
        "seed": 1, "status": status, "created_at": NOW - age_days * DAY,
    }
    values.update(overrides)
    return JobRecord(**values)


async def test_prunes_only_old_finished_jobs(store: Store) -> None:
    old_done = [make_job(91, s) for s in (JobStatus.COMPLETED, JobStatus.FAILED,
                                          JobStatus.CANCELLED)]
    old_done.append(make_job(400, JobStatus.COMPLETED, deleted_at=NOW - 300 * DAY))
    old_unfinished = [make_job(200, s) for s in (JobStatus.PENDING, JobStatus.QUEUED,
                                                 JobStatus.RUNNING)]
    recent = [make_job(89), make_job(0.5, JobStatus.QUEUED), make_job(89.9, JobStatus.FAILED)]
    for job in old_done + old_unfinished + recent:
        await store.insert_job(job)
    # A quota reservation linked to a pruned job must survive (it still counts).
    await store_rows(
        store, "INSERT INTO usage_reservations (job_id, guild_id, user_id, units, state, day, "
        "month, created_at) VALUES (?, 1, 3, 1, 'committed', '2025-01-01', '2025-01', ?)",
        old_done[0].id, NOW)

    assert await prune_old_jobs(store, 90, now=NOW, batch=2) == len(old_done)
    left = {j.id for j in await store.guild_jobs_after(1, None, limit=100)}
    assert left == {j.id for j in old_unfinished + recent}
    assert await prune_old_jobs(store, 90, now=NOW) == 0  # nothing more to do
    assert await store_rows(store, "SELECT count(*), min(job_id) FROM usage_reservations") == [
        (1, None)]


async def test_retention_days_must_be_positive(store: Store) -> None:
    with pytest.raises(ValueError):
        await prune_old_jobs(store, 0)
    with pytest.raises(ValueError):
        RetentionTask(store, 0)


async def test_task_runs_soon_after_start_then_daily_and_stops(store: Store) -> None:
    await store.insert_job(make_job(10, created_at=time.time() - 10 * DAY))
    await store.insert_job(make_job(0, created_at=time.time()))
    task = RetentionTask(store, 7, first_delay=0.01, interval=0.05)
    task.start()
    assert task.running
    async with asyncio.timeout(5):
        while True:
            await asyncio.sleep(0.01)
            if task.last_run is not None:
                break
    assert task.last_pruned == 1
    await task.stop()
    assert not task.running
    assert len(await store.guild_jobs_after(1, None)) == 1


async def test_a_failed_run_does_not_end_the_task(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    broken = await Store.open(tmp_path / "x.db")
    await broken.close()  # every run fails: the store is closed
    task = RetentionTask(broken, 7, first_delay=0.0, interval=0.01)
    task.start()
    try:
        await eventually(lambda: sum(r.levelno >= logging.WARNING for r in caplog.records) >= 2,
                         what="two failed runs, the task still going")
        assert task.running and task.last_run is None
    finally:
        await task.stop()


def test_retention_days_setting() -> None:
    from bot.config import ConfigError, load_settings

    assert load_settings(None).RETENTION_DAYS == 90
    assert load_settings(None, RETENTION_DAYS="7").RETENTION_DAYS == 7
    with pytest.raises(ConfigError, match="RETENTION_DAYS"):
        load_settings(None, RETENTION_DAYS="0")
