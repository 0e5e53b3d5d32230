"""The fake Discord gateway, proved with throwaway in-process bots that connect to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.harness import FakeDiscord, chat_input, gateway_bot, guild_payload, ids
from tests.harness.gateway import GatewayError, Op, shard_for
from tests.harness.waiting import eventually

#: A second guild on the other of two shards (ids.GUILD_ID is on shard 1 of 2).
OTHER_GUILD_ID = ids.GUILD_ID + (1 << 22)
INTENTS = discord.Intents.default()


def ping_bot(bot: commands.Bot | None = None) -> commands.Bot:
    """A bot whose /ping answers with the shard that handled it; records joined guilds."""
    the_bot = bot or commands.Bot(command_prefix=commands.when_mentioned, intents=INTENTS)
    joined: list[int] = []

    @the_bot.tree.command(name="ping", description="Answers pong")
    async def ping(interaction: discord.Interaction) -> None:
        shard = interaction.guild.shard_id if interaction.guild else None
        await interaction.response.send_message(f"pong from shard {shard}")

    @the_bot.listen()
    async def on_guild_join(guild: discord.Guild) -> None:
        joined.append(guild.id)

    the_bot.joined = joined  # type: ignore[attr-defined]  # the test's own record
    return the_bot


async def answered(fake: FakeDiscord, payload: dict[str, Any]) -> str:
    request = await fake.wait_for(method="POST", path=rf"^/interactions/{payload['id']}/")
    assert request.status == 200, request.response
    return str(request.json["data"]["content"])


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    guilds = [guild_payload(), guild_payload(OTHER_GUILD_ID, name="Second Guild")]
    async with FakeDiscord(guilds=guilds, shard_count=2) as running:
        yield running
    assert not running.server_errors


async def test_identify_ready_and_an_interaction_through_the_websocket(fake: FakeDiscord) -> None:
    async with gateway_bot(fake, ping_bot()) as bot:
        (session,) = fake.gateway.live_sessions()
        assert session.shard == (0, 1) and session.connection is not None
        assert session.connection.compress == "zlib-stream"  # what discord.py asked for
        assert session.intents == INTENTS.value
        # READY named both guilds as unavailable; each GUILD_CREATE then filled one in.
        assert {g.id for g in bot.guilds} == {ids.GUILD_ID, OTHER_GUILD_ID}
        assert all(not g.unavailable and g.get_channel(g.channels[0].id) for g in bot.guilds)
        assert bot.user is not None and bot.user.id == int(fake.bot_user["id"])

        payload = chat_input("ping")
        record = await fake.gateway.push_interaction(payload)
        assert await answered(fake, payload) == "pong from shard 0"
        assert record.callback_type == 4 and not fake.violations
    identify = next(f for f in fake.gateway.frames if f.op == Op.IDENTIFY)
    assert "token" not in identify.data  # the fake never keeps it


async def test_gateway_bot_names_the_websocket_and_shard_count(fake: FakeDiscord) -> None:
    async with gateway_bot(fake, ping_bot()) as bot:
        shards, url, limits = await bot.http.get_bot_gateway()
    assert (shards, url) == (2, fake.gateway.url)
    assert url.startswith("ws://127.0.0.1:") and limits["max_concurrency"] == 1


async def test_heartbeats_are_acknowledged(fake: FakeDiscord) -> None:
    fake.gateway.heartbeat_interval_ms = 20
    async with gateway_bot(fake, ping_bot()) as bot:
        (session,) = fake.gateway.live_sessions()
        await fake.gateway.wait_until(lambda: session.heartbeats >= 3, timeout=5)
        assert bot.latency < 1.0  # an ACK came back for each beat


async def test_a_dropped_connection_resumes_and_gets_what_it_missed(fake: FakeDiscord) -> None:
    async with gateway_bot(fake, ping_bot()) as bot:
        (session,) = fake.gateway.live_sessions()
        await fake.gateway.drop(session)
        await fake.gateway.wait_disconnected(session)
        # Discord keeps dispatching into the session while its client is away.
        late_guild = guild_payload(ids.GUILD_ID + 2 * (1 << 22), name="Joined While Away")
        fake.add_guild(late_guild)
        await session.dispatch("GUILD_CREATE", fake.guilds[int(late_guild["id"])])
        await fake.gateway.wait_ready([0], timeout=10)
        assert session.resumes == 1 and fake.gateway.sessions == [session]
        # The replayed GUILD_CREATE reaches the bot's cache.
        await eventually(lambda: bot.get_guild(int(late_guild["id"])), what="the late guild")
        payload = chat_input("ping")
        await fake.gateway.push_interaction(payload)
        assert await answered(fake, payload) == "pong from shard 0"


async def test_reconnect_opcode_resumes_the_same_session(fake: FakeDiscord) -> None:
    async with gateway_bot(fake, ping_bot()):
        (session,) = fake.gateway.live_sessions()
        await fake.gateway.request_reconnect(session)
        await fake.gateway.wait_until(lambda: session.resumes == 1 and session.connected)
        assert any(f["t"] == "RESUMED" for f in session.sent)


async def test_an_unknown_session_is_invalidated_and_the_bot_identifies_again(
    fake: FakeDiscord,
) -> None:
    async with gateway_bot(fake, ping_bot()):
        (first,) = fake.gateway.live_sessions()
        first.session_id = "forgotten-by-discord"  # its RESUME now names an unknown session
        await fake.gateway.drop(first)
        (second,) = await fake.gateway.wait_ready([0], since=1, timeout=15)
        assert second is not first and second.resumes == 0
        assert [f.op for f in fake.gateway.frames].count(Op.IDENTIFY) == 2
        payload = chat_input("ping")
        await fake.gateway.push_interaction(payload)
        assert await answered(fake, payload) == "pong from shard 0"


async def test_each_shard_gets_only_its_own_guilds(fake: FakeDiscord) -> None:
    assert shard_for(ids.GUILD_ID, 2) == 1 and shard_for(OTHER_GUILD_ID, 2) == 0
    bot = ping_bot(commands.AutoShardedBot(command_prefix=commands.when_mentioned, intents=INTENTS))
    async with gateway_bot(fake, bot):  # asks GET /gateway/bot: 2 shards
        sessions = sorted(fake.gateway.live_sessions(), key=lambda s: s.shard_id)
        assert [s.shard for s in sessions] == [(0, 2), (1, 2)]
        assert [s.guild_ids for s in sessions] == [[OTHER_GUILD_ID], [ids.GUILD_ID]]
        for guild_id, shard in ((ids.GUILD_ID, 1), (OTHER_GUILD_ID, 0)):
            payload = chat_input("ping", guild_id=guild_id)
            await fake.gateway.push_interaction(payload)
            assert await answered(fake, payload) == f"pong from shard {shard}"
            assert fake.gateway.session_for(guild_id) is sessions[shard]


async def test_a_process_with_some_shards_does_not_get_the_others_guilds(
    fake: FakeDiscord,
) -> None:
    bot = ping_bot(commands.AutoShardedBot(command_prefix=commands.when_mentioned, intents=INTENTS,
                                           shard_ids=[1], shard_count=2))
    async with gateway_bot(fake, bot):
        assert [g.id for g in bot.guilds] == [ids.GUILD_ID]
        with pytest.raises(GatewayError, match="no connected bot owns guild"):
            await fake.gateway.push_interaction(chat_input("ping", guild_id=OTHER_GUILD_ID))


async def test_joining_a_guild_fires_guild_join(fake: FakeDiscord) -> None:
    async with gateway_bot(fake, ping_bot()) as bot:
        new_guild = guild_payload(ids.GUILD_ID + 4 * (1 << 22), name="New Friends")
        await fake.gateway.guild_join(new_guild)
        joined: list[int] = bot.joined  # type: ignore[attr-defined]  # set by the fixture
        await eventually(lambda: joined, what="on_guild_join")
        assert joined == [int(new_guild["id"])]


async def test_interactions_need_a_connected_bot(fake: FakeDiscord) -> None:
    with pytest.raises(GatewayError, match="no connected bot"):
        await fake.gateway.push_interaction(chat_input("ping"))


async def test_commands_registered_by_a_tree_are_usable_over_the_gateway(
    fake: FakeDiscord,
) -> None:
    bot = ping_bot()

    @bot.tree.command(name="echo", description="Repeats")
    @app_commands.describe(text="What to repeat")
    async def echo(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text, ephemeral=True)

    async with gateway_bot(fake, bot):
        await bot.tree.sync()
        assert {c["name"] for c in fake.commands[None]} == {"ping", "echo"}
        payload = chat_input("echo", {"text": "hello over the wire"})
        await fake.gateway.push_interaction(payload)
        assert await answered(fake, payload) == "hello over the wire"
