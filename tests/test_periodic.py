"""PeriodicTask: a run of failures (the database down for an hour) is logged with its
traceback once, then one line per failure, then one line when the action works again."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.periodic import PeriodicTask


async def test_a_run_of_failures_logs_one_traceback_then_one_line_each(
        caplog: pytest.LogCaptureFixture) -> None:
    outcomes = [False, False, False, True, True, False, False, True]  # False: it fails
    done = asyncio.Event()

    async def action() -> None:
        works = outcomes.pop(0)
        if not outcomes:
            done.set()
        if not works:
            raise ConnectionRefusedError("the database is down")

    caplog.set_level(logging.DEBUG, logger="bot.periodic")
    task = PeriodicTask("job-leases", action, interval=0.01)
    task.start()
    try:
        async with asyncio.timeout(5):
            await done.wait()
    finally:
        await task.stop()
    lines = [(r.levelno, r.exc_info is not None, r.getMessage()) for r in caplog.records
             if r.name == "bot.periodic"]
    assert [(level, traceback) for level, traceback, _ in lines] == [
        (logging.ERROR, True), (logging.WARNING, False), (logging.WARNING, False),
        (logging.INFO, False),
        (logging.ERROR, True), (logging.WARNING, False),
        (logging.INFO, False),
    ]
    assert "ConnectionRefusedError: the database is down; 3 times in a row" in lines[2][2]
    assert lines[3][2] == "job-leases works again, after 3 failed runs"
