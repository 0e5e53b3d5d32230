"""/history (paged, with persistent Prev/Next buttons and a delete menu) and /job (recall).

The buttons' custom_ids carry who may use them, whose history it is and the page they lead
to (``hist:<owner>:<target>:<page>:<prev|next>``), so they keep working after a restart
(registered with ``add_dynamic_items``). Every click checks again, in code, that the user
is the owner and, for another member's history, still a moderator.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import re
from typing import TYPE_CHECKING, Any, Final, Literal

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.i18n import N_, _, format_number, ngettext, use_locale
from bot.images import FetchedImage, ImageFetchError, fetch_image
from bot.inputs import REFRAME_MODEL
from bot.jobs import JobRecord, JobStatus
from cogs.core.checks import (
    guild_id_of,
    is_moderator,
    refuse_if_deleted,
    require_owner_or_moderator,
)
from cogs.core.components import ReplyButton, job_view
from cogs.core.errors import Refusal, defer_publicly, reports_errors
from cogs.core.interaction_data import bot_of, is_image_attachment, selected_values
from cogs.core.job_actions import GONE
from cogs.core.languages import SpeaksReaderLocale, interaction_public_locale
from cogs.core.mentions import channel_mention, user_mention
from cogs.core.rendering import (
    discord_timestamp,
    job_embed,
    link_target,
    model_title,
    status_line,
    truncate,
    user_text,
)
from cogs.core.reply_sender import UNANSWERED, fetch_result_message
from cogs.core.status_names import status_name

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

PAGE_SIZE: Final = 5
#: What became of a job's result message when /job looked for it.
MessageLookup = Literal["found", "unreadable", "gone"]
MAX_PAGE: Final = 100_000
PROMPT_PREVIEW: Final = 120
SHORT_ID: Final = re.compile(r"[0-9a-f]{4,32}")
STATUS_ICONS: Final[dict[JobStatus, str]] = {
    JobStatus.PENDING: "⏳", JobStatus.QUEUED: "⏳", JobStatus.RUNNING: "🎨",
    JobStatus.COMPLETED: "✅", JobStatus.FAILED: "❌", JobStatus.CANCELLED: "🚫",
}
NOT_YOUR_BUTTONS: Final = N_(
    "These buttons belong to whoever ran `/history`: run it yourself.")
OTHERS_HISTORY: Final = N_(
    "Only moderators (Manage Server) can see another member's history. "
    "Run `/history` without a member to see yours."
)


def jump_link(job: JobRecord) -> str | None:
    if job.message_id is None or job.guild_id is None:
        return None
    return f"https://discord.com/channels/{job.guild_id}/{job.channel_id}/{job.message_id}"


def prompt_preview(job: JobRecord, limit: int = PROMPT_PREVIEW, *, markdown: bool = True) -> str:
    """The prompt on one line, trimmed; with ``markdown``, escaped for message text."""
    if job.model == REFRAME_MODEL:
        return _("Reframe to {resolution}", resolution=job.inputs.get("resolution", "?"))
    text = " ".join(str(job.inputs.get("prompt", "")).split()) or _("(no prompt)")
    return user_text(text, limit) if markdown else truncate(text, limit)


def chosen_job_id(interaction: discord.Interaction) -> str:
    """The job id a member picked in a menu of jobs (one value, a full job id)."""
    values = selected_values(interaction)
    job_id = values[0] if len(values) == 1 else ""
    if not re.fullmatch(r"[0-9a-f]{32}", job_id):
        raise Refusal(_("Pick one of the listed jobs."))
    return job_id


def history_line(job: JobRecord) -> str:
    model = model_title(job)
    icon = STATUS_ICONS.get(job.status, "")
    head = (f"**`{job.short_id}`** · {model} · {icon} {status_name(job.status)} · "
            + _("seed `{seed}`", seed=job.seed) + f" · {discord_timestamp(job.created_at, 'f')}")
    if job.preset:
        head += " · " + _("preset {name}", name=user_text(job.preset, 100))
    link = jump_link(job)
    tail = " · " + _("[jump]({link})", link=link) if link else ""
    return f"{head}{tail}\n> {prompt_preview(job)}"


def recall_view(job: JobRecord, *, image_attached: bool = True) -> discord.ui.View:
    """The job's buttons on a recalled copy, with Remove in place of Delete: Delete works
    only on the job's own result message; Remove takes this copy away (the job stays).
    ``image_attached`` False: the copy could not have the image (no Reframe)."""
    view = job_view(job, image_attached=image_attached)
    for item in list(view.children):
        if isinstance(item, ReplyButton) and item.action == "delete":
            view.remove_item(item)
            view.add_item(RecallRemove(job.id))
    return view


class RecallRemove(
    SpeaksReaderLocale,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"recall:(?P<job_id>[0-9a-f]{32}):remove",
):
    """Remove, on a copy ``/job`` posted: the requester or a moderator takes the copy away,
    also after the job itself was deleted (the copy would stay otherwise)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(discord.ui.Button(
            label=_("Remove this copy"), emoji="🗑️", style=discord.ButtonStyle.danger,
            custom_id=f"recall:{job_id}:remove"))
        self.job_id = job_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> RecallRemove:
        return cls(match["job_id"])

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        job = await bot_of(interaction).store.get_job(self.job_id, urgent=True)
        if job is None:  # gone with the retention: whose it was is no longer known
            if not is_moderator(interaction):
                raise Refusal(_("That job is no longer kept: ask a moderator to remove this "
                                "copy."))
        elif job.guild_id != interaction.guild_id:
            raise Refusal(_(GONE))
        else:
            require_owner_or_moderator(interaction, job)
        if interaction.message is None or (job is not None
                                           and interaction.message.id == job.message_id):
            raise Refusal(_("This is the job's result itself: use its Delete button."))
        await interaction.response.defer()
        with contextlib.suppress(discord.NotFound):  # a second click at the same moment
            await interaction.delete_original_response()


