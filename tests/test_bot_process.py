"""The real ``python -m bot`` process, driven through the fake Discord gateway: a job end to
end, then a crash (SIGKILL) mid-job and a restart on the same database file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.localserver.app import LocalRunComfyServer
from tests.harness import (
    BotProcess,
    FakeDiscord,
    InteractionRecord,
    RecordedRequest,
    bot_process_env,
    chat_input,
    eventually,
)
from tests.helpers import db_rows


def reply_recorded(db: Path, interaction_id: int) -> bool:
    """The job names its reply and the provider's request id is saved: a kill from now on
    leaves a job a restart can resume (a kill between the provider taking the job and its
    id being saved rightly ends the job "interrupted" instead: it is never resent)."""
    rows = db_rows(db, "SELECT message_id, request_id FROM jobs WHERE interaction_id = ?",
                   interaction_id)
    return bool(rows and rows[0][0] and rows[0][1])


async def image_delivered(fake: FakeDiscord, record: InteractionRecord) -> RecordedRequest:
    """The edit of the interaction's own reply that carries the image: through the
    interaction's webhook (as ``@original`` or by id), or through the channel."""
    reply = rf"^/webhooks/\d+/{record.token}/messages/(@original|{record.original_id})$"
    by_channel = rf"^/channels/{record.channel_id}/messages/{record.original_id}$"
    return await fake.wait_for(
        lambda r: bool(r.files) and r.status == 200 and re.search(f"{reply}|{by_channel}", r.path),
        method="PATCH", timeout=15,
    )


async def test_a_real_process_delivers_and_survives_a_kill_mid_job(
    fake: FakeDiscord, local_server: LocalRunComfyServer, db: Path
) -> None:
    provider = local_server
    provider.config.queue_seconds, provider.config.run_seconds = 0.2, 0.3
    env = bot_process_env(fake, db, provider=provider)
    async with BotProcess(fake, env) as bot:
        assert {c["name"] for c in fake.commands[None]} >= {"ideogram", "reframe", "quota"}

        first = await bot.send(chat_input("ideogram", {"prompt": "a lighthouse", "seed": 7}))
        final = await image_delivered(fake, first)
        assert first.callback_type == 5  # deferred publicly over the real gateway path
        assert final.files[0].data[:8] == b"\x89PNG\r\n\x1a\n"
        assert not fake.violations

        # A second job, killed while the provider is running it.
        provider.config.run_seconds = 1.5
        second = await bot.send(chat_input("ideogram", {"prompt": "a storm at sea", "seed": 8}))
        await eventually(lambda: len(provider.state.jobs) == 2, what="the second submit")
        # Once the job names its reply, a restart can finish that very reply.
        await eventually(lambda: reply_recorded(db, second.id), what="the reply's message id")
        assert await bot.kill() < 0  # killed by the signal
        assert not any(r.files for r in fake.edits_of_original(second.token))

        await bot.start()  # same environment: the same database file
        final = await image_delivered(fake, second)
        assert final.files[0].data[:8] == b"\x89PNG\r\n\x1a\n"
        reply = fake.message(second.original_id or 0)
        assert reply is not None and reply["attachments"], "the reply itself shows the image"
        assert len(provider.state.jobs) == 2  # nothing submitted twice
        assert not fake.violations


async def test_a_process_that_cannot_start_fails_the_start_with_its_output(
    fake: FakeDiscord, db: Path
) -> None:
    env = bot_process_env(fake, db, DATABASE_URL="postgres://nowhere")
    bot = BotProcess(fake, env, workdir=db.parent)
    with pytest.raises(AssertionError, match=r"exited with 2 before it was ready") as failed:
        await bot.start()
    assert "DATABASE_URL" in str(failed.value)  # the bot's own one-line reason is shown
    assert not bot.running and not fake.gateway.sessions
