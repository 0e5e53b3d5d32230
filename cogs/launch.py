"""The one path every new job takes from an interaction: local checks, a public deferral,
then the tracker. Used by /ideogram, /reframe, the Reframe image menu and the buttons.

Features that can refuse a job (server settings, quotas…) register a :data:`LaunchCheck`
with :meth:`JobLauncher.add_check`. Checks must be local and fast (SQLite, memory): they
all run before the interaction is answered, so a refusal is the first, ephemeral response.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord

from bot.inputs import ModelInputs
from bot.jobs import JobRecord, new_job_id
from cogs.errors import Refusal

if TYPE_CHECKING:
    from cogs.client import IdeogramBot

log = logging.getLogger(__name__)

#: ``await check(interaction, job)`` raises :class:`Refusal` to refuse; returns otherwise.
LaunchCheck = Callable[[discord.Interaction, JobRecord], Awaitable[None]]


class JobLauncher:
    def __init__(self, bot: IdeogramBot) -> None:
        self._bot = bot
        self._checks: list[LaunchCheck] = []

    def add_check(self, check: LaunchCheck) -> None:
        self._checks.append(check)

    def new_job(self, interaction: discord.Interaction, inputs: ModelInputs) -> JobRecord:
        return JobRecord(
            id=new_job_id(),
            provider=self._bot.provider_name,
            model=inputs.model,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            user_id=interaction.user.id,
            application_id=interaction.application_id,
            interaction_id=interaction.id,
            inputs=inputs.to_payload(),
            seed=inputs.seed,
        )

    async def launch(self, interaction: discord.Interaction, inputs: ModelInputs) -> JobRecord:
        """Refuse privately, or defer publicly and hand the job to the tracker."""
        if interaction.guild_id is None:
            raise Refusal("This command works in a server, not in direct messages.")
        job = self.new_job(interaction, inputs)
        for check in self._checks:
            await check(interaction, job)
        await interaction.response.defer(thinking=True)
        self._bot.job_messages.register(job.id, interaction)
        log.info("Job %s (%s) for user %s in guild %s", job.short_id, job.model, job.user_id,
                 job.guild_id)
        return await self._bot.tracker.submit(job)
