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

The launcher also picks each job's backend (``job.provider``, a key of the tracker's
providers dict) from what its inputs are for: the synchronous API's inputs go to the
ideogram provider, RunComfy's (``/ideogram`` on RunComfy, every reframe) to RunComfy.
Which of the two shapes ``/ideogram`` builds is :meth:`JobLauncher.serving_provider`'s
answer: the server's ``/settings provider``, else the bot's ``PROVIDER``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord

from bot.config import ProviderName
from bot.inputs import IDEOGRAM_GENERATE_MODEL, REFRAME_MODEL, ModelInputs
from bot.jobs import JobRecord, new_job_id
from bot.log_context import bind_job
from bot.metrics import observe_ack
from bot.providers.base import provider_kind
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

    async def serving_provider(self, guild_id: int | None) -> ProviderName:
        """Which backend serves ``/ideogram`` in this server: its setting, else the default."""
        if guild_id is not None:
            chosen = (await self._bot.store.get_guild_settings(guild_id)).provider
            if chosen:
                try:
                    return ProviderName(chosen)
                except ValueError:
                    log.warning("Guild %s has an unknown provider %r; using the default",
                                guild_id, chosen)
        return provider_kind(self._bot.provider_name)

    def provider_for(self, inputs: ModelInputs) -> str:
        """The providers-dict key for a job of these inputs, or a :class:`Refusal`."""
        services = self._bot.services
        if inputs.model == IDEOGRAM_GENERATE_MODEL:
            key = services.backend_key(ProviderName.IDEOGRAM)
            if key is None:
                raise Refusal("The ideogram provider is not configured on this bot (any more): "
                              "ask a moderator to run `/settings provider runcomfy`.")
            return key
        key = services.backend_key(ProviderName.RUNCOMFY)
        if key is None:
            if inputs.model == REFRAME_MODEL:
                raise Refusal("Reframing runs on RunComfy (the ideogram provider has no "
                              "reframe), and this bot's host has not configured RunComfy "
                              "(RUNCOMFY_API_TOKEN).")
            raise Refusal("This job runs on RunComfy, which this bot's host has not "
                          "configured (RUNCOMFY_API_TOKEN).")
        return key

    def new_job(self, interaction: discord.Interaction, inputs: ModelInputs) -> JobRecord:
        return JobRecord(
            id=new_job_id(),
            provider=self.provider_for(inputs),
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
        bind_job(job.id, job.guild_id)
        for check in self._checks:
            await check(interaction, job)
        taken: list[LaunchUndo] = []
        try:
            for check, undo in self._taking:
                taken.append(undo)  # the check may fail after taking: its undo still runs
                await check(interaction, job)
            await interaction.response.defer(thinking=True)
            observe_ack(interaction.created_at.timestamp())
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
