"""Shows tracker events in Discord: edits the reply as a job moves, then delivers the image.

- Progress edits to one message are coalesced to at most one every ``min_edit_interval``;
  the final edit is never dropped (it waits for an in-flight edit, then goes).
- Sends share a bounded number of slots (batches' too), and finished images and grids take
  them first: under a burst, progress edits wait (and coalesce) rather than delay a result.
- The result image is downloaded and attached, so it outlives the provider's temporary URL;
  over the interaction's upload limit it is linked instead, and the message says why.
- Edits reach the job's own reply whatever happened since (:mod:`cogs.core.reply_sender`).
- A final message Discord refuses for now is tried again soon
  (:mod:`cogs.core.owed_deliveries`), then by the tracker's reconciliation.
- The jobs of a batch share one reply: :mod:`cogs.core.batch_delivery` shows them.
- A job whose command was never answered (``announce`` off) is not shown at all.
- Everything a job shows speaks the job's language (:func:`job_public_locale`), whichever
  path the message takes and whenever it goes (after a restart too).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord

from bot.i18n import _, format_number, use_locale
from bot.images import FetchedImage, ImageFetchError, fetch_image
from bot.jobs import JobRecord, JobStatus
from bot.metrics import observe_delivery
from bot.net import FETCH_FAILED, SafeFetcher
from bot.owned_tasks import OwnedTasks
from bot.priority_slots import PrioritySlots
from bot.tracker import JobEvent
from cogs.core.batch_delivery import BatchDelivery
from cogs.core.components import job_view
from cogs.core.languages import job_public_locale
from cogs.core.owed_deliveries import OwedDeliveries
from cogs.core.rendering import job_embed, link_instead, link_target, status_line, truncate
from cogs.core.reply_sender import FinalSend, Outgoing, Reply, ReplySender, result_links
from cogs.core.reply_webhook import original_message_id

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

#: Messages prepared and sent at the same time (results: download, attach, upload).
SEND_CONCURRENCY = 16
#: Longest asking Discord whether a job's reply exists may take (at a start, or after a
#: lost answer); past it, the job is asked about again at the next reconciliation.
CONFIRM_DEADLINE_SECONDS = 10.0

#: ``await source(job)`` → a few words for a completed result's footer ("7 left today"), or None.
FooterSource = Callable[[JobRecord], Awaitable[str | None]]


class ResultDelivery:
    """The tracker's Discord listener."""

    def __init__(self, bot: IdeogramBot, downloads: SafeFetcher, *,
                 min_edit_interval: float = 2.0) -> None:
        self._bot = bot
        self._downloads = downloads
        self._interval = min_edit_interval
        self._replies: dict[str, Reply] = {}
        self._batch_of: dict[str, str] = {}  # unfinished job id → its batch id
        self._tasks = OwnedTasks()
        self._footer_sources: list[FooterSource] = []
        self._delivering: set[str] = set()  # job ids whose final message is being sent
        self._send_slots = PrioritySlots(SEND_CONCURRENCY)
        self.sender = ReplySender(bot)
        self.owed = OwedDeliveries(bot.store.get_job, self.on_job_event)
        self.batches = BatchDelivery(bot, self.sender, downloads, self._tasks.spawn,
                                     self._send_slots, self.owed,
                                     min_edit_interval=min_edit_interval)

    def add_footer_source(self, source: FooterSource) -> None:
        """Add words to the footer of each completed result (a failing source is skipped)."""
        self._footer_sources.append(source)

    async def footer_extra(self, job: JobRecord) -> str | None:
        parts: list[str] = []
        for source in self._footer_sources:
            try:
                text = await source(job)
            except Exception:
                log.exception("A footer source failed for job %s", job.short_id)
                continue
            if text:
                parts.append(text)
        return " · ".join(parts) or None

    def register(self, key: str, interaction: discord.Interaction) -> None:
        """Remember the interaction whose (deferred) reply shows this job (or batch: ``key``
        is then the batch id)."""
        self._replies[key] = Reply(interaction=interaction)

    def reply_for(self, key: str) -> Reply:
        """The reply state of a job or batch (a new, interaction-less one after a restart)."""
        reply = self._replies.get(key)
        if reply is None:
            reply = self._replies[key] = Reply(interaction=None)
        return reply

    def forget(self, key: str) -> None:
        reply = self._replies.pop(key, None)
        if reply is not None:
            reply.cancel_flush()  # whoever shows the job now, a late edit here would hide it

    def release(self, job_ids: set[str]) -> None:
        """Forget the replies of jobs another process shows now (it took them over, or ended
        them), and drop the edits scheduled for them."""
        for job_id in job_ids:
            self.forget(job_id)
            batch_id = self._batch_of.pop(job_id, None)
            if batch_id is not None and batch_id not in self._batch_of.values():
                self.forget(batch_id)

    async def close(self) -> None:
        await self.owed.close()
        await self._tasks.cancel_all()

    async def wait_idle(self) -> None:
        """Wait until every scheduled edit and delivery has finished (for tests and shutdown)."""
        await self._tasks.wait_idle()

    # ------------------------------------------------------------------ events

    async def confirm_reply(self, job: JobRecord) -> int | None:
        """For the tracker, after a restart: the message id of this job's reply, or None
        when the command was never answered (only its live token can tell; without one,
        None too).

        Raises when Discord could not be asked (an error of its own, no connection): the
        caller asks again later rather than drop a job whose command was answered.
        """
        token = self._bot.token_sealer.unseal(job.sealed_token)
        if token is None or not job.token_alive(time.time()):
            return None
        async with asyncio.timeout(CONFIRM_DEADLINE_SECONDS):  # a slow Discord cannot say
            return await original_message_id(self._bot, job, token)

    async def on_job_event(self, event: JobEvent) -> None:
        if event.job.batch_id is not None:
            if event.status.terminal:
                self._batch_of.pop(event.job.id, None)
            else:
                self._batch_of[event.job.id] = event.job.batch_id
            await self.batches.on_job_event(event, self.reply_for(event.job.batch_id))
            if event.status.terminal and not event.announce:
                self.forget(event.job.batch_id)
            return
        if not event.announce:
            self._replies.pop(event.job.id, None)
            return
        reply = self.reply_for(event.job.id)
        if event.status.terminal:
            if event.job.id in self._delivering:
                return  # announced again (reconciliation) while being delivered
            reply.cancel_flush()
            reply.pending = None
            self._delivering.add(event.job.id)
            self._tasks.spawn(self._deliver_final(reply, event), f"deliver-{event.job.short_id}")
            return
        reply.flush_soon(event, self._interval, self._flush_later, self._tasks.spawn,
                         f"edit-{event.job.short_id}")

    async def _flush_later(self, reply: Reply, delay: float) -> None:
        async with reply.progress_owed(delay, self._send_slots) as event:
            if event is None:
                return
            job = event.job
            with use_locale(job_public_locale(self._bot, job)):
                out = Outgoing(status_line(job, eta=event.eta), job_embed(job), job_view(job))
                await self.sender.send_progress(reply, job, out, what=f"job {job.short_id}")

    async def _deliver_final(self, reply: Reply, event: JobEvent) -> None:
        job = event.job
        try:
            with use_locale(job_public_locale(self._bot, job)):
                # What waits on the database (the footer's allowance, the delivery's record)
                # stays outside the send slot: a slot is held only to prepare and send.
                extra = await self._footer_for(job)
                # A bounded number at a time: under a burst, results go out in the order they
                # finished instead of all crawling along together, ahead of progress edits.
                async with self._send_slots.urgent():
                    sent = await self._deliver_final_once(reply, job, extra)
            self._replies.pop(job.id, None)
            if sent is FinalSend.LATER:
                self.owed.owed(job.id, job.id)
            else:
                self.owed.settled(job.id)
                await self._bot.tracker.mark_delivered(job.id)
        finally:
            self._delivering.discard(job.id)

    async def _footer_for(self, job: JobRecord) -> str | None:
        """The footer's extra words for a result that shows an image; None for any other."""
        if job.result_url is None:
            return None
        return await self.footer_extra(job)

    async def _deliver_final_once(self, reply: Reply, job: JobRecord,
                                  extra: str | None) -> FinalSend:
        async with reply.lock:
            try:
                out = await self._final_message(job, reply, extra)
            except Exception:
                log.exception("Preparing the result of job %s failed", job.short_id)
                content, url = status_line(job), job.result_url
                if url is not None:  # the image, at least as a link
                    content += "\n" + link_instead(_(FETCH_FAILED), url)
                out = Outgoing(truncate(content, 2000), job_embed(job),
                               job_view(job, image_attached=False))
            if out.image is not None:  # else the text has its link already, if any
                out.links = result_links([job])
            sent = await self.sender.send_final(reply, job, out, what=f"job {job.short_id}")
            if sent is FinalSend.SENT and job.status is JobStatus.COMPLETED:
                observe_delivery(job.finished_at)
            reply.last_edit = time.monotonic()
        return sent

    async def _final_message(self, job: JobRecord, reply: Reply,
                             extra: str | None) -> Outgoing:
        content = status_line(job)
        url = job.result_url
        if url is None:
            return Outgoing(content, job_embed(job), job_view(job))
        limit = self.sender.upload_limit(job, reply)
        try:
            image: FetchedImage | None = await fetch_image(self._downloads, url)
        except ImageFetchError as exc:
            log.warning("Fetching the result of job %s failed: %s", job.short_id, exc)
            image = None
            content += "\n" + link_instead(_(exc.user_message), url)
        if image is not None and len(image.data) > limit:
            content += "\n" + _(
                "The image is {size} MB, over this server's {limit} MB upload limit, so here "
                "is a link instead (it expires): [open it]({url})",
                size=format_number(len(image.data) / 1e6, digits=1),
                limit=format_number(limit / 1e6, digits=0), url=link_target(url))
            image = None
        if image is None:  # a link only: nothing attached for Reframe to start from
            return Outgoing(truncate(content, 2000), job_embed(job, footer_extra=extra),
                            job_view(job, image_attached=False))
        filename = f"ideogram-{job.short_id}.{image.extension}"
        return Outgoing(content, job_embed(job, image_filename=filename, footer_extra=extra),
                         job_view(job), image=image.data, filename=filename)
