"""Killed at any moment, restarted on the same file: every command Discord saw answered ends
in its own reply with the image or a clear reason; nothing is sent twice; nothing stays
reserved. Over real discord.py dispatch; the kill is :func:`tests.process_death.kill`."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot import metrics
from bot.inputs import GENERATE_MODEL
from bot.localserver.app import LocalRunComfyServer
from cogs.core.bot import IdeogramBot
from tests.harness import FakeDiscord, chat_input, eventually, ids, start_dispatch
from tests.helpers import db_rows, ideogram_bot, start_unmanaged_bot
from tests.process_death import Corpse, kill

Trigger = Callable[[FakeDiscord, LocalRunComfyServer, Path], Awaitable[None]]


async def at_answer(fake: FakeDiscord, server: LocalRunComfyServer, db: Path) -> None:
    """Discord has just received the deferral (the bot may not have heard back)."""
    await fake.wait_for(method="POST", path=r"/callback$")


async def mid_submit(fake: FakeDiscord, server: LocalRunComfyServer, db: Path) -> None:
    """The provider is holding the submit request: it may or may not take it."""
    server.state.faults.slow(1.0, kind="submit")
    await eventually(lambda: server.state.request_counts.get("submit", 0) >= 1)


async def after_submit(fake: FakeDiscord, server: LocalRunComfyServer, db: Path) -> None:
    await eventually(lambda: db_rows(db, "SELECT 1 FROM jobs WHERE request_id IS NOT NULL"))


async def after_first_edit(fake: FakeDiscord, server: LocalRunComfyServer, db: Path) -> None:
    await fake.wait_for(method="PATCH", path=r"^/webhooks/")


async def at_completion(fake: FakeDiscord, server: LocalRunComfyServer, db: Path) -> None:
    """The provider has answered with the result: the bot is about to record it."""
    await eventually(lambda: server.state.request_counts.get("result", 0) >= 1)


async def mid_delivery(fake: FakeDiscord, server: LocalRunComfyServer, db: Path) -> None:
    """The image is being downloaded to be attached."""
    await eventually(lambda: server.state.request_counts.get("file", 0) >= 1
                     or db_rows(db, "SELECT 1 FROM jobs WHERE status = 'completed'"))


POINTS: dict[str, Trigger] = {
    "at the answer": at_answer,
    "mid-submit": mid_submit,
    "after submit": after_submit,
    "after the first edit": after_first_edit,
    "at completion": at_completion,
    "mid-delivery": mid_delivery,
}


def final_state(fake: FakeDiscord, token: str) -> str:
    """What the member sees in the reply of this interaction now."""
    message = fake.original_message(token)
    assert message is not None, f"no reply for {token[:12]}"
    assert not message.get("flags", 0) & 128, "the reply still says the bot is thinking"
    return str(message.get("content", ""))


async def run_and_kill(fake: FakeDiscord, server: LocalRunComfyServer, db: Path,
                       trigger: Trigger, prompts: list[str]) -> tuple[list[str], Corpse]:
    """Start a bot, send it one /ideogram per prompt at once, kill it at ``trigger``."""
    first = await start_unmanaged_bot(fake, server, db)
    payloads = [chat_input("ideogram", {"prompt": p}) for p in prompts]
    for payload in payloads:
        start_dispatch(first, payload)
    await trigger(fake, server, db)
    corpse = await kill(first)
    return [p["token"] for p in payloads], corpse


def assert_recovered(fake: FakeDiscord, server: LocalRunComfyServer, db: Path,
                     tokens: list[str]) -> None:
    answered = [t for t in tokens if (rec := fake.interaction(t)) is not None
                and rec.callback_type is not None]
    assert answered, "Discord saw no command answered"
    for token in answered:
        text = final_state(fake, token)
        assert text.startswith(("✅ Done", "❌ Failed — ")), text
        if text.startswith("❌"):
            assert len(text) > len("❌ Failed — ") + 10  # a reason, not a bare failure
    # Into the replies, never as new messages in the channel.
    assert not fake.calls("POST", rf"^/channels/{ids.CHANNEL_ID}/messages$"), fake.summary()
    # Nothing sent twice: one provider request per job at most.
    prompts = [job.inputs.get("prompt") for job in server.state.jobs.values()]
    assert len(prompts) == len(set(prompts)), prompts
    # Every reservation settled; every job ended (delivered or, unanswered, dropped).
    assert db_rows(db, "SELECT count(*) FROM usage_reservations WHERE state = 'reserved'") == [(0,)]
    assert db_rows(db, "SELECT count(*) FROM jobs WHERE delivered_at IS NULL") == [(0,)]
    jobs = db_rows(db, "SELECT count(*) FROM jobs")[0][0]
    assert jobs == len(tokens)  # each command's row was written before its answer


async def restart_until_settled(fake: FakeDiscord, server: LocalRunComfyServer,
                                db: Path) -> None:
    async with ideogram_bot(fake, server, db) as second:
        await until_delivered(second, db)


async def until_delivered(bot: IdeogramBot, db: Path, limit: float = 15.0) -> None:
    await eventually(lambda: db_rows(db, "SELECT count(*) FROM jobs WHERE delivered_at IS NULL")
                     == [(0,)], timeout=limit)
    await bot.result_delivery.wait_idle()


@pytest.mark.parametrize("point", list(POINTS))
async def test_a_kill_at_any_point_ends_every_answered_reply(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path,
        point: str) -> None:
    local_server.state.config.queue_seconds = 0.2
    local_server.state.config.run_seconds = 0.2
    db = tmp_path / "bot.db"
    tokens, corpse = await run_and_kill(fake, local_server, db, POINTS[point],
                                        ["a lighthouse", "a harbour", "a gull"])
    try:
        await restart_until_settled(fake, local_server, db)
        assert_recovered(fake, local_server, db, tokens)
    finally:
        await corpse.bury()


async def test_a_kill_early_in_a_burst(fake: FakeDiscord, local_server: LocalRunComfyServer,
                                       tmp_path: Path) -> None:
    """Twenty commands at once, killed 30 ms in: some answered, some not yet written."""
    local_server.state.config.queue_seconds = 0.2
    local_server.state.config.run_seconds = 0.2
    db = tmp_path / "bot.db"

    async def soon(fake: FakeDiscord, server: LocalRunComfyServer, db: Path) -> None:
        await asyncio.sleep(0.03)

    tokens, corpse = await run_and_kill(fake, local_server, db, soon,
                                        [f"gull number {i}" for i in range(20)])
    try:
        await restart_until_settled(fake, local_server, db)
        answered = {t for t in tokens if (r := fake.interaction(t)) is not None
                    and r.callback_type is not None}
        for token in answered:
            assert final_state(fake, token).startswith(("✅ Done", "❌ Failed — "))
        assert not fake.calls("POST", rf"^/channels/{ids.CHANNEL_ID}/messages$")
        prompts = [job.inputs.get("prompt") for job in local_server.state.jobs.values()]
        assert len(prompts) == len(set(prompts))
        assert db_rows(db, "SELECT count(*) FROM usage_reservations "
                           "WHERE state = 'reserved'") == [(0,)]
        # Commands written but never answered left no trace in Discord and no charge.
        unanswered = db_rows(db, "SELECT count(*) FROM jobs WHERE status = 'failed' "
                                 "AND error = 'not_acknowledged'")[0][0]
        assert unanswered == len(tokens) - len(answered) - (
            len(tokens) - db_rows(db, "SELECT count(*) FROM jobs")[0][0])
    finally:
        await corpse.bury()


async def test_answered_but_never_sent_survives_a_restart_after_the_tokens_expired(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path) -> None:
    """Killed after the answers, before any send (under a burst, sends may wait minutes),
    restarted once the interaction tokens are over: the rows say which reply is whose, so
    every job is still made and shown in its own reply (edited through the channel)."""
    db = tmp_path / "bot.db"
    first = await start_unmanaged_bot(fake, local_server, db)

    async def never_sent(job: object) -> None:
        await asyncio.Event().wait()

    first.tracker._submissions._submit = never_sent  # type: ignore[method-assign]  # held back
    payloads = [chat_input("ideogram", {"prompt": p}) for p in ("a heron", "a crane")]
    payloads.append(chat_input("ideogram", {"prompt": "two storks", "count": 2}))
    for payload in payloads:
        start_dispatch(first, payload)
    await eventually(lambda: db_rows(db, "SELECT count(*) FROM jobs WHERE message_id IS NOT "
                                         "NULL") == [(4,)], what="every reply id written")
    assert db_rows(db, "SELECT count(*) FROM jobs WHERE submitting_at IS NULL") == [(4,)]
    corpse = await kill(first)
    try:
        for payload in payloads:  # 15 minutes later
            fake.expire_interaction(payload["token"])
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE jobs SET token_expires_at = 1")
        await restart_until_settled(fake, local_server, db)
        for payload in payloads:
            assert final_state(fake, payload["token"]).startswith("✅")
        assert len(local_server.state.jobs) == 4
        assert db_rows(db, "SELECT count(*) FROM usage_reservations WHERE state = "
                           "'committed'") == [(4,)]
    finally:
        await corpse.bury()


async def test_jobs_ended_at_the_restart_are_counted_once(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path) -> None:
    """A job the restart ends (sent or not, nobody knows: "interrupted") is announced when
    it ends and again as undelivered; ``ideogram_jobs_total`` counts it once."""
    local_server.state.config.queue_seconds = 0.2
    local_server.state.config.run_seconds = 0.2
    db = tmp_path / "bot.db"

    def ended_total() -> float:
        return sum(metrics.REGISTRY.get_sample_value(
            "ideogram_jobs_total", {"model": GENERATE_MODEL, "status": status}) or 0.0
            for status in ("completed", "failed", "cancelled"))

    before = ended_total()
    tokens, corpse = await run_and_kill(fake, local_server, db, mid_submit,
                                        ["a lighthouse", "a harbour", "a gull"])
    try:
        await restart_until_settled(fake, local_server, db)
        assert_recovered(fake, local_server, db, tokens)
        assert db_rows(db, "SELECT count(*) FROM jobs WHERE error = 'interrupted'")[0][0] >= 1
        shown = db_rows(db, "SELECT count(*) FROM jobs WHERE error IS NULL "
                            "OR error != 'not_acknowledged'")[0][0]
        assert ended_total() - before == shown == 3
    finally:
        await corpse.bury()
