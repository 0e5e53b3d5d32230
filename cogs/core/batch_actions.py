"""What a batch's buttons do: 1…N (post that image full size, as its own result with the
usual buttons), Reroll all (a new batch, new seeds) and Cancel (whatever still waits)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from bot.export import message_link
from bot.i18n import N_, _, format_number, ngettext, use_locale
from bot.images import ImageFetchError, fetch_image
from bot.job_errors import render_job_error
from bot.jobs import JobRecord, JobStatus
from bot.providers.errors import ProviderError
from bot.providers.types import CancelOutcome
from cogs.core.checks import refuse_if_deleted, require_owner_or_moderator
from cogs.core.components import job_view
from cogs.core.errors import Refusal
from cogs.core.job_actions import STILL_SENDING
from cogs.core.languages import job_public_locale
from cogs.core.mentions import user_mention
from cogs.core.rendering import job_embed, user_text
from cogs.core.reply_sender import (
    UNANSWERED,
    Outgoing,
    fetch_result_message,
    refused_for_good,
)

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)


class BatchActions:
    def __init__(self, bot: IdeogramBot) -> None:
        self._bot = bot
        #: One post of an image at a time: a second click waits, then finds the first post.
        #: Each job's lock, and how many clicks hold or wait for it.
        self._posting: dict[str, tuple[asyncio.Lock, int]] = {}

    async def handle(self, interaction: discord.Interaction, batch_id: str,
                     action: str) -> None:
        """Do ``action`` on the batch (the button's callback reports what this raises)."""
        jobs = await self._bot.store.batch_jobs(batch_id, urgent=True)  # before the answer
        if not jobs or jobs[0].guild_id != interaction.guild_id:
            raise Refusal(_("I no longer have these images (they may have been deleted)."))
        if action == "rerollall":
            await self._reroll_all(interaction, jobs)
        elif action == "cancel":
            await self._cancel(interaction, jobs)
        else:
            await self._post_full_size(interaction, jobs, int(action))

    async def _post_full_size(self, interaction: discord.Interaction, jobs: list[JobRecord],
                              number: int) -> None:
        if not 1 <= number <= len(jobs):
            raise Refusal(ngettext("This batch has {n} image.", "This batch has {n} images.",
                                   len(jobs)))
        job = jobs[number - 1]
        require_owner_or_moderator(interaction, job)
        refuse_if_deleted(job)
        if job.result_url is None:
            reason = user_text(render_job_error(job.error, N_("it was not made")), 300)
            raise Refusal(_("Image {number} failed: {reason}", number=format_number(number),
                            reason=reason))
        # A public post of a past image: the server's rules of now apply, as for /job.
        await self._bot.server_rules.check(interaction, job, recalled_by="ideogram")
        # No message of its own yet: the public post follows, or a private word on why not,
        # so that nothing the member cannot remove is left in the channel.
        await interaction.response.defer()
        lock, clicks = self._posting.get(job.id, (asyncio.Lock(), 0))
        self._posting[job.id] = (lock, clicks + 1)
        try:
            async with lock:
                job = await self._bot.store.get_job(job.id, urgent=True) or job
                earlier = await self._earlier_post(interaction, job)
                if earlier is not None:
                    await interaction.followup.send(_(
                        "Image {number} is already posted in full size: {link}",
                        number=format_number(number), link=earlier), ephemeral=True)
                    return
                await self._post_image(interaction, job, number, len(jobs))
        finally:
            lock, clicks = self._posting[job.id]
            if clicks > 1:
                self._posting[job.id] = (lock, clicks - 1)
            else:
                del self._posting[job.id]

    async def _earlier_post(self, interaction: discord.Interaction,
                            job: JobRecord) -> str | None:
        """The link to the image's full-size post, when an earlier click made one that is
        still there (one post an image: its Delete then removes the image for good)."""
        grid = interaction.message.id if interaction.message is not None else None
        if job.message_id is None or job.message_id == grid or job.guild_id is None:
            return None
        try:
            await fetch_result_message(self._bot, job, job.message_id)
        except discord.HTTPException:  # gone, or unreadable
            return None
        except UNANSWERED:  # Discord slow to say
            return None
        return message_link(job.guild_id, job.channel_id, job.message_id)

    async def _post_image(self, interaction: discord.Interaction, job: JobRecord, number: int,
                          total: int) -> None:
        try:
            image = await fetch_image(self._bot.services.downloads, job.result_urls[0])
        except ImageFetchError as exc:
            log.info("Image %d of batch %s could not be fetched: %s", number,
                     str(job.batch_id)[:8], exc)
            await interaction.followup.send(_(
                "❌ {problem} The image service keeps results for a limited time; image "
                "{number} had seed `{seed}`.", problem=_(exc.user_message),
                number=format_number(number), seed=job.seed), ephemeral=True)
            return
        filename = f"ideogram-{job.short_id}.{image.extension}"
        # The post is public, like the batch's reply: it speaks the batch's language.
        with use_locale(job_public_locale(self._bot, job)):
            post = Outgoing(
                _("🖼️ Image {number} of {total} for {member}", number=format_number(number),
                  total=format_number(total), member=user_mention(job.user_id)),
                job_embed(job, image_filename=filename), job_view(job), image=image.data,
                filename=filename, links=(job.result_urls[0],))
            try:
                message = await self._send_post(interaction, post)
            except discord.HTTPException as exc:
                if not refused_for_good(exc):
                    raise
                # The channel will not take the file (its upload limit, or no Attach
                # Files): the same post as text, with a link to the image.
                log.info("Image %d of batch %s went as a link: HTTP %s (code %s)", number,
                         str(job.batch_id)[:8], exc.status, exc.code)
                message = await self._send_post(interaction, post.without_image(exc))
        # This post is the image's own result now: its Delete, Reframe and Remix act on it.
        await self._bot.store.update_job(job.id, message_id=message.id)

    @staticmethod
    async def _send_post(interaction: discord.Interaction,
                         post: Outgoing) -> discord.WebhookMessage:
        return await interaction.followup.send(
            content=post.content, embed=post.embed or discord.utils.MISSING, view=post.view,
            files=post.files(), allowed_mentions=discord.AllowedMentions.none(), wait=True)

    async def _reroll_all(self, interaction: discord.Interaction,
                          jobs: list[JobRecord]) -> None:
        # Any image of the batch still there will do: they differ only by their seeds.
        shown = [job for job in jobs if job.deleted_at is None]
        if not shown:
            refuse_if_deleted(jobs[0])
        first = shown[0]
        inputs = self._bot.launcher.rerun_inputs(interaction, first)
        await self._bot.launcher.launch(interaction, inputs, count=len(jobs),
                                        preset=first.preset, rerolling_batch=True)

    async def _cancel(self, interaction: discord.Interaction, jobs: list[JobRecord]) -> None:
        require_owner_or_moderator(interaction, jobs[0])
        waiting = [job for job in jobs if self._bot.tracker.cancellable(job)]
        if not waiting and any(job.status is JobStatus.PENDING for job in jobs):
            raise Refusal(_(STILL_SENDING))
        if not waiting:
            raise Refusal(_("Nothing of this batch is waiting any more: the images being "
                            "made can't be stopped."))
        await interaction.response.defer(ephemeral=True, thinking=True)
        cancelled = 0
        for job in waiting:
            try:
                if await self._bot.tracker.cancel(job.id) is CancelOutcome.CANCELLED:
                    cancelled += 1
            except ProviderError as exc:
                log.info("Cancelling job %s failed: %s", job.short_id, type(exc).__name__)
        left = len(waiting) - cancelled
        text = ngettext("Cancelled {n} of the {total} images.",
                        "Cancelled {n} of the {total} images.", cancelled,
                        total=format_number(len(jobs)))
        if left:
            text += " " + ngettext(
                "{n} could not be cancelled (it had already started, or the image service "
                "didn't answer).",
                "{n} could not be cancelled (they had already started, or the image service "
                "didn't answer).", left)
        await interaction.followup.send(text, ephemeral=True)
        if cancelled and interaction.user.id != jobs[0].user_id:
            self._bot.job_actions.log_moderator_cancel(interaction, jobs[0], cancelled)
