"""The one path every new job takes from an interaction: local checks, one durable write,
a public deferral, then the tracker. Used by /ideogram, /reframe, the Reframe image menu,
the buttons and the Remix form.

The path is built to answer within Discord's 3 seconds however many commands arrive:

1. Refusals that need no database: the bot is busy (its event loop lags), the command is
   used outside a server, the server's settings forbid it (checks registered with
   :meth:`JobLauncher.add_check` read the in-memory settings cache, never the database).
2. One write: the quota decision, the reservation and the job's row, in one transaction
   shared with the other commands that arrived meanwhile (group commit) and served before
   the tracker's own database work. A quota refusal is the interaction's first, ephemeral
   response; nothing was written.
3. The public deferral. Discord's answer names the reply's message, which the tracker
   saves with the submit. From here on, a crash at any instant leaves a row that a restart
   finishes in this reply (see :mod:`bot.tracker`).
4. A deferral that Discord refuses as too late (10062 "Unknown interaction") is logged at
   INFO and the job is abandoned: its reservation is given back, nothing is posted
   anywhere. One refused as already answered (40060: discord.py sent it again after a lost
   answer), or cut off by a network error, may have reached Discord all the same: the
   launcher asks Discord for the reply, and goes on in it if there is one.

The launcher also picks each job's backend (``job.provider``, a key of the tracker's
providers dict) from what its inputs are for: the synchronous API's inputs go to the
ideogram provider, RunComfy's (``/ideogram`` on RunComfy, every reframe) to RunComfy.
Which of the two shapes ``/ideogram`` builds is :meth:`JobLauncher.serving_provider`'s
answer: the server's ``/settings provider``, else the bot's ``PROVIDER``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

import discord

from bot.config import ProviderName
from bot.i18n import N_, _, format_number
from bot.inputs import (
    IDEOGRAM_GENERATE_MODEL,
    REFRAME_MODEL,
    SEED_MAX,
    ModelInputs,
    random_seed,
)
from bot.jobs import TOKEN_LIFETIME_SECONDS, JobRecord, new_job_id
from bot.log_context import bind_job
from bot.metrics import count_quota_refusal
from bot.providers.base import provider_kind
from bot.quota import QuotaDenied, relative
from bot.tracker import NOT_ACKNOWLEDGED
from cogs.core.checks import guild_id_of
from cogs.core.errors import (
    ALREADY_ANSWERED,
    LATE_CODES,
    Refusal,
    defer_publicly,
    mark_public_reply,
)
from cogs.core.languages import job_locale
from cogs.core.rerun import rerun_inputs

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

#: ``await check(interaction, job)`` raises :class:`Refusal` to refuse; returns otherwise.
#: Checks run before the interaction is answered: they must not wait for the database.
LaunchCheck = Callable[[discord.Interaction, JobRecord], Awaitable[None]]

BUSY: Final = N_("I'm very busy right now: please try again in a few seconds.")
#: The admission (the quota decision and the jobs' rows) must be done this long after the
#: command was made, so that the answer still reaches Discord within its 3 seconds.
ADMISSION_DEADLINE_SECONDS: Final = 2.5
#: The most images one command may ask for.
MAX_BATCH: Final = 4


class JobLauncher:
    def __init__(self, bot: IdeogramBot) -> None:
        self._bot = bot
        self._checks: list[LaunchCheck] = []
        self._answering = 0  # launches between their start and Discord's answer
        self._idle = asyncio.Event()
        self._idle.set()

    async def answered(self) -> None:
        """Return once no command is on its way to being answered (for the tracker, whose
        submits give way to answers)."""
        await self._idle.wait()

    def add_check(self, check: LaunchCheck) -> None:
        """Run ``check`` before each launch (in the order added)."""
        self._checks.append(check)

    def serving_provider(self, guild_id: int | None) -> ProviderName:
        """Which backend serves ``/ideogram`` in this server: its setting, else the default."""
        if guild_id is not None:
            chosen = self._bot.guild_settings.get(guild_id).provider
            if chosen:
                try:
                    return ProviderName(chosen)
                except ValueError:
                    log.warning("Guild %s has an unknown provider %r; using the default",
                                guild_id, chosen)
        return provider_kind(self._bot.default_provider_key)

    def rerun_inputs(self, interaction: discord.Interaction, job: JobRecord, *,
                     prompt: str | None = None,
                     negative_prompt: str | None = None) -> ModelInputs:
        """``job``'s inputs with a fresh seed (and a Remix's new text), for the provider
        that serves ``/ideogram`` in the interaction's server now (Reroll, Reroll all,
        Remix; see :func:`cogs.core.rerun.rerun_inputs`)."""
        return rerun_inputs(job, self.serving_provider(interaction.guild_id),
                            seed=random_seed(), prompt=prompt, negative_prompt=negative_prompt)

    def provider_for(self, model: str) -> str:
        """The providers-dict key for a job of ``model``, or a :class:`Refusal`."""
        services = self._bot.services
        if model == IDEOGRAM_GENERATE_MODEL:
            key = services.backend_key(ProviderName.IDEOGRAM)
            if key is None:
                raise Refusal(_("`/ideogram` is set to the ideogram provider on this server, "
                                "which this bot no longer has: ask a moderator to run "
                                "`/settings provider provider:runcomfy`."))
            return key
        key = services.backend_key(ProviderName.RUNCOMFY)
        if key is None:
            if model == REFRAME_MODEL:
                raise Refusal(_("`/reframe` isn't available on this bot: it needs RunComfy, "
                                "which the bot's host hasn't set up (RUNCOMFY_API_TOKEN)."))
            raise Refusal(_("`/ideogram` is set to RunComfy on this server, which this bot no "
                            "longer has: ask a moderator to run "
                            "`/settings provider provider:ideogram`."))
        return key

    def new_job(self, interaction: discord.Interaction, inputs: ModelInputs, *,
                preset: str | None = None) -> JobRecord:
        """The job's row as it is written before the answer: with the interaction's token
        sealed (so a restarted bot can still finish this reply) and when it expires, and
        the server's language, which its public messages keep speaking."""
        return JobRecord(
            id=new_job_id(),
            provider=self.provider_for(inputs.model),
            model=inputs.model,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            user_id=interaction.user.id,
            application_id=interaction.application_id,
            interaction_id=interaction.id,
            inputs=inputs.to_payload(),
            seed=inputs.seed,
            sealed_token=self._bot.token_sealer.seal(interaction.token),
            token_expires_at=interaction.created_at.timestamp() + TOKEN_LIFETIME_SECONDS,
            preset=preset,
            locale=job_locale(self._bot, interaction),
        )

    def new_batch(self, interaction: discord.Interaction, inputs: ModelInputs, count: int, *,
                  preset: str | None = None) -> list[JobRecord]:
        """``count`` jobs sharing one reply, with consecutive seeds (wrapping past the
        largest seed to 0); one job (no batch) for a count of 1."""
        first = self.new_job(interaction, inputs, preset=preset)
        if count == 1:
            return [first]
        batch_id = new_job_id()
        jobs = [first.evolve(batch_id=batch_id, batch_index=0, batch_size=count)]
        for index in range(1, count):
            each = inputs.with_seed(batch_seed(inputs.seed, index))
            jobs.append(first.evolve(id=new_job_id(), inputs=each.to_payload(), seed=each.seed,
                                     batch_id=batch_id, batch_index=index, batch_size=count))
        return jobs

    async def launch(self, interaction: discord.Interaction, inputs: ModelInputs, *,
                     count: int = 1, preset: str | None = None,
                     rerolling_batch: bool = False) -> list[JobRecord]:
        """Refuse privately, or defer publicly and hand the job (or the ``count`` jobs of a
        batch) to the tracker. Empty when Discord no longer took the answer (nothing is
        kept, nothing is posted). ``rerolling_batch``: a batch's Reroll all, whose refusal
        for too few images left says so (the member did not choose the count)."""
        if self._bot.lag_monitor.busy:
            raise Refusal(_(BUSY))
        guild_id_of(interaction)
        if not 1 <= count <= MAX_BATCH:
            raise Refusal(_("`count` is 1 to {most}.", most=MAX_BATCH))
        self._answering += 1
        self._idle.clear()
        try:
            jobs = self.new_batch(interaction, inputs, count, preset=preset)
            bind_job(jobs[0].id, jobs[0].guild_id)
            for check in self._checks:
                await check(interaction, jobs[0])
            try:
                await self._admit(interaction, jobs)
            except QuotaDenied as exc:
                log.info("Quota refused %d image(s) for user %s in guild %s: %s", len(jobs),
                         jobs[0].user_id, jobs[0].guild_id, exc.kind)
                count_quota_refusal(exc.kind)
                if rerolling_batch and exc.left is not None and exc.retry_at is not None:
                    raise Refusal(_("{left} Reroll all makes {count} images: try again {when}, "
                                    "or ask for fewer with `/ideogram count`.", left=exc.left,
                                    count=format_number(count),
                                    when=relative(exc.retry_at))) from None
                raise Refusal(exc.message) from None
            return await self._answer_and_hand_over(interaction, jobs)
        finally:
            self._answering -= 1
            if not self._answering:
                self._idle.set()

    async def _answer_and_hand_over(self, interaction: discord.Interaction,
                                    jobs: list[JobRecord]) -> list[JobRecord]:
        first = jobs[0]
        try:
            callback = await defer_publicly(interaction)
        except discord.HTTPException as exc:
            known, found = (await self._reply_found(first) if exc.code == ALREADY_ANSWERED
                            else (True, None))
            if not known:
                return self._leave_to_adoption(jobs)
            if found is None:
                late = exc.code in LATE_CODES
                log.log(logging.INFO if late else logging.WARNING,
                        "Interaction %s was not answered (HTTP %s, code %s): job %s dropped",
                        interaction.id, exc.status, exc.code, first.short_id)
                await self._abandon(jobs)
                return []
            mark_public_reply(interaction)
            message_id: int | None = found
        except asyncio.CancelledError:
            await asyncio.shield(self._abandon(jobs))
            raise
        except Exception:
            known, found = await self._reply_found(first)
            if not known:
                return self._leave_to_adoption(jobs)
            if found is None:
                await asyncio.shield(self._abandon(jobs))
                raise
            mark_public_reply(interaction)
            message_id = found
        else:
            message_id = getattr(callback, "message_id", None)
        log.debug("Job %s (%s%s) for user %s in guild %s, answered in %.0f ms", first.short_id,
                 first.model, f" ×{len(jobs)}" if len(jobs) > 1 else "", first.user_id,
                 first.guild_id, _age_ms(interaction))
        try:
            self._bot.result_delivery.register(first.batch_id or first.id, interaction)
            accepted = []
            for job in jobs:
                job.message_id = message_id
                accepted.append(self._bot.tracker.accept(job))
            return accepted
        except BaseException:
            # The reply shows the error (the tree's handler); the jobs give their images back.
            await asyncio.shield(self._abandon(jobs))
            raise

    async def _reply_found(self, job: JobRecord) -> tuple[bool, int | None]:
        """After a deferral whose answer was refused as a repeat or lost: whether Discord
        could be asked, and the reply's message id when it has one (the deferral did reach
        it), else None."""
        try:
            found = await self._bot.result_delivery.confirm_reply(job)
        except Exception as exc:
            log.info("Looking up the reply of job %s failed: %s", job.short_id,
                     type(exc).__name__)
            return False, None
        if found is not None:
            log.info("Job %s: the deferral's answer was lost, but its reply exists; going on",
                     job.short_id)
        return True, found

    @staticmethod
    def _leave_to_adoption(jobs: list[JobRecord]) -> list[JobRecord]:
        """Neither send nor drop jobs whose command may or may not have been answered: the
        tracker's reconciliation asks Discord again later, and goes on or drops them."""
        log.warning("Could not tell whether Discord took the answer of job %s: left to the "
                    "reconciliation", jobs[0].short_id)
        return []

    async def _admit(self, interaction: discord.Interaction, jobs: list[JobRecord]) -> None:
        """Reserve the jobs' images (raises :class:`QuotaDenied`). A database too slow for
        Discord's 3 seconds is a busy refusal; whatever it grants later is given back."""
        admission = asyncio.ensure_future(self._bot.quota.admit_batch(jobs))
        remaining = ADMISSION_DEADLINE_SECONDS - _age_ms(interaction) / 1000
        try:
            async with asyncio.timeout(max(0.05, remaining)):
                await asyncio.shield(admission)
        except (TimeoutError, asyncio.CancelledError) as stopped:
            self._bot.tracker.spawn(self._withdraw(admission, jobs),
                                    f"withdraw-{jobs[0].short_id}")
            if isinstance(stopped, asyncio.CancelledError):
                raise
            log.warning("The quota decision for job %s took too long: refused as busy",
                        jobs[0].short_id)
            raise Refusal(_(BUSY)) from None

    async def _withdraw(self, admission: Awaitable[object],
                        jobs: list[JobRecord]) -> None:
        """Once a refused admission ends: give back what it granted after all."""
        try:
            await admission
        except Exception:
            return  # refused, or failed: nothing was kept
        await self._abandon(jobs)

    async def _abandon(self, jobs: list[JobRecord]) -> None:
        for job in jobs:
            if not self._bot.tracker.tracks(job.id):
                await self._bot.tracker.abandon(job, NOT_ACKNOWLEDGED)


def batch_seed(seed: int, index: int) -> int:
    """The seed of the ``index``-th image of a batch: ``seed + index``, past the largest
    seed wrapping to 0."""
    return (seed + index) % (SEED_MAX + 1)


def _age_ms(interaction: discord.Interaction) -> float:
    """Milliseconds since the interaction was created (by its snowflake)."""
    return max(0.0, (time.time() - interaction.created_at.timestamp()) * 1000)
