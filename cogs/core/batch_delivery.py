"""A batch's one reply (``/ideogram count:N``): "k of N done" while its jobs run, then one
grid of every image.

Each job of a batch is tracked on its own; every event of any of them redraws the shared
reply from the batch's rows in the store (so a restart, which re-announces whatever was
not delivered, picks up exactly where the reply was). Progress edits are coalesced like a
single job's. When all N jobs have ended, the finished images are downloaded, composed into
one grid in a worker thread (:mod:`bot.grid`: failed ones as grey tiles), and attached with
a button per image and Reroll all; then every job of the batch counts as delivered.
Everything speaks the batch's language (its first job's ``locale``), failed tiles included.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Final

from bot.grid import GridError, compose_grid
from bot.i18n import _, pgettext, use_locale
from bot.images import ImageFetchError, fetch_image
from bot.jobs import JobRecord, JobStatus
from bot.metrics import observe_delivery
from bot.net import SafeFetcher
from bot.priority_slots import PrioritySlots
from bot.tracker import JobEvent
from cogs.core.components import batch_view
from cogs.core.languages import job_public_locale
from cogs.core.owed_deliveries import OwedDeliveries
from cogs.core.rendering import batch_embed, batch_status_line
from cogs.core.reply_sender import (
    FinalSend,
    Outgoing,
    Reply,
    ReplySender,
    Spawn,
    result_links,
)

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

#: Grids composed at the same time (each decodes up to four images).
GRID_CONCURRENCY: Final = 2


class BatchDelivery:
    """Shows the jobs of batches; :class:`~cogs.core.result_delivery.ResultDelivery` hands
    it every event of a job that belongs to one."""

    def __init__(self, bot: IdeogramBot, sender: ReplySender, downloads: SafeFetcher,
                 spawn: Spawn, send_slots: PrioritySlots, owed: OwedDeliveries, *,
                 min_edit_interval: float = 2.0) -> None:
        self._bot = bot
        self._owed = owed
        self._sender = sender
        #: Shared with single results: grids go before progress edits (urgent), like them.
        self._send_slots = send_slots
        self._downloads = downloads
        self._spawn = spawn
        self._interval = min_edit_interval
        self._delivering: set[str] = set()  # batch ids whose grid is being made or sent
        self._grid_slots = asyncio.Semaphore(GRID_CONCURRENCY)

    async def on_job_event(self, event: JobEvent, reply: Reply) -> None:
        batch_id = event.job.batch_id
        assert batch_id is not None
        if not event.announce:
            return  # the command was never answered: nothing to show
        if event.status.terminal:
            jobs = await self._bot.store.batch_jobs(batch_id)
            if jobs and all(job.status.terminal for job in jobs):
                if batch_id in self._delivering or all(j.delivered_at for j in jobs):
                    return
                reply.cancel_flush()
                self._delivering.add(batch_id)
                self._spawn(self._deliver(reply, batch_id), f"grid-{batch_id[:8]}")
                return
        reply.flush_soon(batch_id, self._interval, self._flush_later, self._spawn,
                         f"batch-edit-{batch_id[:8]}")

    async def _flush_later(self, reply: Reply, delay: float) -> None:
        async with reply.progress_owed(delay, self._send_slots) as batch_id:
            if batch_id is None:
                return
            jobs = await self._bot.store.batch_jobs(batch_id)
            if not jobs or all(job.status.terminal for job in jobs):
                return  # the grid is on its way
            with use_locale(job_public_locale(self._bot, jobs[0])):
                out = Outgoing(batch_status_line(jobs), batch_embed(jobs), batch_view(jobs))
                await self._sender.send_progress(reply, _lead(jobs), out,
                                                 what=f"batch {batch_id[:8]}")

    async def _deliver(self, reply: Reply, batch_id: str) -> None:
        try:
            async with self._send_slots.urgent(), reply.lock:
                jobs = await self._bot.store.batch_jobs(batch_id)
                with use_locale(job_public_locale(self._bot, jobs[0])):
                    try:
                        out = await self._final_message(jobs, reply)
                    except Exception:
                        log.exception("Preparing the grid of batch %s failed", batch_id[:8])
                        out = Outgoing(batch_status_line(jobs), batch_embed(jobs),
                                       batch_view(jobs))
                    out.links = result_links(jobs)
                    sent = await self._send_final(reply, jobs, out)
                reply.last_edit = time.monotonic()
            if sent is FinalSend.LATER:
                self._owed.owed(batch_id, jobs[0].id)
            else:
                self._owed.settled(batch_id)
                for job in jobs:
                    await self._bot.tracker.mark_delivered(job.id)
        finally:
            self._delivering.discard(batch_id)

    async def _send_final(self, reply: Reply, jobs: list[JobRecord],
                          out: Outgoing) -> FinalSend:
        sent = await self._sender.send_final(reply, _lead(jobs), out,
                                             what=f"batch {str(jobs[0].batch_id)[:8]}")
        if sent is FinalSend.SENT:
            for job in jobs:
                if job.status is JobStatus.COMPLETED:
                    observe_delivery(job.finished_at)
        return sent

    async def _final_message(self, jobs: list[JobRecord], reply: Reply) -> Outgoing:
        content = batch_status_line(jobs)
        tiles = await asyncio.gather(*(self._tile(job) for job in jobs))
        if not any(tile is not None for tile in tiles):
            return Outgoing(content, batch_embed(jobs), batch_view(jobs))
        limit = self._sender.upload_limit(jobs[0], reply)
        try:
            async with self._grid_slots:
                # Translators: drawn across the grid's tile of an image that could not be
                # made (a few words at most).
                failed = pgettext("grid tile", "failed")
                # Translators: drawn across the grid's tile of an image that was made but
                # could not be downloaded any more (a few words at most).
                unavailable = pgettext("grid tile", "unavailable")
                # Translators: drawn across the grid's tile of an image that was cancelled
                # (a few words at most).
                cancelled = pgettext("grid tile", "cancelled")
                labels = [tile_label(job, tile, unavailable=unavailable, cancelled=cancelled)
                          for job, tile in zip(jobs, tiles, strict=True)]
                grid = await asyncio.to_thread(compose_grid, tiles, max_bytes=limit,
                                               failed_label=failed, labels=labels)
        except GridError as exc:
            log.warning("The grid of batch %s could not be made: %s",
                        str(jobs[0].batch_id)[:8], exc)
            content += "\n" + _("I could not put the images together; use the buttons to "
                                "see each one.")
            return Outgoing(content, batch_embed(jobs), batch_view(jobs))
        extra = await self._bot.result_delivery.footer_extra(jobs[0])
        filename = f"ideogram-batch-{str(jobs[0].batch_id)[:8]}.{grid.extension}"
        return Outgoing(content, batch_embed(jobs, image_filename=filename, footer_extra=extra),
                        batch_view(jobs), image=grid.data, filename=filename)

    async def _tile(self, job: JobRecord) -> bytes | None:
        """The finished image of one job, or None (failed, or no longer downloadable)."""
        if job.result_url is None:
            return None
        try:
            return (await fetch_image(self._downloads, job.result_url)).data
        except ImageFetchError as exc:
            log.warning("Fetching image %s of batch %s failed: %s", (job.batch_index or 0) + 1,
                        str(job.batch_id)[:8], exc)
            return None


def _lead(jobs: list[JobRecord]) -> JobRecord:
    """The batch's first job, carrying the batch's reply id whichever of its jobs has it
    (they share one reply; one that ended before its id was written has none)."""
    lead = jobs[0]
    if lead.message_id is None:
        found = next((job.message_id for job in jobs if job.message_id is not None), None)
        if found is not None:
            return lead.evolve(message_id=found)
    return lead


def tile_label(job: JobRecord, tile: bytes | None, *, unavailable: str,
               cancelled: str) -> str | None:
    """What a grid draws across a job's tile when it has no picture (None: "failed")."""
    if tile is not None:
        return None
    if job.status is JobStatus.COMPLETED:
        return unavailable
    return cancelled if job.status is JobStatus.CANCELLED else None
