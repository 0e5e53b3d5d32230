"""The bot leaves a server, or a channel is deleted: the jobs still queued there are
cancelled (nobody could see them), their quota given back; other servers' are untouched."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.jobs import JobStatus
from bot.localserver.app import LocalRunComfyServer
from cogs.core.bot import IdeogramBot
from tests.harness import FakeDiscord, chat_input, dispatch, eventually, ids
from tests.helpers import db_rows


async def queued_job(bot: IdeogramBot, db: Path) -> str:
    await dispatch(bot, chat_input("ideogram", {"prompt": "a heron"}))
    rows = await eventually(lambda: db_rows(db, "SELECT id FROM jobs WHERE status = 'queued' "
                                                "AND request_id IS NOT NULL"), what="queued")
    return str(rows[0][0])


@pytest.mark.parametrize("event", ["channel deleted", "bot removed"])
async def test_queued_jobs_are_cancelled_when_their_place_goes_away(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer, db: Path,
        event: str) -> None:
    local_server.state.config.queue_seconds = 30.0
    job_id = await queued_job(bot, db)
    state: Any = bot._connection  # discord.py's own gateway handlers, as for a real event
    if event == "channel deleted":
        state.parse_channel_delete({"id": str(ids.CHANNEL_ID), "type": 0,
                                    "guild_id": str(ids.GUILD_ID)})
    else:
        state.parse_guild_delete({"id": str(ids.GUILD_ID)})
    await eventually(lambda: db_rows(db, "SELECT status FROM jobs WHERE id = ?", job_id)
                     == [("cancelled",)], what="cancelled")
    assert local_server.state.request_counts.get("cancel", 0) == 1
    await eventually(lambda: db_rows(db, "SELECT state FROM usage_reservations")
                     == [("released",)], what="its quota given back")


async def test_another_channels_jobs_are_left_alone(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        db: Path) -> None:
    local_server.state.config.queue_seconds = 0.5
    job_id = await queued_job(bot, db)
    state: Any = bot._connection
    state.parse_channel_delete({"id": str(ids.LOG_CHANNEL_ID), "type": 0,
                                "guild_id": str(ids.GUILD_ID)})
    await eventually(lambda: db_rows(db, "SELECT status FROM jobs WHERE id = ?", job_id)
                     == [(JobStatus.COMPLETED.value,)], what="completed")
    assert local_server.state.request_counts.get("cancel", 0) == 0


async def test_a_job_not_yet_sent_is_ended_before_it_goes(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer, db: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a burst a job may wait its turn to be sent: it is never sent, and its quota
    comes back."""
    from bot.tracker import submission

    held = asyncio.Event()

    async def answers_not_done() -> None:
        await held.wait()

    monkeypatch.setattr(submission, "SUBMIT_YIELD_SECONDS", 30.0)
    bot.tracker.give_way_to(answers_not_done)
    await dispatch(bot, chat_input("ideogram", {"prompt": "a heron"}))
    [(job_id,)] = await eventually(lambda: db_rows(db, "SELECT id FROM jobs WHERE status = "
                                                       "'pending'"), what="waiting to be sent")
    state: Any = bot._connection
    state.parse_channel_delete({"id": str(ids.CHANNEL_ID), "type": 0,
                                "guild_id": str(ids.GUILD_ID)})
    await eventually(lambda: db_rows(db, "SELECT status FROM jobs WHERE id = ?", job_id)
                     == [("cancelled",)], what="ended")
    await eventually(lambda: db_rows(db, "SELECT state FROM usage_reservations")
                     == [("released",)], what="its quota given back")
    held.set()  # its turn comes: it is not sent
    await asyncio.sleep(0.2)
    assert local_server.state.submit_count == 0


async def test_a_deleted_thread_the_cache_never_saw_stops_its_queued_jobs(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        db: Path) -> None:
    thread_id = 1_400_000_000_000_000_001
    local_server.state.config.queue_seconds = 30.0
    await dispatch(bot, chat_input("ideogram", {"prompt": "a heron"}, channel_id=thread_id,
                                   thread_parent_id=ids.CHANNEL_ID))
    [(job_id,)] = await eventually(lambda: db_rows(
        db, "SELECT id FROM jobs WHERE status = 'queued' AND request_id IS NOT NULL"),
        what="queued")
    state: Any = bot._connection
    state.parse_thread_delete({"id": str(thread_id), "guild_id": str(ids.GUILD_ID),
                               "parent_id": str(ids.CHANNEL_ID), "type": 11})
    await eventually(lambda: db_rows(db, "SELECT status FROM jobs WHERE id = ?", job_id)
                     == [("cancelled",)], what="cancelled")
