"""/queue: the server's unfinished jobs; moderators can cancel queued ones from a menu.

Moderators see every job. Others see their own jobs and those in channels they can see
(their permissions in that channel); any other job shows only as "a job in another
channel", without its prompt, owner or id.

The menu's custom_id is fixed (``queue:cancel``) and registered as a dynamic item, so it
works after a restart; the chosen job, the guild and the moderator's permission are
checked again when it is used. A cancellation is posted to the log channel.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.i18n import N_, _, format_number, ngettext
from bot.jobs import JobRecord, JobStatus
from bot.providers.errors import ProviderError
from bot.providers.types import CancelOutcome
from cogs.core.checks import guild_id_of, is_moderator, require_moderator
from cogs.core.errors import Refusal, reports_errors
from cogs.core.interaction_data import bot_of
from cogs.core.job_actions import NOT_CANCELLABLE, STILL_SENDING
from cogs.core.languages import SpeaksReaderLocale
from cogs.core.mentions import user_mention
from cogs.core.rendering import discord_timestamp, model_title, truncate
from cogs.core.status_names import status_name
from cogs.history import chosen_job_id, prompt_preview

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

CANCEL_ID: Final = "queue:cancel"
MAX_LINES: Final = 20
MAX_OPTIONS: Final = 25
ELSEWHERE: Final = N_("a job in another channel")

#: ``visible(job)``: may the viewer see this job's details?
Visibility = Callable[[JobRecord], bool]


def can_see_channel(interaction: discord.Interaction, channel_id: int) -> bool:
    """Whether the member who acted can view ``channel_id`` (by their permissions there).
    Anything the bot cannot tell (an uncached channel, a private thread) counts as no."""
    if channel_id == interaction.channel_id:
        return True
    guild, member = interaction.guild, interaction.user
    if guild is None or not isinstance(member, discord.Member):
        return False
    channel = guild.get_channel_or_thread(channel_id)
    if channel is None or getattr(channel, "type", None) is discord.ChannelType.private_thread:
        return False
    try:
        return channel.permissions_for(member).view_channel
    except discord.ClientException:  # a thread whose parent is not cached
        return False


def all_visible(job: JobRecord) -> bool:
    return True


def visibility_for(interaction: discord.Interaction) -> Visibility:
    """Moderators see every job; others their own and those in channels they can see."""
    if is_moderator(interaction):
        return all_visible
    viewer = interaction.user.id
    return lambda job: job.user_id == viewer or can_see_channel(interaction, job.channel_id)


def _state(job: JobRecord) -> str:
    if job.status is JobStatus.RUNNING:
        return _("🎨 running, started {when}",
                 when=discord_timestamp(job.started_at or job.created_at))
    if job.status is JobStatus.QUEUED:
        since = discord_timestamp(job.submitted_at or job.created_at)
        if job.queue_position is not None:
            return _("⏳ queued (place {place} at the image service), waiting since {when}",
                     place=format_number(job.queue_position), when=since)
        return _("⏳ queued, waiting since {when}", when=since)
    return _("⏳ being sent, since {when}", when=discord_timestamp(job.created_at))


def queue_line(place: int, job: JobRecord, *, visible: bool = True) -> str:
    if not visible:
        return f"**{place}.** {_(ELSEWHERE)} · {_state(job)}"
    return (f"**{place}.** `{job.short_id}` · <@{job.user_id}> · {model_title(job)} · "
            f"{_state(job)}\n> {prompt_preview(job, 80)}")


async def queue_message(bot: IdeogramBot, guild_id: int, *, moderator: bool,
                        visible: Visibility | None = None
                        ) -> tuple[discord.Embed, discord.ui.View | None]:
    """The embed (and, for moderators, the cancel menu). ``visible`` says which jobs'
    details the viewer may see (default: all, for moderators)."""
    if visible is None:
        if not moderator:
            raise ValueError("a non-moderator's queue needs a visibility rule")
        visible = all_visible
    jobs = await bot.store.unfinished_jobs_for_guild(guild_id)
    embed = discord.Embed(title=_("Queue"), colour=discord.Colour.blurple())
    if not jobs:
        embed.description = _("Nothing is waiting or running on this server right now.")
        return embed, None
    now = discord_timestamp(time.time(), "T")
    lines = [ngettext("{n} unfinished job, oldest first · as of {when}",
                      "{n} unfinished jobs, oldest first · as of {when}", len(jobs), when=now)]
    lines += [queue_line(place, job, visible=visible(job))
              for place, job in enumerate(jobs[:MAX_LINES], start=1)]
    if len(jobs) > MAX_LINES:
        lines.append(ngettext("…and {n} more.", "…and {n} more.", len(jobs) - MAX_LINES))
    embed.description = truncate("\n".join(lines), 4000)
    waiting = [(place, job) for place, job in enumerate(jobs, start=1)
               if bot.tracker.cancellable(job)]
    if not moderator or not waiting:
        return embed, None
    options = [discord.SelectOption(
        label=truncate(f"{place}. {job.short_id} — {prompt_preview(job, 60, markdown=False)}", 100),
        value=job.id, emoji="✖️") for place, job in waiting[:MAX_OPTIONS]]
    view = discord.ui.View(timeout=None)
    view.add_item(QueueCancel(options))
    return embed, view


class QueueCancel(SpeaksReaderLocale, discord.ui.DynamicItem[discord.ui.Select[Any]],
                  template=r"queue:cancel"):
    def __init__(self, options: list[discord.SelectOption] | None = None) -> None:
        super().__init__(discord.ui.Select(
            custom_id=CANCEL_ID, placeholder=_("Cancel a queued job…"), min_values=1,
            max_values=1, options=options or [discord.SelectOption(label="-", value="-")]))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> QueueCancel:
        return cls()

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        require_moderator(interaction)
        bot = bot_of(interaction)
        job = await bot.store.get_job(chosen_job_id(interaction), urgent=True)
        if job is None or job.guild_id != interaction.guild_id:
            raise Refusal(_("I no longer have that job."))
        if job.status is JobStatus.PENDING:
            raise Refusal(_(STILL_SENDING))
        if not bot.tracker.cancellable(job):
            raise Refusal(_(NOT_CANCELLABLE) if job.status is JobStatus.RUNNING
                          else _("Job `{job}` is no longer queued ({status}).",
                                 job=job.short_id, status=status_name(job.status)))
        await interaction.response.defer()
        try:
            outcome = await bot.tracker.cancel(job.id)
        except ProviderError as exc:
            await interaction.followup.send(exc.localized_message, ephemeral=True)
            return
        if outcome is CancelOutcome.CANCELLED:
            log.info("Moderator %s cancelled job %s from /queue", interaction.user.id,
                     job.short_id)
            bot.job_actions.log_moderator_cancel(interaction, job)
            note = _("✖️ Cancelled job `{job}` of {member}.", job=job.short_id,
                     member=user_mention(job.user_id))
        else:
            note = _(NOT_CANCELLABLE)
        assert interaction.guild_id is not None
        embed, view = await queue_message(bot, interaction.guild_id, moderator=True)
        await interaction.edit_original_response(content=note, embed=embed, view=view)


class QueueCog(commands.Cog):
    def __init__(self, bot: IdeogramBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(QueueCancel)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(QueueCancel)

    @app_commands.command(name="queue",
                          description=locale_str("This server's unfinished image jobs"))
    @app_commands.guild_only()
    async def queue(self, interaction: discord.Interaction) -> None:
        guild_id = guild_id_of(interaction)
        embed, view = await queue_message(self.bot, guild_id,
                                          moderator=is_moderator(interaction),
                                          visible=visibility_for(interaction))
        if view is None:
            await interaction.response.send_message(embed=embed, ephemeral=True)
        else:
            await interaction.response.send_message(embed=embed, view=view, ephemeral=True)


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(QueueCog(bot))
