"""When the event loop falls behind, new commands are refused at once instead of being
answered too late."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from bot.localserver.app import LocalRunComfyServer
from bot.loop_lag import LoopLagMonitor
from cogs.core.bot import IdeogramBot
from tests.harness import FakeDiscord, chat_input, dispatch, eventually, ids
from tests.helpers import db_rows


async def test_the_monitor_sees_a_blocked_loop() -> None:
    monitor = LoopLagMonitor(interval=0.02, threshold=0.15, hold=0.5)
    monitor.start()
    try:
        await asyncio.sleep(0.05)  # the monitor is measuring
        time.sleep(0.4)  # noqa: ASYNC251  (the loop is stuck, as under a CPU-bound burst)
        await eventually(lambda: monitor.busy, timeout=2, interval=0.01,
                         what="the monitor wakes up late and notices")
        await eventually(lambda: not monitor.busy, timeout=5, what="it passes")
    finally:
        await monitor.stop()


async def test_a_lagging_bot_refuses_new_commands_at_once(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        db: Path) -> None:
    bot.lag_monitor.observe(2.0)
    payload = chat_input("ideogram", {"prompt": "a lighthouse"})
    await dispatch(bot, payload)
    [callback] = fake.interaction_callbacks(payload["id"])
    assert callback["type"] == 4 and callback["data"]["flags"] & 64
    assert "busy" in callback["data"]["content"]
    assert await bot.store.jobs_for_guild(ids.GUILD_ID) == []
    assert local_server.state.submit_count == 0


async def test_a_database_too_slow_for_discord_is_a_busy_refusal_and_nothing_is_kept(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        monkeypatch: pytest.MonkeyPatch, db: Path) -> None:
    from cogs.core import launch

    monkeypatch.setattr(launch, "ADMISSION_DEADLINE_SECONDS", 0.5)
    admit = bot.quota.admit_batch
    admitted = asyncio.Event()

    async def slow_admit(jobs: Any) -> Any:
        await asyncio.sleep(1.0)  # the quota row locked by another process, say
        try:
            return await admit(jobs)
        finally:
            admitted.set()

    monkeypatch.setattr(bot.quota, "admit_batch", slow_admit)
    payload = chat_input("ideogram", {"prompt": "a cat"})
    await dispatch(bot, payload)
    [answer] = fake.interaction_callbacks(payload["id"])
    assert not admitted.is_set()  # refused before the slow decision was done
    assert answer["type"] == 4 and answer["data"]["flags"] & 64
    assert "very busy" in answer["data"]["content"]
    await asyncio.wait_for(admitted.wait(), 5)  # granted after all, then given back
    await bot.tracker.wait_idle()
    assert db_rows(db, "SELECT state FROM usage_reservations") == [("released",)]
    assert db_rows(db, "SELECT status, error FROM jobs") == [("failed", "not_acknowledged")]
    assert local_server.state.submit_count == 0


async def test_reads_that_answer_a_member_go_ahead_of_the_trackers_work(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    """/history, /queue and /job, and the controls of their messages, read the database
    before they answer: under a burst the tracker's writes must not make them late."""
    from tests.harness import component
    from tests.helpers import custom_ids, wait_delivered

    await dispatch(bot, chat_input("ideogram", {"prompt": "a kite"}))
    job = await wait_delivered(bot)
    from bot.jobs import new_job_id

    for _ in range(5):  # a second page
        await bot.store.insert_job(job.evolve(id=new_job_id(), message_id=None))
    shown = chat_input("history", {})
    await dispatch(bot, shown)
    [next_page] = [i for i in custom_ids(fake.original_message(shown["token"]))
                   if i.endswith(":next")]

    async def background_write() -> None:  # as the tracker's writes, in a burst
        async with bot.store.transaction():
            await asyncio.sleep(0.1)

    took: dict[str, float] = {}
    for name, payload in (
            ("/history", chat_input("history", {})),
            ("/history Next", component(next_page,
                                        message=fake.original_message(shown["token"]))),
            ("/queue", chat_input("queue", {}, user_id=ids.MOD_USER_ID)),
            ("/queue's menu", component("queue:cancel", component_type=3, values=[job.id],
                                        user_id=ids.MOD_USER_ID)),
            ("/job", chat_input("job", {"id": job.short_id}))):
        writes = [asyncio.create_task(background_write()) for _ in range(30)]  # 3 s
        await asyncio.sleep(0)
        started = time.monotonic()
        await dispatch(bot, payload)
        took[name] = time.monotonic() - started
        for write in writes:
            write.cancel()
        await asyncio.gather(*writes, return_exceptions=True)
        assert fake.interaction_callbacks(payload["id"]), name
    assert all(seconds < 1.5 for seconds in took.values()), took
