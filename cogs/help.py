"""Onboarding: a greeting when the bot joins a server, ``/help`` (ephemeral) that says the
same, and the invite link with the exact permissions, logged at start.

Every text a user reads here is in :data:`TEXT`, in one place (English, translated when
shown): ``/help`` in the member's language, the greeting in the server's.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.i18n import N_, _, use_locale
from cogs.core.invite import INVITE_PERMISSION_NAMES, INVITE_PERMISSIONS, invite_url
from cogs.core.languages import public_locale

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

TEXT: Final[dict[str, str]] = {
    "title": N_("Ideogram images, right here"),
    "intro": N_(
        "I make images with Ideogram models without leaving Discord. Type `/ideogram` with a "
        "prompt: the reply shows your place in line, then the image, with buttons to "
        "**Reroll**, **Remix**, **Reframe**, see **Info** or **Delete** it."
    ),
    "example_name": N_("Try it"),
    # Translators: a first prompt to try; translate the prompt itself, keep `/ideogram prompt:`.
    "example": N_("`/ideogram prompt: a lighthouse at dusk, watercolor`"),
    "commands_name": N_("Commands"),
    # Translators: keep the command names; "Apps → Reframe image" names Discord's message
    # menu, as Discord shows it in your language.
    "commands": N_(
        "`/ideogram` — text to image (style, aspect ratio, seed…; `count` for up to 4 at "
        "once, `preset` for one of this server's)\n"
        "`/reframe` — extend an image to a new size; or on a posted image: "
        "**Apps → Reframe image**\n"
        "`/preset list` · `/preset show` — this server's presets\n"
        "`/history` — your recent images · `/job` — bring back a past result\n"
        "`/queue` — what is being made on this server\n"
        "`/quota show` — this server's limits and your use\n"
        "`/help` — this message"
    ),
    "moderators_name": N_("For moderators"),
    "moderators": N_(
        "Members with **Manage Server** set limits with `/quota set` (per member per day, "
        "per server per day or month, a monthly budget, a cooldown) and `/quota member` "
        "(one member's own daily limit), save presets with `/preset save`, download the "
        "server's history with `/history-export`, and choose channels, blocked words, the "
        "provider, the language and a log channel with `/settings`. Until a limit is set, use "
        "is unlimited."
    ),
    "invite_name": N_("Invite"),
    "invite": N_("[Add me to another server]({url})"),
}


def help_embed(application_id: int | None) -> discord.Embed:
    """The greeting and /help: what the bot does, a first example, the commands, where
    moderators set limits, and the invite link (in the language of the moment)."""
    embed = discord.Embed(title=_(TEXT["title"]), description=_(TEXT["intro"]),
                          colour=discord.Colour.blurple())
    embed.add_field(name=_(TEXT["example_name"]), value=_(TEXT["example"]), inline=False)
    embed.add_field(name=_(TEXT["commands_name"]), value=_(TEXT["commands"]), inline=False)
    embed.add_field(name=_(TEXT["moderators_name"]), value=_(TEXT["moderators"]),
                    inline=False)
    if application_id is not None:
        embed.add_field(name=_(TEXT["invite_name"]),
                        value=_(TEXT["invite"], url=invite_url(application_id)),
                        inline=False)
    return embed


def greeting_channel(guild: discord.Guild) -> discord.TextChannel | None:
    """The server's system channel, if the bot may post an embed there."""
    channel = guild.system_channel
    if channel is None:
        return None
    allowed = channel.permissions_for(guild.me)
    if not (allowed.view_channel and allowed.send_messages and allowed.embed_links):
        return None
    return channel


class HelpCog(commands.Cog):
    def __init__(self, bot: IdeogramBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        if self.bot.application_id is not None:
            log.info("Invite link: %s (permissions %d: %s)",
                     invite_url(self.bot.application_id), INVITE_PERMISSIONS.value,
                     ", ".join(INVITE_PERMISSION_NAMES.values()))

    @app_commands.command(name="help",
                          description=locale_str("What this bot does and how to start"))
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            embed=help_embed(self.bot.application_id), ephemeral=True)

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        channel = greeting_channel(guild)
        if channel is None:
            log.info("Joined server %s; no system channel I may post in, so no greeting",
                     guild.id)
            return
        # The greeting is public: the server's language (its Discord language when it joins).
        with use_locale(public_locale(self.bot, guild.id, guild.preferred_locale)):
            embed = help_embed(self.bot.application_id)
        try:
            await channel.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.info("Joined server %s; the greeting failed (HTTP %s)", guild.id, exc.status)
            return
        log.info("Joined server %s; greeted in channel %s", guild.id, channel.id)


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(HelpCog(bot))
