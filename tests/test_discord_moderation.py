"""/settings and its launch check, /queue with a moderator's cancel, and /history-export,
over real discord.py dispatch with real SQLite files and the local provider."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.jobs import JobRecord, JobStatus, new_job_id
from bot.localserver.app import LocalRunComfyServer
from bot.store import GuildSettings
from cogs.core.bot import IdeogramBot
from tests.harness import (
    FakeDiscord,
    attachment_option,
    channel_option,
    channel_payload,
    chat_input,
    component,
    dispatch,
    fake_with_log_channel,
    ids,
    png_bytes,
)
from tests.helpers import callback, db_rows, ideogram_bot, run_command, wait_delivered, wait_for_job

ART_CHANNEL_ID = 1300000000000000003


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with fake_with_log_channel(channel_payload(ART_CHANNEL_ID, name="art",
                                                     position=2)) as started:
        yield started


async def settings(fake: FakeDiscord, bot: IdeogramBot, subcommand: str, options: Any = None,
                   user_id: int = ids.MOD_USER_ID) -> str:
    cb = await run_command(fake, bot, "settings", options, subcommand=subcommand, user_id=user_id)
    assert cb["type"] == 4 and cb["data"]["flags"] & 64, cb
    return str(cb["data"].get("content") or cb["data"].get("embeds"))


def is_private_refusal(cb: dict[str, Any]) -> bool:
    return cb["type"] == 4 and bool(cb["data"]["flags"] & 64)


def table_count(db: Path, table: str) -> int:
    return int(db_rows(db, f"SELECT count(*) FROM {table}")[0][0])


async def test_non_moderators_are_refused_by_code_and_nothing_changes(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    attempts: list[tuple[str, Any]] = [
        ("show", None),
        ("channel-allow", [channel_option("channel", ART_CHANNEL_ID)]),
        ("blocked-words-add", {"words": "cat"}),
        ("command", {"command": "ideogram", "enabled": False}),
        ("log-channel", [channel_option("channel", ids.LOG_CHANNEL_ID)]),
        ("provider", {"provider": "runcomfy"}),
    ]
    for subcommand, options in attempts:
        text = await settings(fake, bot, subcommand, options, user_id=ids.USER_ID)
        assert "Only moderators" in text, (subcommand, text)
    assert await bot.store.get_guild_settings(ids.GUILD_ID) == GuildSettings(guild_id=ids.GUILD_ID)
    # The same commands work for Administrators and Manage Server.
    assert "Blocked 1" in await settings(fake, bot, "blocked-words-add", {"words": "cat"},
                                         user_id=ids.OWNER_USER_ID)


async def test_blocked_words_refuse_without_echo_submit_or_count_and_are_logged(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        db: Path) -> None:
    text = await settings(fake, bot, "blocked-words-add",
                          {"words": "Forbidden  Fruit, zorp, zorp"})
    assert "Blocked 2" in text
    assert "Blocked 0" in await settings(fake, bot, "blocked-words-add", {"words": "ZORP"})
    await settings(fake, bot, "log-channel", [channel_option("channel", ids.LOG_CHANNEL_ID)])

    for options in ({"prompt": "a basket of FORBIDDEN\nfruit, still life"},
                    {"prompt": "a quiet lake", "negative_prompt": "no zorp."}):
        cb = await run_command(fake, bot, "ideogram", options)
        assert is_private_refusal(cb)
        content = cb["data"]["content"]
        assert "doesn't allow" in content
        for word in ("forbidden", "fruit", "zorp"):
            assert word not in content.lower()
    assert local_server.state.submit_count == 0
    assert await bot.store.jobs_for_user(ids.GUILD_ID, ids.USER_ID) == []
    assert table_count(db, "usage_reservations") == 0

    log_post = await fake.wait_for(method="POST",
                                   path=rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$")
    assert "Blocked" in log_post.json["content"] and f"<@{ids.USER_ID}>" in log_post.json["content"]

    # A word inside another word is fine; a failing log post never breaks the refusal.
    cb = await run_command(fake, bot, "ideogram", {"prompt": "zorpish fruitcake"})
    assert cb == {"type": 5}
    fake.fail_next("POST", rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$", status=403)
    cb = await run_command(fake, bot, "ideogram", {"prompt": "zorp"})
    assert is_private_refusal(cb)
    await bot.mod_log.wait_idle()

    assert "Removed 1" in await settings(fake, bot, "blocked-words-remove", {"words": "zorp"})
    assert (await bot.store.get_guild_settings(ids.GUILD_ID)).blocked_words == ("forbidden fruit",)


async def test_a_recall_blocked_since_names_who_recalled_it_where(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    await dispatch(bot, chat_input("ideogram", {"prompt": "a zorp at dawn"}))
    job = await wait_delivered(bot)
    await settings(fake, bot, "blocked-words-add", {"words": "zorp"})
    await settings(fake, bot, "log-channel", [channel_option("channel", ids.LOG_CHANNEL_ID)])

    cb = await run_command(fake, bot, "job", {"id": job.short_id}, user_id=ids.MOD_USER_ID,
                           channel_id=ART_CHANNEL_ID)
    assert is_private_refusal(cb)
    assert "no longer allows, so it can't be posted again" in cb["data"]["content"]
    log_post = await fake.wait_for(method="POST",
                                   path=rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$")
    line = log_post.json["content"]
    assert "`/job`" in line and f"<@{ids.MOD_USER_ID}>" in line and f"<#{ART_CHANNEL_ID}>" in line
    assert f"<@{ids.USER_ID}>" not in line  # the author did nothing


async def test_allowed_channels_and_disabled_commands(fake: FakeDiscord, bot: IdeogramBot,
                                                      local_server: LocalRunComfyServer) -> None:
    text = await settings(fake, bot, "channel-allow", [channel_option("channel", ART_CHANNEL_ID)])
    assert f"<#{ART_CHANNEL_ID}>" in text and "only" in text

    cb = await run_command(fake, bot, "ideogram", {"prompt": "a fox"})
    assert is_private_refusal(cb)
    assert "can't be made in this channel" in cb["data"]["content"]
    assert f"<#{ART_CHANNEL_ID}>" in cb["data"]["content"]
    assert local_server.state.submit_count == 0
    assert (await run_command(fake, bot, "ideogram", {"prompt": "a fox"}, channel_id=ART_CHANNEL_ID)
            ) == {"type": 5}
    # A thread counts as its parent channel: allowed under #art, refused under #general.
    thread = ART_CHANNEL_ID + 1000
    assert (await run_command(fake, bot, "ideogram", {"prompt": "a fox in a thread"},
                              channel_id=thread, thread_parent_id=ART_CHANNEL_ID)
            ) == {"type": 5}
    cb = await run_command(fake, bot, "ideogram", {"prompt": "a fox"}, channel_id=thread + 1,
                           thread_parent_id=ids.CHANNEL_ID)
    assert is_private_refusal(cb) and "can't be made in this channel" in cb["data"]["content"]

    text = await settings(fake, bot, "channel-disallow",
                          [channel_option("channel", ART_CHANNEL_ID)])
    assert "everywhere" in text

    assert "**off**" in await settings(fake, bot, "command",
                                       {"command": "reframe", "enabled": False})
    image = attachment_option("image", data=png_bytes(8, 8), filename="in.png")
    cb = await run_command(fake, bot, "reframe", [image])
    assert is_private_refusal(cb) and "`/reframe` is turned off" in cb["data"]["content"]
    await settings(fake, bot, "command", {"command": "ideogram", "enabled": False})
    cb = await run_command(fake, bot, "ideogram", {"prompt": "a fox"})
    assert is_private_refusal(cb) and "`/ideogram` is turned off" in cb["data"]["content"]
    assert local_server.state.submit_count == 2  # only the jobs in the allowed channel

    await settings(fake, bot, "command", {"command": "ideogram", "enabled": True})
    assert await run_command(fake, bot, "ideogram", {"prompt": "a fox"}) == {"type": 5}


async def test_show_log_channel_and_provider(fake: FakeDiscord, bot: IdeogramBot) -> None:
    await settings(fake, bot, "blocked-words-add", {"words": "alpha, beta gamma"})
    await settings(fake, bot, "log-channel", [channel_option("channel", ids.LOG_CHANNEL_ID)])
    assert "not configured" in await settings(fake, bot, "provider", {"provider": "ideogram"})
    assert "runcomfy" in await settings(fake, bot, "provider", {"provider": "runcomfy"})

    cb = await run_command(fake, bot, "settings", subcommand="show", user_id=ids.MOD_USER_ID)
    fields = {f["name"]: f["value"] for f in cb["data"]["embeds"][0]["fields"]}
    assert fields["Allowed channels"] == "Everywhere"
    assert fields["Log channel"] == f"<#{ids.LOG_CHANNEL_ID}>"
    assert fields["Provider"] == "runcomfy" and fields["/ideogram"] == "on"
    assert fields["Blocked words (2)"] == "||alpha||, ||beta gamma||"
    assert fields["Retention"] == "90 days"

    assert "No log channel" in await settings(fake, bot, "log-channel")
    assert (await bot.store.get_guild_settings(ids.GUILD_ID)).log_channel_id is None
    # A category is not a channel to allow; a too-long phrase is refused.
    assert "Pick a text" in await settings(
        fake, bot, "channel-allow", [channel_option("channel", ART_CHANNEL_ID, channel_type=4)])
    assert "limit is 100" in await settings(fake, bot, "blocked-words-add", {"words": "x" * 101})


async def test_provider_ideogram_is_stored_when_configured(
        fake: FakeDiscord, local_server: LocalRunComfyServer, db: Path) -> None:
    async with ideogram_bot(fake, local_server, db, ideogram=True) as bot:
        assert "ideogram" in await settings(fake, bot, "provider", {"provider": "ideogram"})
        assert (await bot.store.get_guild_settings(ids.GUILD_ID)).provider == "ideogram"


async def test_queue_lists_jobs_and_a_moderator_cancel_reaches_the_provider(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    local_server.state.config.queue_seconds = 30.0
    await settings(fake, bot, "log-channel", [channel_option("channel", ids.LOG_CHANNEL_ID)])
    await run_command(fake, bot, "ideogram", {"prompt": "first in line"})
    await run_command(fake, bot, "ideogram", {"prompt": "second in line"},
                      user_id=ids.OTHER_USER_ID)
    first = await wait_for_job(bot, lambda j: j.status is JobStatus.QUEUED, user_id=ids.USER_ID)
    second = await wait_for_job(bot, lambda j: j.status is JobStatus.QUEUED,
                                user_id=ids.OTHER_USER_ID)

    cb = await run_command(fake, bot, "queue")
    assert cb["type"] == 4 and cb["data"]["flags"] & 64
    description = cb["data"]["embeds"][0]["description"]
    assert f"**1.** `{first.short_id}`" in description
    assert f"**2.** `{second.short_id}`" in description and "<t:" in description
    assert not cb["data"].get("components")  # members can't cancel from here

    payload = chat_input("queue", {}, user_id=ids.MOD_USER_ID)
    await dispatch(bot, payload)
    message = fake.original_message(payload["token"]) or {}
    [select] = [c for row in message["components"] for c in row["components"]]
    assert [o["value"] for o in select["options"]] == [first.id, second.id]

    stranger = component(select["custom_id"], component_type=3, values=[second.id],
                         message=message, user_id=ids.USER_ID)
    await dispatch(bot, stranger)
    assert "Only moderators" in callback(fake, stranger)["data"]["content"]
    assert local_server.state.request_counts["cancel"] == 0

    choose = component(select["custom_id"], component_type=3, values=[second.id],
                       message=message, user_id=ids.MOD_USER_ID)
    await dispatch(bot, choose)
    assert callback(fake, choose) == {"type": 6}
    assert local_server.state.request_counts["cancel"] == 1
    assert local_server.state.jobs[second.request_id or ""].status().value == "cancelled"
    cancelled = await bot.store.get_job(second.id)
    assert cancelled is not None and cancelled.status is JobStatus.CANCELLED
    refreshed = fake.message(message["id"]) or {}
    assert "Cancelled job" in refreshed["content"]
    assert second.short_id not in refreshed["embeds"][0]["description"]
    post = await fake.wait_for(method="POST", path=rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$")
    assert f"<@{ids.MOD_USER_ID}> cancelled job `{second.short_id}`" in post.json["content"]

    # A job still being sent: "try again in a moment", not "no longer queued (pending)".
    await bot.store.update_job(first.id, status=JobStatus.PENDING)
    sending = component(select["custom_id"], component_type=3, values=[first.id],
                        message=message, user_id=ids.MOD_USER_ID)
    await dispatch(bot, sending)
    assert "Still being sent" in callback(fake, sending)["data"]["content"]


def stored_job(number: int, prompt: str) -> JobRecord:
    return JobRecord(
        id=new_job_id(), provider="runcomfy", model="ideogram/ideogram-v2/generate",
        guild_id=ids.GUILD_ID, channel_id=ids.CHANNEL_ID, user_id=ids.USER_ID,
        inputs={"prompt": prompt, "seed": number, "style": "auto"}, seed=number,
        status=JobStatus.COMPLETED, cost=0.08, message_id=70 + number,
        created_at=1_750_000_000.0 + number)


async def test_history_export_for_moderators(fake: FakeDiscord, bot: IdeogramBot) -> None:
    prompts = ['say "hi", twice', "two\nlines", "plain"] * 20
    jobs = [stored_job(i, f"{p} {i}") for i, p in enumerate(prompts)]
    for job in jobs:
        await bot.store.insert_job(job)

    cb = await run_command(fake, bot, "history-export")
    assert is_private_refusal(cb) and "Only moderators" in cb["data"]["content"]

    payload = chat_input("history-export", {}, user_id=ids.MOD_USER_ID)
    await dispatch(bot, payload)
    assert callback(fake, payload) == {"type": 5, "data": {"flags": 64}}
    [edit] = fake.edits_of_original(payload["token"])
    assert "60 jobs" in edit.json["content"]
    [attached] = edit.files
    assert attached.filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(attached.data.decode("utf-8-sig"), newline="")))
    assert [(r["id"], r["prompt"], r["user_id"]) for r in rows] == [
        (j.id, j.inputs["prompt"], str(j.user_id)) for j in jobs]
    assert rows[0]["message_link"] == (
        f"https://discord.com/channels/{ids.GUILD_ID}/{ids.CHANNEL_ID}/{jobs[0].message_id}")

    # A small upload limit: compressed, then split; the message says so.
    small = chat_input("history-export", {}, user_id=ids.MOD_USER_ID, attachment_size_limit=1500)
    await dispatch(bot, small)
    [edit] = fake.edits_of_original(small["token"])
    assert "gzip" in edit.json["content"] and "split" in edit.json["content"]
    files = edit.files + [f for r in fake.followups(small["token"]) for f in r.files]
    assert len(files) >= 2 and all(len(f.data) <= 1500 for f in files)
    job_ids = [r["id"] for f in files for r in csv.DictReader(
        io.StringIO(gzip.decompress(f.data).decode("utf-8-sig"), newline=""))]
    assert job_ids == [j.id for j in jobs]


async def test_commands_sync_with_the_documented_names_and_options(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    await bot.tree.sync()
    assert not fake.violations, fake.violations
    synced = {c["name"]: c for c in fake.commands[None]}
    options = {name: [o["name"] for o in synced[name].get("options", [])]
               for name in ("history", "job", "queue", "history-export")}
    assert options == {"history": ["member", "page"], "job": ["id"], "queue": [],
                       "history-export": []}
    subcommands = {o["name"]: [p["name"] for p in o.get("options", [])]
                   for o in synced["settings"]["options"]}
    assert subcommands == {
        "show": [], "channel-allow": ["channel"], "channel-disallow": ["channel"],
        "blocked-words-add": ["words"], "blocked-words-remove": ["words"],
        "command": ["command", "enabled"], "log-channel": ["channel"],
        "provider": ["provider"], "language": ["language"],
    }
    by_name = {o["name"]: o for o in synced["settings"]["options"]}
    assert [c["value"] for c in by_name["command"]["options"][0]["choices"]] == [
        "ideogram", "reframe"]
    assert [c["value"] for c in by_name["provider"]["options"][0]["choices"]] == [
        "runcomfy", "ideogram"]
    assert int(synced["settings"]["default_member_permissions"]) == 1 << 5  # Manage Server


@pytest.mark.parametrize("subcommand", ["log-channel", "channel-allow"])
async def test_a_channel_of_another_server_is_refused(fake: FakeDiscord, bot: IdeogramBot,
                                                      subcommand: str) -> None:
    # Discord offers only the server's own channels; a forged id of another server's
    # channel arrives resolved as if it were one of them.
    foreign = 1390000000000000099
    text = await settings(fake, bot, subcommand, [channel_option("channel", foreign)])
    assert "Pick a channel of this server." in text
    stored = await bot.store.get_guild_settings(ids.GUILD_ID)
    assert stored is None or (stored.log_channel_id != foreign
                              and foreign not in stored.allowed_channel_ids)
