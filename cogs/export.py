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

import aiohttp
import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.export import ExportResult, ExportTooLarge, guild_job_pages, remove_tree, write_export
from bot.i18n import N_, _, format_number, ngettext
from cogs.core.checks import require_moderator
from cogs.core.errors import REPORT_DEADLINE_SECONDS, Refusal

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

#: How long one file's upload may take, Discord's answer included: a part is at most the
#: server's upload limit (25 MB unboosted), which a slow host link sends in a minute or two.
UPLOAD_DEADLINE_SECONDS: Final = 180.0
#: What is left of the interaction's 15 minutes that an upload must leave unused (the
#: moderator is still to be told how it went).
TOKEN_MARGIN_SECONDS: Final = 30.0
NOT_TAKEN: Final = N_("Discord did not take the file in time. Try `/history-export` again in "
                      "a few minutes.")


def upload_deadline(interaction: discord.Interaction) -> float:
    """Seconds one upload may take: :data:`UPLOAD_DEADLINE_SECONDS`, within the token's life."""
    left = (interaction.expires_at - discord.utils.utcnow()).total_seconds()
    return max(1.0, min(UPLOAD_DEADLINE_SECONDS, left - TOKEN_MARGIN_SECONDS))


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
                async with asyncio.timeout(upload_deadline(interaction)):
                    await interaction.edit_original_response(
                        content=describe_export(result, limit),
                        attachments=[discord.File(first.path, filename=first.filename)])
            except TimeoutError:
                log.warning("History export of guild %s: Discord took no file in time",
                            guild_id)
                raise Refusal(_(NOT_TAKEN)) from None
            for number, part in enumerate(rest, start=2):
                text = _("Part {number} of {total}", number=number, total=len(result.parts))
                try:
                    async with asyncio.timeout(upload_deadline(interaction)):
                        await interaction.followup.send(
                            text, file=discord.File(part.path, filename=part.filename),
                            ephemeral=True)
                except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
                    # Part 1 and its message stay; why the rest did not come is said apart.
                    log.warning("History export of guild %s: part %d not sent (%s)", guild_id,
                                number, type(exc).__name__)
                    problem = _(NOT_TAKEN) if isinstance(exc, TimeoutError) else _(
                        "Discord did not accept the file. Try `/history-export` again in a few "
                        "minutes.")
                    await self._say_apart(interaction, f"{text}: {problem}")
                    return
        finally:
            await remove_tree(directory)

    @staticmethod
    async def _say_apart(interaction: discord.Interaction, text: str) -> None:
        """A private message of its own, leaving the reply (and its file) as it is."""
        try:
            async with asyncio.timeout(REPORT_DEADLINE_SECONDS):
                await interaction.followup.send(text, ephemeral=True)
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.info("Could not tell the moderator about the export (%s)", type(exc).__name__)


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(ExportCog(bot))