def nav_id(owner: int, target: int, page: int, direction: str) -> str:
    return f"hist:{owner}:{target}:{page}:{direction}"


def delete_id(owner: int, target: int, page: int) -> str:
    return f"histdel:{owner}:{target}:{page}"


class HistoryNav(
    SpeaksReaderLocale,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"hist:(?P<owner>\d{1,20}):(?P<target>\d{1,20}):(?P<page>\d{1,6}):(?P<dir>prev|next)",
):
    def __init__(self, owner: int, target: int, page: int, direction: str, *,
                 disabled: bool = False) -> None:
        label, emoji = (_("Prev"), "◀️") if direction == "prev" else (_("Next"), "▶️")
        super().__init__(discord.ui.Button(
            label=label, emoji=emoji, style=discord.ButtonStyle.secondary, disabled=disabled,
            custom_id=nav_id(owner, target, page, direction)))
        self.owner, self.target, self.page = owner, target, page

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> HistoryNav:
        return cls(int(match["owner"]), int(match["target"]), int(match["page"]), match["dir"])

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        guild_id = check_history_click(interaction, self.owner, self.target)
        bot = bot_of(interaction)
        embed, view = await history_page(bot, guild_id, self.owner, self.target, self.page,
                                          viewer_is_moderator=is_moderator(interaction))
        await interaction.response.edit_message(content=None, embed=embed, view=view)


class HistoryDelete(
    SpeaksReaderLocale,
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=r"histdel:(?P<owner>\d{1,20}):(?P<target>\d{1,20}):(?P<page>\d{1,6})",
):
    def __init__(self, owner: int, target: int, page: int,
                 options: list[discord.SelectOption] | None = None) -> None:
        super().__init__(discord.ui.Select(
            custom_id=delete_id(owner, target, page),
            placeholder=_("Delete one of these results…"),
            min_values=1, max_values=1, row=1,
            options=options or [discord.SelectOption(label="-", value="-")]))
        self.owner, self.target, self.page = owner, target, page

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> HistoryDelete:
        return cls(int(match["owner"]), int(match["target"]), int(match["page"]))

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        guild_id = check_history_click(interaction, self.owner, self.target)
        bot = bot_of(interaction)
        job = await bot.store.get_job(chosen_job_id(interaction), urgent=True)
        if job is None or job.guild_id != guild_id or job.user_id != self.target:
            raise Refusal(_("I no longer have that job."))
        if job.user_id != interaction.user.id and not is_moderator(interaction):
            raise Refusal(_("That's not your job: only the member who asked for it or a "
                            "moderator can delete it."))
        if not job.status.terminal:
            raise Refusal(_("That job hasn't ended yet: delete it once it does (while it's "
                            "queued, the Cancel button on its message can stop it)."))
        await interaction.response.defer()
        message_gone = await bot.job_actions.delete_result(job)
        log.info("Job %s deleted from /history by user %s", job.short_id, interaction.user.id)
        embed, view = await history_page(bot, guild_id, self.owner, self.target, self.page,
                                          viewer_is_moderator=is_moderator(interaction))
        content = (_("🗑️ Deleted job `{job}` and its result message.", job=job.short_id)
                   if message_gone else
                   _("🗑️ Deleted job `{job}`. Its batch's message stays for the other "
                     "images.", job=job.short_id))
        await interaction.edit_original_response(content=content, embed=embed, view=view)


