"""Operations with the real bot in this process, connected to the fake Discord's gateway:
/metrics after real jobs (read with prometheus_client's own parser), /healthz, a graceful
stop, /help and the greeting on joining a server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import load_settings
from bot.localserver.app import LocalRunComfyServer
from bot.ops_server import OpsServer
from bot.tracker import TrackerConfig
from cogs.core.bot import RESTARTING, IdeogramBot
from cogs.core.invite import INVITE_PERMISSIONS
from cogs.core.services import build_services
from tests.harness import (
    FakeDiscord,
    InteractionRecord,
    RecordedRequest,
    channel_payload,
    chat_input,
    component,
    eventually,
    fake_with_log_channel,
    gateway_bot,
    guild_payload,
    ids,
    member_payload,
    role_payload,
)
from tests.helpers import FAST_POLLING, TOKEN, delivered, wait_for_job

GENERATE = "ideogram/ideogram-v2/generate"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@contextlib.asynccontextmanager
async def ops_bot(fake: FakeDiscord, provider: LocalRunComfyServer, db: Path, *,
                  min_edit_interval: float = 0.0, grace: float = 3.0,
                  ) -> AsyncIterator[tuple[IdeogramBot, str]]:
    """The bot as ``run_bot`` wires it (``build_services``), on the gateway, with its
    health and metrics server on a free port; yields (bot, that server's base URL)."""
    settings = load_settings(None, DISCORD_TOKEN="harness-bot-token",
                             DATABASE_URL=f"sqlite:///{db}", RUNCOMFY_API_TOKEN=TOKEN,
                             RUNCOMFY_BASE_URL=provider.base_url,
                             SHUTDOWN_GRACE_SECONDS=grace)
    services = await build_services(settings)
    services.tracker_config = TrackerConfig(polling=FAST_POLLING)
    bot = IdeogramBot(settings, services, min_edit_interval=min_edit_interval)
    ops = OpsServer("127.0.0.1", 0, bot.gateway_state, bot.store.probe_write)
    await ops.start()
    try:
        async with gateway_bot(fake, bot) as running:
            yield running, f"http://127.0.0.1:{ops.bound_port}"
            await running.result_delivery.wait_idle()
    finally:
        await ops.stop()
        await services.aclose()


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def scrape(base: str) -> Samples:
    status, text = await get(f"{base}/metrics")
    assert status == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def answered(fake: FakeDiscord, record: InteractionRecord) -> RecordedRequest:
    return await fake.wait_for(method="POST", path=rf"^/interactions/{record.id}/")


async def test_metrics_and_health_after_real_jobs(fake_discord: FakeDiscord,
                                                  local_server: LocalRunComfyServer,
                                                  db: Path) -> None:
    fake = fake_discord
    async with ops_bot(fake, local_server, db) as (bot, base):
        before = await scrape(base)
        status, body = await get(f"{base}/healthz")
        assert status == 200, body
        health = json.loads(body)
        assert health["status"] == "ok" and health["gateway"]["connected"]
        assert health["database"]["writable"] and health["gateway"]["latency_ms"] is not None

        # One image, with a 429 on its first progress edit that discord.py waits out. Its
        # send is slow: meanwhile the job is pending.
        fake.fail_next("PATCH", r"/messages/@original$", status=429)
        local_server.state.faults.slow(1.5, kind="submit")
        await bot_send(fake, chat_input("ideogram", {"prompt": "a lighthouse", "seed": 3}))
        await eventually(lambda: local_server.state.request_counts.get("submit", 0) >= 1)
        assert value(await scrape(base), "ideogram_jobs_in_flight", status="pending") == 1
        done = await wait_for_job(bot, delivered)
        # Then the quota refuses the next one.
        await bot.quota_admin.set_limits(ids.GUILD_ID, ids.MOD_USER_ID, {"user_daily": 1})
        refused = await bot_send(fake, chat_input("ideogram", {"prompt": "again"}))
        callback = await answered(fake, refused)
        assert callback.json["type"] == 4 and "Daily limit" in str(callback.json)
        # Every first answer is timed, not only the image commands': /help too.
        help_answer = await answered(fake, await bot_send(fake, chat_input("help")))
        assert help_answer.json["type"] == 4
        await bot.result_delivery.wait_idle()
        after = await scrape(base)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert done.model == GENERATE
    assert delta("ideogram_jobs_total", model=GENERATE, status="completed") == 1
    assert delta("ideogram_jobs_total", model=GENERATE, status="failed") == 0
    for status in ("pending", "queued", "running"):
        assert value(after, "ideogram_jobs_in_flight", status=status) == 0
    assert delta("ideogram_provider_requests_total", provider="runcomfy", endpoint="submit",
                 outcome="ok") == 1
    assert delta("ideogram_provider_requests_total", provider="runcomfy", endpoint="status",
                 outcome="ok") >= 1
    assert delta("ideogram_provider_requests_total", provider="runcomfy", endpoint="result",
                 outcome="ok") == 1
    # The deferral, the refusal, /help.
    assert delta("ideogram_interaction_ack_seconds_count") == 3
    assert delta("ideogram_interaction_ack_seconds_bucket", le="3.0") == 3
    assert delta("ideogram_delivery_delay_seconds_count") == 1
    assert delta("ideogram_quota_refusals_total", limit="user_daily") == 1
    assert delta("ideogram_discord_rate_limited_total") == 1
    # Bounded labels: no ids anywhere in the exposition.
    for name, labels in after:
        for _, label_value in labels:
            assert str(ids.GUILD_ID) not in label_value and done.id not in label_value, name


async def bot_send(fake: FakeDiscord, payload: dict[str, Any]) -> InteractionRecord:
    return await fake.gateway.push_interaction(payload)


async def test_health_is_503_with_the_reason(fake_discord: FakeDiscord,
                                            local_server: LocalRunComfyServer,
                                            db: Path) -> None:
    async with ops_bot(fake_discord, local_server, db) as (bot, base):
        await bot.store.close()  # as if the database had gone away
        status, body = await get(f"{base}/healthz")
        assert status == 503
        assert json.loads(body)["reason"] == "database: write failed (StoreError)"
        bot.request_stop("SIGTERM")
        status, body = await get(f"{base}/healthz")
        assert status == 503 and "gateway: the bot is stopping" in json.loads(body)["reason"]
        await bot.close()


async def test_a_stop_refuses_new_work_and_lets_the_pending_edit_finish(
        fake_discord: FakeDiscord, local_server: LocalRunComfyServer, db: Path) -> None:
    fake = fake_discord
    local_server.state.config.queue_seconds = 0.05
    local_server.state.config.run_seconds = 0.2
    async with ops_bot(fake, local_server, db, grace=3.0) as (bot, _):
        first = await bot_send(fake, chat_input("ideogram", {"prompt": "a kite", "seed": 1}))
        done = await wait_for_job(bot, delivered)
        # A second job whose progress edits are held back a second (min edit interval).
        bot.result_delivery._interval = 1.0
        local_server.state.config.run_seconds = 30.0
        await bot_send(fake, chat_input("ideogram", {"prompt": "a storm", "seed": 2}))
        running = await wait_for_job(bot, lambda j: j.status.value == "running")
        edits_before = len(fake.calls("PATCH", r"/messages/@original$"))

        started = time.monotonic()
        bot.request_stop("SIGTERM")
        refused = await bot_send(fake, chat_input("ideogram", {"prompt": "too late"}))
        callback = await answered(fake, refused)
        assert callback.json["type"] == 4 and callback.json["data"]["flags"] & 64
        assert callback.json["data"]["content"] == RESTARTING
        message = fake.original_message(first.token)
        assert message is not None
        reroll = component(f"job:{done.id}:reroll", message=message, user_id=ids.USER_ID)
        button = await bot_send(fake, reroll)
        callback = await answered(fake, button)
        assert callback.json["type"] == 4 and callback.json["data"]["content"] == RESTARTING

        await asyncio.wait_for(bot.close(), 5)
        elapsed = time.monotonic() - started
        assert bot.is_closed() and elapsed < 3.0
        # The held-back progress edit of the running job went out before the close.
        assert len(fake.calls("PATCH", r"/messages/@original$")) > edits_before
        assert (await bot.store.get_job(running.id)).status.value == "running"
        assert local_server.state.submit_count == 2  # the refused ones never reached it
    assert not wal_exists(db), "the WAL was checkpointed and the file closed"


def wal_exists(db: Path) -> bool:
    return Path(f"{db}-wal").exists()


async def test_help_is_private_and_says_how_to_start(fake_discord: FakeDiscord,
                                                     local_server: LocalRunComfyServer,
                                                     db: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    fake = fake_discord
    caplog.set_level("INFO", logger="cogs.help")
    async with ops_bot(fake, local_server, db) as (bot, _):
        await bot.sync_commands()  # the fake checks every command against Discord's rules
        assert "help" in {c["name"] for c in fake.commands[None]}
        record = await bot_send(fake, chat_input("help", {}))
        callback = await answered(fake, record)
    data = callback.json["data"]
    assert callback.json["type"] == 4 and data["flags"] & 64
    text = str(data["embeds"][0])
    for wanted in ("/ideogram prompt:", "/reframe", "/quota set", "/settings", "Remix",
                   "Manage Server", f"client_id={ids.APPLICATION_ID}",
                   f"permissions={INVITE_PERMISSIONS.value}"):
        assert wanted in text, wanted
    slash = {c["name"] for c in fake.commands[None] if c.get("type", 1) == 1}
    assert {name for name in slash if f"/{name}" not in text} == set()  # each one named
    assert not fake.violations
    assert INVITE_PERMISSIONS.value == 274878024704  # README, Set-up, explains this number
    assert (f"Invite link: https://discord.com/oauth2/authorize?client_id={ids.APPLICATION_ID}"
            f"&scope=bot+applications.commands&permissions=274878024704 (permissions "
            "274878024704: View Channels, Send Messages, Embed Links, Attach Files, Read "
            "Message History, Send Messages in Threads)") in caplog.text


def _joined_guild(guild_id: int, *, everyone: str, system_channel: bool) -> dict[str, Any]:
    channel = channel_payload(ids.CHANNEL_ID + guild_id % 1000, guild_id=guild_id)
    guild = guild_payload(guild_id, name=f"Guild {guild_id}", channels=[channel], roles=[
        role_payload(guild_id, name="@everyone", permissions=everyone, position=0)],
        members=[member_payload(ids.BOT_USER_ID, roles=())])
    guild["system_channel_id"] = channel["id"] if system_channel else None
    return guild


async def test_the_greeting_goes_to_the_system_channel_only_when_allowed(
        fake_discord: FakeDiscord, local_server: LocalRunComfyServer, db: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    fake = fake_discord
    member = str(INVITE_PERMISSIONS.value)
    read_only = str(1024)  # View Channels only
    welcoming = _joined_guild(ids.GUILD_ID + 1, everyone=member, system_channel=True)
    muted = _joined_guild(ids.GUILD_ID + 2, everyone=read_only, system_channel=True)
    no_channel = _joined_guild(ids.GUILD_ID + 3, everyone=member, system_channel=False)
    caplog.set_level("INFO", logger="cogs.help")
    async with ops_bot(fake, local_server, db):
        for guild in (welcoming, muted, no_channel):
            await fake.gateway.guild_join(guild)
        channel_id = int(welcoming["channels"][0]["id"])
        post = await fake.wait_for(method="POST", path=rf"^/channels/{channel_id}/messages$")
        await eventually(lambda: caplog.text.count("no system channel I may post in") == 2,
                         what="the two other joins handled")
    assert "/ideogram prompt:" in str(post.json["embeds"][0])
    posts = fake.calls("POST", r"^/channels/\d+/messages$")
    assert [p.path for p in posts] == [post.path]
    assert f"Joined server {ids.GUILD_ID + 2}; no system channel I may post in" in caplog.text
    assert f"Joined server {ids.GUILD_ID + 3}; no system channel I may post in" in caplog.text
    assert str(ids.USER_ID) not in post.path


async def test_a_slow_log_post_does_not_keep_the_stop_past_its_grace(
        local_server: LocalRunComfyServer, db: Path) -> None:
    async with fake_with_log_channel() as fake, \
            ops_bot(fake, local_server, db, grace=1.0) as (bot, _):
        await bot.guild_settings.update(ids.GUILD_ID, log_channel_id=ids.LOG_CHANNEL_ID)
        posting = fake.stall_next("POST", rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$", 60.0)
        bot.mod_log.post_soon(ids.GUILD_ID, "a quota change")
        await asyncio.wait_for(posting.wait(), 5)
        started = time.monotonic()
        bot.request_stop("SIGTERM")
        await asyncio.wait_for(bot.close(), 30)
        elapsed = time.monotonic() - started
    assert elapsed < 5, f"the stop took {elapsed:.1f} s with a 1 s grace (the post: 60 s)"


async def test_a_metrics_address_that_cannot_listen_names_the_setting_to_change() -> None:
    from bot.config import load_settings
    from cogs.core.run import ops_listen_error

    taken = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = taken.sockets[0].getsockname()[1]
    try:
        settings = load_settings(None, METRICS_PORT=str(port))
        with pytest.raises(OSError) as in_use:
            await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
        assert ops_listen_error(settings, in_use.value).startswith("METRICS_PORT: ")
    finally:
        taken.close()
        await taken.wait_closed()
    unknown = load_settings(None, METRICS_PORT="9999", METRICS_HOST="no.such.host.invalid")
    with pytest.raises(OSError) as unresolved:
        await asyncio.start_server(lambda r, w: None, "no.such.host.invalid", 9999)
    said = ops_listen_error(unknown, unresolved.value)
    assert said.startswith("METRICS_HOST: ") and "no.such.host.invalid:9999" in said
