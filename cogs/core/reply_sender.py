"""Putting a message into a job's own reply, whatever happened since the command.

Every job (or batch) has its own reply, whose message id is known from the moment the
command was answered. An edit goes, in this order, through the live interaction (in this
process), the stored interaction token (after a restart, while it lives: see
:mod:`cogs.core.reply_webhook`), the channel with the bot token (an edit of that message
id), and only for a final result and only when the reply is gone, a new message that
mentions the requester. A final message Discord will not take as it is goes as text with
links to the images (:meth:`Outgoing.without_image`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import io
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.i18n import _
from bot.jobs import JobRecord
from bot.priority_slots import PrioritySlots
from cogs.core.components import without_image_buttons
from cogs.core.mentions import mention_only
from cogs.core.rendering import link_instead, link_target, truncate
from cogs.core.reply_webhook import edit_reply, original_message_id, reply_webhook

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

#: Tries of a final message (the result, or a batch's grid) in one delivery.
DELIVERY_ATTEMPTS = 3
#: Longest one send may take, Discord's retries and rate-limit waits included: past it,
#: the send counts as refused for now (a slow Discord must not hold a send slot).
SEND_DEADLINE_SECONDS = 30.0
#: What a send that Discord did not answer ends with (past the deadline, or a connection
#: that dropped): tried again like Discord's own passing refusals.
UNANSWERED: tuple[type[Exception], ...] = (TimeoutError, aiohttp.ClientError)
#: Longest a look-up of a message (is it still there?) waits on Discord.
LOOKUP_DEADLINE_SECONDS = 10.0
#: Uploads of a final message Discord left unanswered before its next try goes as text
#: with links: an upload that slow would never get through.
UNANSWERED_UPLOADS_BEFORE_TEXT = 2


class FinalSend(enum.Enum):
    """How sending a final message went."""

    SENT = "sent"
    #: Discord refused every try for now (rate limited, or its own error): the job stays
    #: undelivered, and is tried again soon (:mod:`cogs.core.owed_deliveries`), then by
    #: the tracker's reconciliation.
    LATER = "later"
    #: Discord refused it for good (no access, channel gone, a message it will never
    #: take): nothing more is tried.
    REFUSED = "refused"


def refused_for_good(exc: discord.HTTPException) -> bool:
    """Whether another try cannot succeed: a 4xx other than a rate limit."""
    return 400 <= exc.status < 500 and exc.status != 429


#: Runs a coroutine as a task its owner keeps (:meth:`bot.owned_tasks.OwnedTasks.spawn`).
Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]
#: Shows a reply's pending progress after waiting the given seconds.
Flush = Callable[["Reply", float], Coroutine[Any, Any, None]]

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
EXPIRED_TOKEN_CODE = 50027
#: Discord's codes for: the message is gone; the thread is archived; a file too large;
#: a permission the bot lacks in the channel.
UNKNOWN_MESSAGE_CODE = 10008
UNKNOWN_CHANNEL_CODE = 10003
THREAD_ARCHIVED_CODE = 50083
FILE_TOO_LARGE_CODE = 40005
MISSING_PERMISSIONS_CODE = 50013


@dataclass(slots=True)
class Reply:
    """The message that shows one job or batch, and what is owed to it."""

    interaction: discord.Interaction | None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_edit: float = 0.0
    pending: Any = None  # the latest progress not yet shown
    flush: asyncio.Task[None] | None = None

    def cancel_flush(self) -> None:
        """Drop the progress edit scheduled, if any (the final message replaces it)."""
        if self.flush is not None:
            self.flush.cancel()
            self.flush = None

    def flush_soon(self, pending: Any, interval: float, flush: Flush, spawn: Spawn,
                   name: str) -> None:
        """Keep ``pending`` as the progress to show; unless an edit is scheduled already,
        schedule ``flush`` no sooner than ``interval`` seconds after the last edit."""
        self.pending = pending
        if self.flush is None:
            delay = max(0.0, self.last_edit + interval - time.monotonic())
            self.flush = spawn(flush(self, delay), name)

    @contextlib.asynccontextmanager
    async def progress_owed(self, delay: float, slots: PrioritySlots) -> AsyncIterator[Any]:
        """For a scheduled ``flush``: after ``delay`` seconds, in a normal send slot (behind
        every waiting result) and the reply's lock, yield the progress still to show, or
        None. Progress that arrives meanwhile replaces it, so only the latest is shown."""
        if delay:
            await asyncio.sleep(delay)
        async with slots.normal(), self.lock:
            self.flush = None
            pending, self.pending = self.pending, None
            yield pending


@dataclass(slots=True)
class Outgoing:
    """What to put in the reply: text, an embed, buttons, maybe one file.

    ``links``: where the images it shows can be opened (a batch: one per image, "" for
    none), for the plain message sent when Discord refuses the file or the embed.
    """

    content: str
    embed: discord.Embed | None
    view: discord.ui.View
    image: bytes | None = None
    filename: str | None = None
    links: tuple[str, ...] = ()

    def files(self) -> list[discord.File]:
        if self.image is None or self.filename is None:
            return []
        return [discord.File(io.BytesIO(self.image), filename=self.filename)]

    @property
    def plain(self) -> bool:
        """Whether it is text and buttons only (nothing a channel may refuse but the text)."""
        return self.embed is None and self.image is None

    def without_image(self, refusal: discord.HTTPException | None) -> Outgoing:
        """The same message as text and buttons only, with why and links to the images
        (``refusal`` None: Discord never answered its uploads in time). Reframe is left
        off: it starts from the image attached to the message, and the link's copy
        expires."""
        content = self.content
        links = [(n, url) for n, url in enumerate(self.links, start=1) if url]
        if links:
            if refusal is None:
                problem = _("Discord was too slow to take the image.")
            elif refusal.status == 413 or refusal.code == FILE_TOO_LARGE_CODE:
                problem = _("Discord did not take the image: it is over what this channel "
                            "takes now.")
            elif refusal.code == MISSING_PERMISSIONS_CODE:
                problem = _("I may not attach images here: a moderator can give me Attach "
                            "Files and Embed Links in this channel.")
            else:
                problem = _("Discord did not take the image here.")
            if len(self.links) == 1:
                content += "\n" + link_instead(problem, links[0][1])
            else:
                content += "\n" + _("{problem} Here are links instead: {links}",
                                     problem=problem, links=" · ".join(
                                         f"[{n}]({link_target(url)})" for n, url in links))
        return Outgoing(truncate(content, 2000), None, without_image_buttons(self.view))


async def fetch_result_message(bot: IdeogramBot, job: JobRecord,
                               message_id: int) -> discord.Message:
    """The message ``message_id`` in ``job``'s channel, looked up through the channel.

    Within :data:`LOOKUP_DEADLINE_SECONDS`. Raises :class:`discord.HTTPException` (gone:
    :class:`discord.NotFound`; unreadable: :class:`discord.Forbidden`), or one of
    :data:`UNANSWERED` when Discord did not say in time.
    """
    channel = bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
    async with asyncio.timeout(LOOKUP_DEADLINE_SECONDS):
        return await channel.fetch_message(message_id)


def result_links(jobs: list[JobRecord]) -> tuple[str, ...]:
    """Where each job's image can be opened ("" for a job without one), for
    :attr:`Outgoing.links`."""
    return tuple(job.result_url or "" for job in jobs)


def token_gone(exc: discord.HTTPException) -> bool:
    """The interaction token no longer works (expired, or unknown to Discord)."""
    return exc.status == 401 or exc.code == EXPIRED_TOKEN_CODE or (
        isinstance(exc, discord.NotFound) and not message_gone(exc))


def message_gone(exc: discord.HTTPException) -> bool:
    """The reply was deleted (a member or a moderator); its token may still work."""
    return exc.code == UNKNOWN_MESSAGE_CODE


def post_nonce(job: JobRecord) -> str:
    """The nonce of a job's result posted anew: Discord answers a repeat of it (a retry
    of a post whose answer was lost) with the message it made, instead of a second one."""
    return job.id[:25]


class ReplySender:
    """Sends :class:`Outgoing` messages into replies (see the module's docstring)."""

    def __init__(self, bot: IdeogramBot) -> None:
        self._bot = bot
        #: Job id → uploads of its final message Discord left unanswered, in a row.
        self._unanswered: dict[str, int] = {}

    def upload_limit(self, job: JobRecord, reply: Reply) -> int:
        """The largest file this reply may carry."""
        if reply.interaction is not None:
            return reply.interaction.filesize_limit
        guild = self._bot.get_guild(job.guild_id) if job.guild_id else None
        return guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT

    async def send(self, reply: Reply, job: JobRecord, out: Outgoing, *,
                   final: bool) -> None:
        """Put ``out`` in the reply of ``job`` (for a batch: its first job); raises
        :class:`discord.HTTPException` when Discord refuses it.

        A reply someone deleted gets no more progress; its final message is posted anew,
        mentioning the requester (:meth:`_post_result_anew`).
        """
        interaction = reply.interaction
        if interaction is not None and not interaction.is_expired():
            try:
                message = await interaction.edit_original_response(
                    content=out.content, embed=out.embed, view=out.view,
                    attachments=out.files())
            except discord.HTTPException as exc:
                if message_gone(exc):
                    if final:
                        await self._post_result_anew(job, out, followup=interaction.followup)
                    return
                if not token_gone(exc):
                    raise
                log.info("Interaction token of job %s no longer works (%s); trying the "
                         "channel", job.short_id, exc.code or exc.status)
            else:
                await self._remember_message(job, message.id)
                return
        reply.interaction = None
        message_id = job.message_id
        if message_id is None:  # learnt since this event's record was read?
            current = await self._bot.store.get_job(job.id)
            message_id = current.message_id if current is not None else None
        if await self._send_via_token(job, message_id, out, final=final):
            return
        await self._send_via_channel(job, message_id, out, final=final)

    async def _send_within_deadline(self, reply: Reply, job: JobRecord, out: Outgoing, *,
                                    final: bool) -> None:
        async with asyncio.timeout(SEND_DEADLINE_SECONDS):
            await self.send(reply, job, out, final=final)

    async def send_progress(self, reply: Reply, job: JobRecord, out: Outgoing, *,
                            what: str) -> None:
        """Show progress in the reply; a refusal is only logged (the next edit or the final
        message replaces it). ``what`` names it in the log (``"job 1a2b3c4d"``)."""
        try:
            await self._send_within_deadline(reply, job, out, final=False)
        except discord.HTTPException as exc:
            log.info("Progress edit of %s failed: %s", what, exc.status)
        except UNANSWERED as exc:
            log.info("Progress edit of %s got no answer (%s)", what, type(exc).__name__)
        reply.last_edit = time.monotonic()

    async def send_final(self, reply: Reply, job: JobRecord, out: Outgoing, *,
                         what: str) -> FinalSend:
        """Send a final message, retrying Discord's passing refusals with backoff.

        ``what`` names it in the log (``"job 1a2b3c4d"``). Never raises
        :class:`discord.HTTPException`, nor for a send Discord did not answer within
        :data:`SEND_DEADLINE_SECONDS`: says whether it was sent, is to be tried again
        later, or was refused for good (each logged). Before giving up on a refusal for
        good it tries what may still go through: an archived thread unarchived, then the
        message as text with links, without the file and the embed a channel may refuse.
        """
        unanswered = self._unanswered.pop(job.id, 0)
        if unanswered and out.image is not None:
            if await self._shows_image(job, out):
                log.info("Discord had taken %s, but answered too late", what)
                return FinalSend.SENT
            if unanswered >= UNANSWERED_UPLOADS_BEFORE_TEXT:
                log.warning("Sending %s as text with links: Discord did not answer its "
                            "last %d uploads in time", what, unanswered)
                out = out.without_image(None)
        attempt = 0
        unarchived = False
        while True:
            try:
                await self._send_within_deadline(reply, job, out, final=True)
                return FinalSend.SENT
            except UNANSWERED as exc:
                # Not again at once: a Discord this slow holds a send slot each try; the
                # owed deliveries try again in a while, outside the slots.
                log.warning("Delivering %s got no answer (%s); it is tried again later",
                            what, type(exc).__name__)
                if out.image is not None:
                    self._unanswered[job.id] = unanswered + 1
                return FinalSend.LATER
            except discord.HTTPException as exc:
                log.warning("Delivering %s failed: HTTP %s (code %s)", what, exc.status,
                            exc.code)
                if exc.code == THREAD_ARCHIVED_CODE and not unarchived:
                    unarchived = True
                    if await self._unarchive(job):
                        continue
                if exc.code == UNKNOWN_CHANNEL_CODE:
                    log.warning("Not delivering %s: its channel %s was deleted", what,
                                job.channel_id)
                    return FinalSend.REFUSED
                if refused_for_good(exc):
                    if not out.plain:
                        log.warning("Sending %s again as text with links", what)
                        out = out.without_image(exc)
                        continue
                    log.error("Giving up delivering %s to channel %s: Discord refused it "
                              "(HTTP %s)", what, job.channel_id, exc.status)
                    return FinalSend.REFUSED
                attempt += 1
                if attempt >= DELIVERY_ATTEMPTS:
                    break
                await asyncio.sleep(2 ** attempt)
        log.error("Delivering %s to channel %s failed %d times; it is tried again "
                  "later", what, job.channel_id, DELIVERY_ATTEMPTS)
        return FinalSend.LATER

    async def _shows_image(self, job: JobRecord, out: Outgoing) -> bool:
        """Whether the reply shows ``out``'s file already (an upload answered too late)."""
        if job.message_id is None:
            return False
        try:
            message = await fetch_result_message(self._bot, job, job.message_id)
        except discord.HTTPException:
            return False
        except UNANSWERED:
            return False
        return any(attachment.filename == out.filename for attachment in message.attachments)

    async def _unarchive(self, job: JobRecord) -> bool:
        """Unarchive the thread of ``job`` (Discord allows it for a thread not locked)."""
        try:
            async with asyncio.timeout(LOOKUP_DEADLINE_SECONDS):
                await self._bot.http.edit_channel(job.channel_id, archived=False)
        except discord.HTTPException as exc:
            log.info("Cannot unarchive the thread of job %s (HTTP %s)", job.short_id,
                     exc.status)
            return False
        except UNANSWERED as exc:
            log.info("Unarchiving the thread of job %s got no answer (%s)", job.short_id,
                     type(exc).__name__)
            return False
        log.info("Unarchived thread %s to deliver job %s", job.channel_id, job.short_id)
        return True

    async def _send_via_token(self, job: JobRecord, message_id: int | None,
                              out: Outgoing, *, final: bool) -> bool:
        """Edit the reply through the stored interaction token (after a restart); False
        when there is no live token or it no longer works."""
        token = self._bot.token_sealer.unseal(job.sealed_token)
        if token is None or not job.token_alive(time.time()) or job.application_id is None:
            return False
        try:
            if message_id is None:
                message_id = await original_message_id(self._bot, job, token)
                if message_id is None:  # never answered, or deleted: not for a token
                    return False
            message = await edit_reply(self._bot, job, token, message_id,
                                       content=out.content, embed=out.embed, view=out.view,
                                       attachments=out.files())
        except discord.HTTPException as exc:
            if message_gone(exc):
                if final:
                    await self._post_result_anew(
                        job, out, followup=reply_webhook(self._bot, job, token))
                return True
            if not token_gone(exc):
                raise
            log.info("Stored token of job %s no longer works (%s); trying the channel",
                     job.short_id, exc.code or exc.status)
            return False
        await self._remember_message(job, message.id)
        return True

    def _channel(self, job: JobRecord) -> discord.PartialMessageable:
        """The job's channel, as the bot token reaches it (no request to look it up)."""
        return self._bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)

    async def _send_via_channel(self, job: JobRecord, message_id: int | None, out: Outgoing,
                                *, final: bool) -> None:
        if message_id is not None:
            try:
                await self._channel(job).get_partial_message(message_id).edit(
                    content=out.content, embed=out.embed, view=out.view,
                    attachments=out.files())
                return
            except (discord.NotFound, discord.Forbidden) as exc:
                if not final:
                    return  # progress is not worth a new message; the result is
                log.info("Editing message of job %s failed (%s); posting anew", job.short_id,
                         exc.code or exc.status)
        if final:
            await self._post_result_anew(job, out)

    async def _post_result_anew(self, job: JobRecord, out: Outgoing, *,
                                followup: discord.Webhook | None = None) -> None:
        """Post the final message as a new one that mentions the requester.

        In the channel first, with a nonce: a retry of a post whose answer was lost gets
        the message Discord made instead of a second one (:func:`post_nonce`). Where the
        channel refuses the bot, as a ``followup`` of the interaction while its token
        works, which needs no permission in the channel (but has no nonce).
        """
        try:
            await self._post_anew(job, self._channel(job), out)
        except (discord.Forbidden, discord.NotFound) as exc:
            if followup is None:
                raise
            log.info("Cannot post the result of job %s in its channel (%s); posting it as "
                     "a followup", job.short_id, exc.code or exc.status)
            try:
                await self._post_anew(job, followup, out)
            except discord.HTTPException as followup_refused:
                if token_gone(followup_refused):
                    raise exc from None  # the channel's refusal is the one that counts
                raise

    async def _post_anew(self, job: JobRecord,
                         where: discord.Webhook | discord.abc.Messageable,
                         out: Outgoing) -> None:
        content = truncate(f"<@{job.user_id}> {out.content}", 2000)
        if isinstance(where, discord.Webhook):
            message: discord.Message = await where.send(
                content=content, embed=out.embed or discord.utils.MISSING, view=out.view,
                files=out.files(), allowed_mentions=mention_only(job.user_id), wait=True)
        else:
            message = await where.send(content=content,
                                       embed=out.embed or discord.utils.MISSING, view=out.view,
                                       files=out.files(), nonce=post_nonce(job),
                                       allowed_mentions=mention_only(job.user_id))
        log.info("The reply of job %s was gone: its result is posted anew", job.short_id)
        await self._remember_message(job, message.id)

    async def _remember_message(self, job: JobRecord, message_id: int) -> None:
        if job.message_id != message_id:
            job.message_id = message_id
            await self._bot.store.update_job(job.id, message_id=message_id)
