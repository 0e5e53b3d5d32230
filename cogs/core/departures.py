"""Jobs whose place in Discord went away: the bot left the server, or the channel or thread
was deleted. Nobody can see their result any more, so the ones not yet sent end there,
and the ones queued at the provider are cancelled (their quota is given back, and the
provider is not paid for them); a job already running cannot be stopped and ends as
usual, its delivery refused once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import discord

from bot import job_errors
from bot.jobs import JobRecord, JobStatus
from bot.providers.errors import ProviderError
from bot.providers.types import CancelOutcome
from bot.store import StoreError

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)


class Departures:
    """discord.py listeners (``guild_remove``, ``guild_channel_delete``, ``raw_thread_delete``)."""

    def __init__(self, bot: IdeogramBot) -> None:
        self._bot = bot

    def listen(self) -> None:
        """Register the listeners on the bot."""
        self._bot.add_listener(self.on_guild_remove, "on_guild_remove")
        self._bot.add_listener(self.on_channel_delete, "on_guild_channel_delete")
        # Raw: a thread the cache never saw (most of them) is deleted all the same.
        self._bot.add_listener(self.on_raw_thread_delete, "on_raw_thread_delete")

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await self._stop_unfinished(guild.id, lambda job: True, f"left server {guild.id}")

    async def on_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        await self._stop_unfinished(channel.guild.id, lambda job: job.channel_id == channel.id,
                                  f"channel {channel.id} was deleted")

    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        await self._stop_unfinished(payload.guild_id,
                                  lambda job: job.channel_id == payload.thread_id,
                                  f"thread {payload.thread_id} was deleted")

    async def _stop_unfinished(self, guild_id: int, where: Callable[[JobRecord], bool],
                             why: str) -> None:
        tracker = self._bot.tracker
        try:
            jobs = [job for job in await self._bot.store.unfinished_jobs_for_guild(guild_id)
                    if where(job)]
        except StoreError as exc:
            log.warning("Cannot read the jobs to cancel (%s: %s)", why, exc)
            return
        ended = 0
        for job in jobs:
            try:
                if job.status is JobStatus.PENDING:
                    # Only while its send is unclaimed: one on its way is the provider's now.
                    if await tracker.finish(job, JobStatus.CANCELLED, unsent_only=True,
                                            error=job_errors.CANCELLED) is not None:
                        ended += 1
                elif tracker.cancellable(job) and (
                        await tracker.cancel(job.id) is CancelOutcome.CANCELLED):
                    ended += 1
            except ProviderError as exc:
                log.warning("Cancelling job %s failed (%s): %s", job.short_id, why, exc)
        if jobs:
            log.info("Stopped %d of %d unfinished jobs: %s", ended, len(jobs), why)
