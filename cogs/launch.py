"""The one path every new job takes from an interaction: local checks, a public deferral,
then the tracker. Used by /ideogram, /reframe, the Reframe image menu and the buttons.

Features that can refuse a job (server settings, quotas…) register a :data:`LaunchCheck`
with :meth:`JobLauncher.add_check`. Checks must be local and fast (SQLite, memory): they
all run before the interaction is answered, so a refusal is the first, ephemeral response.

A check that *takes* something (a quota reservation) passes an ``undo``: such checks run
after the plain ones, and if anything fails between them and the tracker accepting the job
(a later refusal, a failed deferral, a cancelled task, an error in submit) every undo runs,
so nothing stays reserved for a job that never reached the tracker. Once the tracker has
the job, its events settle what was taken.
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
#: ``await undo(job)`` gives back what a check took for a job that was not launched.
LaunchUndo = Callable[[JobRecord], Awaitable[None]]


class JobLauncher:
    def __init__(self, bot: IdeogramBot) -> None:
        self._bot = bot
        self._checks: list[LaunchCheck] = []
        self._taking: list[tuple[LaunchCheck, LaunchUndo]] = []

    def add_check(self, check: LaunchCheck, *, undo: LaunchUndo | None = None) -> None:
        """Run ``check`` before each launch; with ``undo``, after every check without one."""
        if undo is None:
            self._checks.append(check)
        else:
            self._taking.append((check, undo))

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
        taken: list[LaunchUndo] = []
        try:
            for check, undo in self._taking:
                taken.append(undo)  # the check may fail after taking: its undo still runs
                await check(interaction, job)
            await interaction.response.defer(thinking=True)
            self._bot.job_messages.register(job.id, interaction)
            log.info("Job %s (%s) for user %s in guild %s", job.short_id, job.model,
                     job.user_id, job.guild_id)
            return await self._bot.tracker.submit(job)
        except BaseException:
            await self._undo(job, taken)
            raise

    @staticmethod
    async def _undo(job: JobRecord, undos: list[LaunchUndo]) -> None:
        for undo in reversed(undos):
            try:
                await undo(job)
            except Exception:
                log.exception("Undoing a launch check for job %s failed", job.short_id)