def check_history_click(interaction: discord.Interaction, owner: int, target: int) -> int:
    """The guild id, after checking that this user may use these history controls."""
    guild_id = guild_id_of(interaction)
    if interaction.user.id != owner:
        raise Refusal(_(NOT_YOUR_BUTTONS))
    if target != owner and not is_moderator(interaction):
        raise Refusal(_(OTHERS_HISTORY))
    return guild_id


async def history_page(
    bot: IdeogramBot, guild_id: int, owner: int, target: int, page: int, *,
    viewer_is_moderator: bool,
) -> tuple[discord.Embed, discord.ui.View | None]:
    """The embed and controls of one page (clamped to the pages that exist)."""
    total = await bot.store.count_visible_jobs_for_user(guild_id, target)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    jobs = await bot.store.visible_jobs_for_user(guild_id, target, limit=PAGE_SIZE,
                                                 offset=(page - 1) * PAGE_SIZE)
    whose = _("Your images") if target == owner else _("Images")
    embed = discord.Embed(title=whose, colour=discord.Colour.blurple())
    if not jobs:
        embed.description = (_("{member} has no images yet.", member=user_mention(target))
                             if target != owner else _("No images yet: make one with `/ideogram`."))
        return embed, None
    heading = f"<@{target}> · " if target != owner else ""
    lines = [heading + ngettext("{n} image, newest first · page {page}/{pages}",
                                "{n} images, newest first · page {page}/{pages}", total,
                                page=format_number(page), pages=format_number(pages))]
    lines += [history_line(job) for job in jobs]
    embed.description = truncate("\n\n".join(lines), 4000)
    embed.set_footer(text=_("Bring one back with /job id:<id> · times are in your time zone"))

    view = discord.ui.View(timeout=None)
    view.add_item(HistoryNav(owner, target, max(1, page - 1), "prev", disabled=page <= 1))
    view.add_item(HistoryNav(owner, target, min(pages, page + 1), "next",
                             disabled=page >= pages))
    deletable = [j for j in jobs if j.status.terminal
                 and (j.user_id == owner or viewer_is_moderator)]
    if deletable:
        options = [discord.SelectOption(
            label=truncate(_("Delete {job} — {prompt}", job=j.short_id,
                             prompt=prompt_preview(j, 80, markdown=False)), 100),
            value=j.id, emoji="🗑️") for j in deletable]
        view.add_item(HistoryDelete(owner, target, page, options))
    return embed, view


