"""OwnedTasks and cancel_and_wait: the background tasks the tracker, delivery and the
moderation log keep, wait for and cancel."""

from __future__ import annotations

import asyncio

import pytest

from bot.owned_tasks import OwnedTasks, cancel_and_wait


async def test_a_task_is_kept_until_it_ends_and_wait_idle_waits_for_those_it_starts() -> None:
    tasks = OwnedTasks()
    done: list[str] = []

    async def second() -> None:
        await asyncio.sleep(0.01)
        done.append("second")

    async def first() -> None:
        tasks.spawn(second(), "second")
        done.append("first")

    tasks.spawn(first(), "first")
    assert len(tasks) == 1
    await tasks.wait_idle()
    assert done == ["first", "second"] and len(tasks) == 0


async def test_cancel_all_cancels_and_drops_what_the_tasks_raise() -> None:
    tasks = OwnedTasks()

    async def failing_on_cancel() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None

    sleeper = tasks.spawn(asyncio.sleep(10), "sleeper")
    failing = tasks.spawn(failing_on_cancel(), "failing")
    await asyncio.sleep(0)
    await tasks.cancel_all()
    assert sleeper.cancelled() and failing.done() and len(tasks) == 0


async def test_close_lets_quick_tasks_finish_and_cancels_the_rest() -> None:
    tasks = OwnedTasks()
    quick = tasks.spawn(asyncio.sleep(0.01, result="posted"), "quick")
    slow = tasks.spawn(asyncio.sleep(10), "slow")
    await tasks.close(grace=0.2)
    assert quick.result() == "posted" and slow.cancelled()


async def test_cancel_and_wait_skips_none() -> None:
    task = asyncio.create_task(asyncio.sleep(10))
    await cancel_and_wait([None, task])
    assert task.cancelled()


async def test_a_task_that_fails_is_logged_with_its_name(
        caplog: pytest.LogCaptureFixture) -> None:
    tasks = OwnedTasks()

    async def fails() -> None:
        raise TimeoutError

    tasks.spawn(fails(), "deliver-1a2b3c4d")
    await tasks.wait_idle()
    [record] = [r for r in caplog.records if r.name == "bot.owned_tasks"]
    assert record.levelname == "ERROR" and "deliver-1a2b3c4d" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is TimeoutError
