"""What the persistent job buttons do: Cancel, Reroll, Reframe, Remix, Info, Delete."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, cast

import discord

from bot.i18n import N_, _, format_number
from bot.jobs import JobRecord, JobStatus
from bot.providers.errors import ProviderError
from bot.providers.types import CancelOutcome
from cogs.core.checks import is_moderator, refuse_if_deleted, require_owner_or_moderator
from cogs.core.errors import Refusal
from cogs.core.interaction_data import is_image_attachment
from cogs.core.mentions import channel_mention, user_mention
from cogs.core.rendering import info_embed
from cogs.core.status_names import status_name

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot
    from cogs.reframe import ReframeCog
    from cogs.remix import RemixCog

log = logging.getLogger(__name__)

#: Refusals kept in English here, shown as ``_(GONE)`` in the reader's language.
NOT_CANCELLABLE = N_(
    "Too late to cancel: the image service has already started this job, and running jobs "
    "can't be stopped."
)
#: A job (or a batch) not yet with the image service: once it waits in its queue, Cancel works.
STILL_SENDING = N_(
    "Still being sent to the image service: try Cancel again in a moment, while it waits in "
    "the queue."
)
NOT_THIS_MESSAGE = N_(
    "This button is not on that job's result message, so it can't delete it. Use Delete "
    "on the result itself, or `/history`."
)
NO_ATTACHED_IMAGE = N_("There is no image attached to this message to reframe.")
GONE = N_("I no longer have this job (it may have been deleted).")
NOT_REMIXABLE = N_("Only text-to-image results can be remixed.")


class JobActions:
    def __init__(self, bot: IdeogramBot) -> None:
        self._bot = bot

    async def handle(self, interaction: discord.Interaction, job_id: str, action: str) -> None:
        """Do ``action`` on the job (the button's callback reports what this raises)."""
        job = await self._bot.store.get_job(job_id, urgent=True)  # before the answer
        if job is None and action == "delete":
            await self._delete_unkept(interaction)
            return
        if job is None or (job.guild_id is not None and job.guild_id != interaction.guild_id):
            raise Refusal(_(GONE))
        refuse_if_deleted(job)
        await self._handlers()[action](interaction, job)

    def _handlers(self) -> dict[str, Callable[[discord.Interaction, JobRecord],
                                              Awaitable[None]]]:
        """Each of ``components.ACTIONS`` (a job button) and what it does."""
        return {"cancel": self._cancel, "reroll": self._reroll, "reframe": self._reframe,
                "remix": self._remix, "info": self._info, "delete": self._delete}

    async def _cancel(self, interaction: discord.Interaction, job: JobRecord) -> None:
        require_owner_or_moderator(interaction, job)
        if job.status is JobStatus.PENDING:
            raise Refusal(_(STILL_SENDING))
        if job.status.terminal or job.status is JobStatus.RUNNING:
            raise Refusal(_(NOT_CANCELLABLE) if job.status is JobStatus.RUNNING
                          else _("This job has already ended ({status}).",
                                 status=status_name(job.status)))
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            outcome = await self._bot.tracker.cancel(job.id)
        except ProviderError as exc:
            await interaction.followup.send(exc.localized_message, ephemeral=True)
            return
        text = _("Cancelled.") if outcome is CancelOutcome.CANCELLED else _(NOT_CANCELLABLE)
        await interaction.followup.send(text, ephemeral=True)
        if outcome is CancelOutcome.CANCELLED and interaction.user.id != job.user_id:
            self.log_moderator_cancel(interaction, job)

    def log_moderator_cancel(self, interaction: discord.Interaction, job: JobRecord,
                             cancelled: int = 1) -> None:
        """Tell the log channel that a moderator cancelled someone's job, or ``cancelled``
        images of the batch ``job`` starts (in the background)."""
        if job.guild_id is None:
            return
        moderator = interaction.user.id

        def line() -> str:
            names = {"moderator": user_mention(moderator), "job": job.short_id,
                     "member": user_mention(job.user_id),
                     "channel": channel_mention(job.channel_id)}
            if cancelled > 1:
                return _("✖️ {moderator} cancelled {count} images of batch `{job}` of {member} "
                         "(queued in {channel}).", count=format_number(cancelled), **names)
            return _("✖️ {moderator} cancelled job `{job}` of {member} (queued in {channel}).",
                     **names)

        self._bot.mod_log.post_soon(job.guild_id, line)

    async def _reroll(self, interaction: discord.Interaction, job: JobRecord) -> None:
        inputs = self._bot.launcher.rerun_inputs(interaction, job)
        await self._bot.launcher.launch(interaction, inputs, preset=job.preset)

    async def _reframe(self, interaction: discord.Interaction, job: JobRecord) -> None:
        if job.status is not JobStatus.COMPLETED:
            raise Refusal(_("There is no finished image on this job to reframe."))
        url = self._attached_image_url(interaction)
        if url is None:
            raise Refusal(_(NO_ATTACHED_IMAGE))
        cog = self._bot.get_cog("ReframeCog")
        if cog is None:
            raise Refusal(_("Reframing is turned off on this bot."))
        picker = cast("ReframeCog", cog)
        await picker.offer_picker(interaction, [(_("job {job}", job=job.short_id), url)])

    async def _remix(self, interaction: discord.Interaction, job: JobRecord) -> None:
        cog = self._bot.get_cog("RemixCog")
        if cog is None:
            raise Refusal(_("Remix is turned off on this bot."))
        await cast("RemixCog", cog).open_modal(interaction, job)

    async def _info(self, interaction: discord.Interaction, job: JobRecord) -> None:
        await interaction.response.send_message(embed=info_embed(job), ephemeral=True)

    async def _delete(self, interaction: discord.Interaction, job: JobRecord) -> None:
        require_owner_or_moderator(interaction, job)
        clicked = interaction.message.id if interaction.message is not None else None
        if clicked is None or clicked != job.message_id:
            raise Refusal(_(NOT_THIS_MESSAGE))
        await interaction.response.defer()
        await self.delete_result(job, keep_message_id=clicked)
        with contextlib.suppress(discord.NotFound):  # a second click at the same moment
            await interaction.delete_original_response()

    async def _delete_unkept(self, interaction: discord.Interaction) -> None:
        """Delete on a result whose job retention has dropped: only the message is left,
        and it still says whose it is (the command it answers, or its mention)."""
        message = interaction.message
        if message is None:
            raise Refusal(_(GONE))
        if not is_moderator(interaction) and requester_of(message) != interaction.user.id:
            raise Refusal(_("That job is no longer kept: only the member who asked for it or "
                            "a moderator can delete this message."))
        await interaction.response.defer()
        with contextlib.suppress(discord.NotFound):  # a second click at the same moment
            await interaction.delete_original_response()

    async def delete_result(self, job: JobRecord, *, keep_message_id: int | None = None) -> bool:
        """Mark the job deleted (hidden from /history and /job) and remove its result
        message through the channel, unless it is ``keep_message_id`` (the caller removes
        that one itself). A message already gone is fine.

        Returns False when the message stays because it is a batch's reply that other
        images of the batch, not deleted, still share.
        """
        if job.deleted_at is None:
            await self._bot.store.update_job(job.id, deleted_at=time.time())
        if job.message_id is None or job.message_id == keep_message_id:
            return True
        if job.batch_id is not None and any(
                other.id != job.id and other.message_id == job.message_id
                and other.deleted_at is None
                for other in await self._bot.store.batch_jobs(job.batch_id)):
            return False
        try:
            await self._bot.http.delete_message(job.channel_id, job.message_id)
        except discord.NotFound:
            pass
        except discord.HTTPException as exc:
            log.info("Removing the result message of job %s failed: HTTP %s", job.short_id,
                     exc.status)
        return True

    @staticmethod
    def _attached_image_url(interaction: discord.Interaction) -> str | None:
        """The first image attached (in Discord) to the clicked message: never an embed's
        or the provider's URL, which could point anywhere."""
        message = interaction.message
        if message is None:
            return None
        return next((a.url for a in message.attachments if is_image_attachment(a)), None)


def requester_of(message: discord.Message) -> int | None:
    """Who a result message is for: the member its text names (every result does: "Done
    for <@id>", "<@id> …" when posted anew, "Image 2 of 4 for <@id>" when a batch's image
    was posted full size), else the member whose command it answers.

    The text comes first: the interaction a message answers is not always the
    requester's own. A batch's image posted full size answers the click on its number,
    which may be a moderator's.
    """
    found = _USER_MENTION.search(message.content)
    if found is not None:
        return int(found[1])
    metadata = message.interaction_metadata
    return metadata.user.id if metadata is not None else None


#: A user mention; the first in a result's text is its requester (``status_line``, and
#: the line of a batch's image posted full size, name nobody else).
_USER_MENTION: Final = re.compile(r"<@!?(\d+)>")

__all__ = ["JobActions", "requester_of"]