class HistoryCog(commands.Cog):
    def __init__(self, bot: IdeogramBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(HistoryNav, HistoryDelete, RecallRemove)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(HistoryNav, HistoryDelete, RecallRemove)

    @app_commands.command(name="history",
                          description=locale_str("Your recent images, newest first"))
    @app_commands.guild_only()
    @app_commands.describe(member=locale_str("Whose history (moderators only; default: yours)"),
                           page=locale_str("Page number (default 1)"))
    async def history(self, interaction: discord.Interaction, member: discord.User | None = None,
                      page: app_commands.Range[int, 1, MAX_PAGE] = 1) -> None:
        guild_id = guild_id_of(interaction)
        if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= MAX_PAGE:
            raise Refusal(_("The page must be a whole number from 1 to {limit}.",
                            limit=format_number(MAX_PAGE)))
        owner = interaction.user.id
        target = member.id if member is not None else owner
        if target != owner and not is_moderator(interaction):
            raise Refusal(_(OTHERS_HISTORY))
        embed, view = await history_page(self.bot, guild_id, owner, target, page,
                                         viewer_is_moderator=is_moderator(interaction))
        if view is None:
            await interaction.response.send_message(embed=embed, ephemeral=True)
        else:
            await interaction.response.send_message(embed=embed, view=view, ephemeral=True)

    @app_commands.command(name="job",
                          description=locale_str("Bring back a past job's result, with buttons"))
    @app_commands.guild_only()
    @app_commands.rename(short_id="id")
    @app_commands.describe(short_id=locale_str(
        "The job id from the result's footer or /history, e.g. 1a2b3c4d"))
    async def job(self, interaction: discord.Interaction,
                  short_id: app_commands.Range[str, 1, 32]) -> None:
        job = await self.find_job(interaction, short_id)
        await self.check_server_settings(interaction, job)
        await defer_publicly(interaction)
        # The recalled result is public: it speaks the server's language.
        with use_locale(interaction_public_locale(interaction)):
            content, embed, files = await self.recall(job, interaction.filesize_limit)
            view = recall_view(job, image_attached=bool(files))
        await interaction.edit_original_response(content=content, embed=embed, view=view,
                                                 attachments=files)

    async def check_server_settings(self, interaction: discord.Interaction,
                                    job: JobRecord) -> None:
        """A recall posts like a new job, so it obeys the same server settings: the
        command's switch, the allowed channels and the blocked words (the settings' own
        launch check, raising :class:`Refusal`)."""
        await self.bot.server_rules.check(interaction, job, recalled_by="job")

    async def find_job(self, interaction: discord.Interaction, short_id: str) -> JobRecord:
        """The job to recall, or a :class:`Refusal` saying why not."""
        guild_id_of(interaction)
        prefix = str(short_id).strip().lower()
        if not SHORT_ID.fullmatch(prefix):
            raise Refusal(_("A job id is 4 to 32 characters of 0–9 and a–f, like "
                            "`1a2b3c4d`: see the result's footer or `/history`."))
        found = await self.bot.store.jobs_by_prefix(interaction.guild_id, prefix)
        if not found:
            raise Refusal(_("There is no job `{job}` on this server: `/history` lists yours.",
                            job=prefix))
        if len(found) > 1:
            raise Refusal(_("More than one job starts with `{job}`: type more of its id.",
                            job=prefix))
        job = found[0]
        if job.user_id != interaction.user.id and not is_moderator(interaction):
            raise Refusal(_("That's someone else's job: only the member who asked for it or "
                            "a moderator can bring it back."))
        refuse_if_deleted(job)
        return job

    async def recall(self, job: JobRecord, limit: int
                     ) -> tuple[str, discord.Embed, list[discord.File]]:
        """Message text, embed and (when it can still be had) the image of a past job, in
        the language of the moment."""
        recalled = _("recalled")
        if job.status is not JobStatus.COMPLETED:
            return status_line(job), job_embed(job, footer_extra=recalled), []
        made = discord_timestamp(job.created_at, "f")
        content = _("🔁 Job `{job}` by {member}, made {when}", job=job.short_id,
                    member=user_mention(job.user_id), when=made)
        image, url, message = await self.result_image(job)
        if image is None:
            link = jump_link(job)
            if job.batch_id is not None and message == "found" and link is not None:
                content += "\n" + _("The image service no longer keeps this image full size; "
                                    "it is still in its batch's message: [jump to it]({link})",
                                    link=link)
            elif message == "unreadable":
                content += "\n" + _("The image service no longer keeps this image, and I can't "
                                    "read its message in {channel}: I need the Read Message "
                                    "History permission there.",
                                    channel=channel_mention(job.channel_id))
            else:
                content += "\n" + _("The image has expired: the image service no longer keeps "
                                    "it and the original message is gone.")
            return content, job_embed(job, footer_extra=recalled), []
        if len(image.data) > limit:
            content += "\n" + _("The image is {size} MB, over this server's upload limit: "
                                "[open it]({url}) (the link expires).",
                                size=format_number(len(image.data) / 1e6, digits=1),
                                url=link_target(url or ""))
            return truncate(content, 2000), job_embed(job, footer_extra=recalled), []
        filename = f"ideogram-{job.short_id}.{image.extension}"
        embed = job_embed(job, image_filename=filename, footer_extra=recalled)
        return content, embed, [discord.File(io.BytesIO(image.data), filename=filename)]

    @staticmethod
    def _is_image_of(job: JobRecord, attachment: discord.Attachment) -> bool:
        """Whether the attachment is this job's image: by its name (``ideogram-<id>.…``);
        on a single result's message, any image (a batch's reply holds its grid)."""
        if attachment.filename.startswith(f"ideogram-{job.short_id}."):
            return True
        return job.batch_id is None and is_image_attachment(attachment)

    async def result_image(self, job: JobRecord
                           ) -> tuple[FetchedImage | None, str | None, MessageLookup]:
        """The image and where it came from: the original result message (Discord keeps
        it) if it still exists, else the provider's result URL while that still works; and
        what became of the result message."""
        urls: list[str] = []
        lookup: MessageLookup = "gone"
        if job.message_id is not None:
            try:
                message = await fetch_result_message(self.bot, job, job.message_id)
                lookup = "found"
                urls += [a.url for a in message.attachments if self._is_image_of(job, a)]
            except discord.Forbidden:
                lookup = "unreadable"
                log.info("Result message of job %s unreadable: no access", job.short_id)
            except discord.HTTPException as exc:
                log.info("Result message of job %s unavailable: HTTP %s", job.short_id,
                         exc.status)
            except UNANSWERED as exc:  # Discord slow: the provider's copy may still serve
                log.info("Result message of job %s unavailable: %s", job.short_id,
                         type(exc).__name__)
        urls += job.result_urls[:1]
        for url in urls:
            try:
                return await fetch_image(self.bot.services.downloads, url), url, lookup
            except ImageFetchError as exc:
                log.info("Image of job %s not fetched from one source: %s", job.short_id, exc)
        return None, None, lookup


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(HistoryCog(bot))
