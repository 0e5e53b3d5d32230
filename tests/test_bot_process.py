"""The real ``python -m bot`` process, driven through the fake Discord gateway: a job end to
end, then a crash (SIGKILL) mid-job and a restart on the same database file."""

from __future__ import annotations

import asyncio
import json
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
    ids,
)
from tests.harness.process import BOT_TOKEN
from tests.helpers import db_rows, free_port


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


async def failed_start(fake: FakeDiscord, env: dict[str, str],
                       workdir: Path) -> tuple[int, list[dict[str, object]]]:
    """Start a bot that cannot start: its exit status, and its output as JSON lines (every
    line must be one: LOG_FORMAT=json is for a log pipeline that parses each)."""
    bot = BotProcess(fake, env | {"LOG_FORMAT": "json"}, workdir=workdir)
    with pytest.raises(AssertionError, match=r"exited with \d+ before it was ready"):
        await bot.start()
    assert bot.process is not None and bot.process.returncode is not None
    lines = [line for line in bot.output().splitlines() if line.strip()]
    for line in lines:
        assert isinstance(json.loads(line), dict), line
    return bot.process.returncode, [json.loads(line) for line in lines]


def critical(lines: list[dict[str, object]]) -> dict[str, object]:
    [line] = [line for line in lines if line["level"] == "CRITICAL"]
    return line


async def test_a_busy_metrics_port_is_one_json_line_naming_the_setting(
        fake: FakeDiscord, db: Path) -> None:
    taken = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = taken.sockets[0].getsockname()[1]
    try:
        env = bot_process_env(fake, db, METRICS_HOST="127.0.0.1", METRICS_PORT=str(port))
        status, lines = await failed_start(fake, env, db.parent)
    finally:
        taken.close()
        await taken.wait_closed()
    assert status == 2
    said = str(critical(lines)["message"])
    assert said.startswith(f"Cannot start: METRICS_PORT: cannot listen on 127.0.0.1:{port} (")
    assert said.count("cannot listen") == 1 and said.endswith("leave METRICS_PORT empty.")


async def test_discord_answering_503_is_one_json_line_saying_discord_has_trouble(
        fake: FakeDiscord, db: Path) -> None:
    fake.fail_next("GET", r"^/users/@me$", status=503)
    status, lines = await failed_start(fake, bot_process_env(fake, db), db.parent)
    assert status == 2
    said = str(critical(lines)["message"])
    # Discord was reached: nothing on this machine to check, only to wait.
    assert said.startswith("Cannot start: Discord answered 503 Service Unavailable")
    assert "having trouble" in said and "try again in a few minutes" in said
    assert "cannot reach" not in said and "network" not in said
    assert "exc_info" not in critical(lines)


async def test_discord_answering_503_to_the_command_sync_is_the_same_line(
        fake: FakeDiscord, db: Path) -> None:
    fake.fail_next("PUT", r"^/applications/\d+/commands$", status=503)
    status, lines = await failed_start(fake, bot_process_env(fake, db), db.parent)
    assert status == 2
    assert str(critical(lines)["message"]).startswith(
        "Cannot start: Discord answered 503 Service Unavailable")
    assert "exc_info" not in critical(lines)


async def test_discord_out_of_reach_is_one_json_line_saying_to_check_the_network(
        fake: FakeDiscord, db: Path) -> None:
    env = bot_process_env(fake, db, DISCORD_API_BASE=f"http://127.0.0.1:{free_port()}/api/v10")
    status, lines = await failed_start(fake, env, db.parent)
    assert status == 2
    said = str(critical(lines)["message"])
    assert said.startswith("Cannot start: cannot reach Discord (ClientConnectorError)")
    assert "network connection" in said
    assert "exc_info" not in critical(lines)


ELSEWHERE_GUILD_ID = 1200000000000000099  # a server the bot was never invited to


async def test_a_guild_that_refuses_the_command_sync_is_one_json_line_naming_it(
        fake: FakeDiscord, db: Path) -> None:
    # Discord's answer when the bot is not in the server, or was invited without the
    # applications.commands scope; the first server syncs, the second refuses.
    fake.fail_next("PUT", rf"^/applications/\d+/guilds/{ELSEWHERE_GUILD_ID}/commands$",
                   status=403, body={"message": "Missing Access", "code": 50001})
    env = bot_process_env(fake, db, DISCORD_GUILD_IDS=f"{ids.GUILD_ID},{ELSEWHERE_GUILD_ID}")
    status, lines = await failed_start(fake, env, db.parent)
    assert status == 2
    line = critical(lines)
    said = str(line["message"])
    assert said.startswith(f"Cannot start: Discord refused the commands for server "
                           f"{ELSEWHERE_GUILD_ID} (403 Missing Access)")
    assert "applications.commands" in said and "DISCORD_GUILD_IDS" in said
    assert f"client_id={ids.APPLICATION_ID}&scope=bot+applications.commands" in said
    assert str(ids.GUILD_ID) not in said  # the server that accepted them is not blamed
    assert "exc_info" not in line
    assert fake.commands[ids.GUILD_ID]  # synced before the refusal


async def test_a_refused_global_command_sync_is_one_json_line(
        fake: FakeDiscord, db: Path) -> None:
    fake.fail_next("PUT", r"^/applications/\d+/commands$",
                   status=403, body={"message": "Missing Access", "code": 50001})
    status, lines = await failed_start(fake, bot_process_env(fake, db), db.parent)
    assert status == 2
    said = str(critical(lines)["message"])
    assert said.startswith("Cannot start: Discord refused the commands (403 Missing Access)")
    assert "exc_info" not in critical(lines)


async def test_an_unexpected_error_at_start_is_logged_with_its_traceback_as_json(
        fake: FakeDiscord, db: Path) -> None:
    fake.fail_next("GET", r"^/users/@me$", status=400)  # no setting of the owner's to blame
    status, lines = await failed_start(fake, bot_process_env(fake, db), db.parent)
    assert status == 1
    line = critical(lines)
    assert "Traceback" in str(line["exc_info"]) and "HTTPException" in str(line["exc_info"])
    assert BOT_TOKEN not in json.dumps(lines)
