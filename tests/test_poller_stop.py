"""The poll scheduler stops when cancelled, whatever else happens at that moment."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import cast

import pytest

from bot.jobs import JobStatus
from bot.tracker.core import JobTracker
from bot.tracker.poller import Poller


async def test_the_scheduler_stops_when_cancelled_as_it_is_woken() -> None:
    """A cancel that lands in the same step as a wake-up (a job scheduled as the tracker
    closes) stops the scheduler; it does not go back to waiting, which would hang the
    tracker's close for good."""
    poller = Poller(cast(JobTracker, SimpleNamespace(now=time.monotonic)))
    poller.track("a-job", JobStatus.QUEUED, time.monotonic() + 60)  # due in a minute
    for _ in range(20):
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(0)  # waiting: to be woken, or for the job to be due
        poller._wake.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            async with asyncio.timeout(2):
                await task
