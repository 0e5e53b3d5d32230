"""The one path every new job takes from an interaction: local checks, a public deferral,
then the tracker. Used by /ideogram, /reframe, the Reframe image menu and the buttons."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.inputs import ModelInputs
from bot.jobs import JobRecord, new_job_id
from cogs.errors import Refusal

if TYPE_CHECKING:
    from cogs.client import IdeogramBot

log = logging.getLogger(__name__)


class JobLauncher:
    def __init__(self, bot: IdeogramBot) -> None:
        self._bot = bot

    def check(self, interaction: discord.Interaction, inputs: ModelInputs) -> None:
        """Every check that can refuse. Local and fast: runs before any response."""
        if interaction.guild_id is None:
            raise Refusal("This command works in a server, not in direct messages.")

    async def launch(self, interaction: discord.Interaction, inputs: ModelInputs) -> JobRecord:
        """Refuse privately, or defer publicly and hand the job to the tracker."""
        self.check(interaction, inputs)
        await interaction.response.defer(thinking=True)
        bot = self._bot
        job = JobRecord(
            id=new_job_id(),
            provider=bot.provider_name,
            model=inputs.model,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            user_id=interaction.user.id,
            application_id=interaction.application_id,
            interaction_id=interaction.id,
            inputs=inputs.to_payload(),
            seed=inputs.seed,
        )
        bot.job_messages.register(job.id, interaction)
        log.info("Job %s (%s) for user %s in guild %s", job.short_id, job.model, job.user_id,
                 job.guild_id)
        return await bot.tracker.submit(job)
