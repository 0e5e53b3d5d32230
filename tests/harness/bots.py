"""Running a bot against the fake Discord in this process: logged in with the cache
filled from the fake (:func:`running_bot`), or connected through the fake gateway
(:func:`gateway_bot`)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import weakref
from collections.abc import AsyncIterator, Iterable
from typing import Any, TypeVar

import discord
from discord.ext import commands
from discord.http import Route

from tests.harness.server import FakeDiscord

ClientT = TypeVar("ClientT", bound=discord.Client)

_BOT_FAKES: weakref.WeakKeyDictionary[discord.Client, FakeDiscord] = weakref.WeakKeyDictionary()


def make_bot() -> commands.Bot:
    """A bare ``commands.Bot`` (default intents, no prefix commands in use)."""
    return commands.Bot(
        command_prefix=commands.when_mentioned,
        intents=discord.Intents.default(),
        help_command=None,
    )


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord,
    bot: ClientT | None = None,
    *,
    token: str = "harness-bot-token",
    mark_ready: bool = True,
) -> AsyncIterator[ClientT]:
    """Run *bot* (default :func:`make_bot`) against *fake* without a gateway.

    Enters ``async with bot:`` and calls the real ``bot.login(token)``, which asks the
    fake ``GET /users/@me`` and ``GET /oauth2/applications/@me`` (setting
    ``bot.user`` and ``application_id``, creating the HTTP session interactions use) and
    then runs ``setup_hook`` (``async with bot:`` alone does not). Afterwards, the fake's
    guilds are put into the cache (``state._add_guild_from_data``), so
    ``interaction.guild``/``interaction.channel``, ``bot.get_channel(CHANNEL_ID)`` and
    ``guild.get_member`` work, and ``bot.is_ready()`` is true (``mark_ready``).
    On exit the bot is closed."""
    the_bot: Any = bot if bot is not None else make_bot()
    if not fake.url:
        raise RuntimeError("start the FakeDiscord first (async with FakeDiscord() / fake_discord)")
    if the_bot.application_id is not None:
        fake.application_id = int(the_bot.application_id)
    old_base = Route.BASE
    Route.BASE = fake.api_base
    _BOT_FAKES[the_bot] = fake
    try:
        async with the_bot:
            await the_bot.login(token)
            state = the_bot._connection
            for g in fake.guilds.values():
                if state._get_guild(int(g["id"])) is None:
                    state._add_guild_from_data(copy.deepcopy(g))
            if mark_ready:
                the_bot._ready.set()
            yield the_bot
    finally:
        Route.BASE = old_base
        _BOT_FAKES.pop(the_bot, None)


async def _identify_at_once(shard_id: int | None, *, initial: bool = False) -> None:
    """The fake gateway has no IDENTIFY rate limit: no need for discord.py's 5 s pause."""


def _default_shards(bot: discord.Client, fake: FakeDiscord) -> list[int]:
    if isinstance(bot, discord.AutoShardedClient):
        if bot.shard_ids is not None:
            return list(bot.shard_ids)
        return list(range(bot.shard_count or fake.gateway.shard_count))
    return [bot.shard_id or 0]


@contextlib.asynccontextmanager
async def gateway_bot(
    fake: FakeDiscord,
    bot: ClientT | None = None,
    *,
    token: str = "harness-bot-token",
    shards: Iterable[int] | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109
    fast_start: bool = True,
) -> AsyncIterator[ClientT]:
    """Run *bot* in this process against *fake* through its gateway, as in production.

    The real ``login(token)`` (so ``setup_hook`` runs), then ``bot.connect()`` in a task:
    the bot connects to the fake's websocket, identifies, and gets READY and a GUILD_CREATE
    per guild of its shard(s). Yields once every shard in *shards* (default: the bot's own)
    has a READY session and the bot is ready (``on_ready`` fired); then
    ``await fake.gateway.push_interaction(payload)`` delivers interactions as Discord would.
    On exit the bot is closed.

    *fast_start* drops two waits of discord.py that only matter against the real Discord:
    the 5 s before each IDENTIFY after the first (``before_identify_hook``) and the 2 s
    wait for more GUILD_CREATEs before ``on_ready`` (``guild_ready_timeout``, to 50 ms)."""
    the_bot: Any = bot if bot is not None else make_bot()
    if not fake.url:
        raise RuntimeError("start the FakeDiscord first (async with FakeDiscord() / fake_discord)")
    if the_bot.application_id is not None:
        fake.application_id = int(the_bot.application_id)
    if fast_start:
        the_bot.before_identify_hook = _identify_at_once
        the_bot._connection.guild_ready_timeout = 0.05
    since = len(fake.gateway.sessions)
    _BOT_FAKES[the_bot] = fake
    try:
        async with the_bot:
            await the_bot.login(token)
            wanted = list(shards) if shards is not None else _default_shards(the_bot, fake)
            connect = asyncio.create_task(the_bot.connect(), name="harness-gateway-connect")
            ready = asyncio.create_task(
                fake.gateway.wait_ready(wanted, since=since, timeout=timeout)
            )
            try:
                await asyncio.wait({connect, ready}, return_when=asyncio.FIRST_COMPLETED)
                if not ready.done():
                    ready.cancel()
                    connect.result()  # raises what stopped the connection
                    raise RuntimeError("the bot's gateway connection ended before READY")
                ready.result()
                async with asyncio.timeout(timeout):  # on_ready: every GUILD_CREATE was read
                    await the_bot.wait_until_ready()
                yield the_bot
            finally:
                ready.cancel()
                await the_bot.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await connect
    finally:
        _BOT_FAKES.pop(the_bot, None)


def fake_of(bot: discord.Client) -> FakeDiscord | None:
    """The fake a running bot talks to (else the fake that owns ``Route.BASE``)."""
    return _BOT_FAKES.get(bot) or FakeDiscord.current()
