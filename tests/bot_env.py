"""Runs the real IdeogramBot against the fake Discord API and the local provider server."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from bot.config import load_settings
from bot.jobs import JobRecord
from bot.localserver.app import LocalRunComfyServer
from bot.net import AllowList, SafeFetcher
from bot.polling import PollingConfig
from bot.providers.base import AnyProvider
from bot.providers.ideogram import IdeogramClient
from bot.providers.retry import RetryPolicy
from bot.providers.runcomfy import RunComfyClient
from bot.store import Store
from bot.tracker import TrackerConfig
from cogs.client import IdeogramBot, Services
from tests.discord_harness import GUILD_ID, FakeDiscord, running_bot

TOKEN = "rc-test-token-5f1d2c9a"  # the local provider server's token in tests

FAST_POLLING = PollingConfig(first_delay=0.05, backoff=1.5, cap=0.3, near_interval=0.05,
                             min_interval=0.02, default_run_low=0.1, default_run_high=2.0)


async def build_bot(fake: FakeDiscord, provider: LocalRunComfyServer, db: Path, *,
                    min_edit_interval: float = 0.0, queue_timeout: float = 600.0,
                    ideogram: bool = False, ideogram_auth: str = "bearer",
                    default_provider: str = "runcomfy", runcomfy: bool = True,
                    ) -> IdeogramBot:
    """A fully wired bot on a real SQLite file, not yet logged in (see :func:`ideogram_bot`).

    ``ideogram``: also serve the synchronous API (the local server's ``/ideogram/generate``,
    with ``ideogram_auth``); ``default_provider``: ``PROVIDER``; ``runcomfy=False``: no
    RunComfy at all (as with PROVIDER=ideogram and no RUNCOMFY_API_TOKEN).
    """
    env: dict[str, object] = {"PROVIDER": default_provider}
    if runcomfy:
        env |= {"RUNCOMFY_API_TOKEN": TOKEN, "RUNCOMFY_BASE_URL": provider.base_url}
    if ideogram:
        env |= {"IDEOGRAM_BASE_URL": provider.base_url, "IDEOGRAM_API_KEY": TOKEN,
                "IDEOGRAM_AUTH": ideogram_auth}
    settings = load_settings(None, DISCORD_TOKEN="harness-bot-token",
                             DATABASE_URL=f"sqlite:///{db}", **env)
    store = await Store.open(db)
    providers: dict[str, AnyProvider] = {}
    if runcomfy:
        providers["runcomfy"] = RunComfyClient(token=TOKEN, base_url=provider.base_url,
                                               retry=RetryPolicy(attempts=2, base_delay=0.01))
    if ideogram:
        providers["ideogram"] = IdeogramClient(api_key=TOKEN, base_url=provider.base_url,
                                               auth=ideogram_auth, timeout_seconds=10)
    services = Services(
        store=store,
        providers=providers,
        provider_name="ideogram" if default_provider == "ideogram" else "runcomfy",
        # The provider and the fake Discord (standing in for Discord's CDN) live on
        # 127.0.0.1: allowed by name, as the bot allows its configured provider.
        downloads=SafeFetcher(allow=AllowList.of([provider.base_url, fake.url])),
        tracker_config=TrackerConfig(polling=FAST_POLLING, queue_timeout=queue_timeout),
    )
    return IdeogramBot(settings, services, min_edit_interval=min_edit_interval)


@contextlib.asynccontextmanager
async def ideogram_bot(fake: FakeDiscord, provider: LocalRunComfyServer, db: Path,
                       **options: Any) -> AsyncIterator[IdeogramBot]:
    """A fully wired bot (see :func:`build_bot`), logged in to the fake Discord and closed
    at the end; a second one on the same file = a restart."""
    bot = await build_bot(fake, provider, db, **options)
    try:
        async with running_bot(fake, bot) as running:
            yield running
            await running.job_messages.wait_idle()
    finally:
        await bot.services.aclose()


async def start_unmanaged_bot(fake: FakeDiscord, provider: LocalRunComfyServer, db: Path,
                              **options: Any) -> IdeogramBot:
    """A bot logged in to the fake like :func:`ideogram_bot`, but nobody will close it:
    for tests that kill it (:mod:`tests.process_death`)."""
    bot = await build_bot(fake, provider, db, **options)
    await bot.login("harness-bot-token")  # runs setup_hook
    state: Any = bot._connection
    for guild in fake.guilds.values():
        if state._get_guild(int(guild["id"])) is None:
            state._add_guild_from_data(copy.deepcopy(guild))
    bot._ready.set()
    return bot


async def wait_for_job(bot: IdeogramBot, predicate: Callable[[JobRecord], bool], *,
                       user_id: int | None = None, newest_only: bool = False,
                       limit: float = 10.0) -> JobRecord:
    """The newest job of the test guild (of ``user_id``, when given) matching ``predicate``;
    with ``newest_only``, wait until the newest job itself matches."""
    count = 1 if newest_only else 20
    async with asyncio.timeout(limit):
        while True:
            jobs = await (bot.store.jobs_for_guild(GUILD_ID, limit=count) if user_id is None
                          else bot.store.jobs_for_user(GUILD_ID, user_id, limit=count))
            for job in jobs:
                if predicate(job):
                    return job
            await asyncio.sleep(0.02)


def delivered(job: JobRecord) -> bool:
    return job.delivered_at is not None
