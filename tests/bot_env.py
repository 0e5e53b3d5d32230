"""Runs the real IdeogramBot against the fake Discord API and the local provider server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from bot.config import load_settings
from bot.localserver.app import LocalRunComfyServer
from bot.polling import PollingConfig
from bot.providers.retry import RetryPolicy
from bot.providers.runcomfy import RunComfyClient
from bot.store import Store
from bot.tracker import TrackerConfig
from cogs.client import IdeogramBot, Services
from tests.conftest import TOKEN
from tests.discord_harness import FakeDiscord, running_bot

FAST_POLLING = PollingConfig(first_delay=0.05, backoff=1.5, cap=0.3, near_interval=0.05,
                             min_interval=0.02, default_run_low=0.1, default_run_high=2.0)


@contextlib.asynccontextmanager
async def ideogram_bot(fake: FakeDiscord, provider: LocalRunComfyServer, db: Path, *,
                       min_edit_interval: float = 0.0, queue_timeout: float = 600.0,
                       ) -> AsyncIterator[IdeogramBot]:
    """A fully wired bot on a real SQLite file; a second one on the same file = a restart."""
    settings = load_settings(None, DISCORD_TOKEN="harness-bot-token",
                             RUNCOMFY_API_TOKEN=TOKEN, RUNCOMFY_BASE_URL=provider.base_url,
                             DATABASE_URL=f"sqlite:///{db}")
    store = await Store.open(db)
    services = Services(
        store=store,
        providers={"runcomfy": RunComfyClient(token=TOKEN, base_url=provider.base_url,
                                              retry=RetryPolicy(attempts=2, base_delay=0.01))},
        provider_name="runcomfy",
        http=httpx.AsyncClient(timeout=10),
        tracker_config=TrackerConfig(polling=FAST_POLLING, queue_timeout=queue_timeout),
    )
    bot = IdeogramBot(settings, services, min_edit_interval=min_edit_interval)
    try:
        async with running_bot(fake, bot) as running:
            yield running
            await running.job_messages.wait_idle()
    finally:
        await services.aclose()
