"""/history-export (moderators): the server's job history as a CSV attachment.

The file is written page by page in worker threads (``bot.export``) under a temporary
directory, compressed and split when it would not fit the interaction's upload limit,
and removed once sent.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.export import ExportResult, ExportTooLarge, guild_job_pages, remove_tree, write_export
from bot.i18n import _, format_number, ngettext
from cogs.core.checks import require_moderator
from cogs.core.errors import Refusal

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

#: How long one file's upload may take, Discord's answer included: a part is at most the
#: server's upload limit (25 MB unboosted), which a slow host link sends in a minute or two.
UPLOAD_DEADLINE_SECONDS: Final = 180.0


def _megabytes(size: float) -> str:
    return format_number(size / 1e6, digits=1)


def describe_export(result: ExportResult, limit: int) -> str:
    """What the export holds and how it was packed, in the reader's language."""
    text = ngettext("📄 This server's history: {n} job, oldest first, times in UTC.",
                    "📄 This server's history: {n} jobs, oldest first, times in UTC.",
                    result.rows)
    text += " " + _("Cells that start with = + - @ (or a tab) begin with an added ' so that "
                    "spreadsheets show them as text instead of running them as formulas.")
    if result.gzipped:
        text += "\n" + _("The CSV ({size} MB) is over this server's {limit} MB upload limit, "
                         "so it is gzip-compressed (.csv.gz; most archive tools and "
                         "spreadsheet importers open it).", size=_megabytes(result.csv_size),
                         limit=_megabytes(limit))
    if result.split:
        text += "\n" + _("Still too big for one file, it is split into {parts} parts; each "
                         "part is a complete CSV with the header row.",
                         parts=format_number(len(result.parts)))
    return text


class ExportCog(commands.Cog):
    def __init__(self, bot: IdeogramBot) -> None:
        self.bot = bot

    @app_commands.command(name="history-export", description=locale_str(
        "Download this server's image history as CSV (moderators)"))
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def history_export(self, interaction: discord.Interaction) -> None:
        require_moderator(interaction)
        guild_id = interaction.guild_id
        assert guild_id is not None
        limit = interaction.filesize_limit
        await interaction.response.defer(ephemeral=True, thinking=True)
        directory = Path(tempfile.mkdtemp(prefix="ideogram-export-"))
        try:
            stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
            try:
                result = await write_export(guild_job_pages(self.bot.store, guild_id),
                                            directory, basename=f"history-{guild_id}-{stamp}",
                                            limit=limit)
            except ExportTooLarge as exc:
                raise Refusal(_("The export is too large to send through Discord ({detail}). "
                                "Ask the bot's host for a copy of the database file.",
                                detail=exc)) from None
            if result.rows == 0:
                await interaction.edit_original_response(
                    content=_("There is no history to export yet."))
                return
            log.info("History export of guild %s: %d rows in %d file(s)", guild_id,
                     result.rows, len(result.parts))
            first, *rest = result.parts
            try:
                async with asyncio.timeout(UPLOAD_DEADLINE_SECONDS):
                    await interaction.edit_original_response(
                        content=describe_export(result, limit),
                        attachments=[discord.File(first.path, filename=first.filename)])
                for number, part in enumerate(rest, start=2):
                    async with asyncio.timeout(UPLOAD_DEADLINE_SECONDS):
                        await interaction.followup.send(
                            _("Part {number} of {total}", number=number,
                              total=len(result.parts)),
                            file=discord.File(part.path, filename=part.filename),
                            ephemeral=True)
            except TimeoutError:
                log.warning("History export of guild %s: Discord took no file within %.0f s",
                            guild_id, UPLOAD_DEADLINE_SECONDS)
                raise Refusal(_("Discord did not take the file in time. Try "
                                "/history-export again in a few minutes.")) from None
        finally:
            await remove_tree(directory)


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(ExportCog(bot))
