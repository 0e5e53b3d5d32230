"""Onboarding: a greeting when the bot joins a server, ``/help`` (ephemeral) that says the
same, and the invite link with the exact permissions, logged at start.

Every text a user reads here is in :data:`TEXT`, in one place.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import discord
from discord import app_commands
from discord.ext import commands

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

#: What the bot needs in a channel to deliver results there after the interaction token is
#: gone, fetch a past result for /job, and post to the moderation log (README, Set-up).
INVITE_PERMISSION_NAMES: Final = {
    "view_channel": "View Channels", "send_messages": "Send Messages",
    "embed_links": "Embed Links", "attach_files": "Attach Files",
    "read_message_history": "Read Message History",
    "send_messages_in_threads": "Send Messages in Threads",
}
INVITE_PERMISSIONS: Final = discord.Permissions(**dict.fromkeys(INVITE_PERMISSION_NAMES, True))
INVITE_SCOPES: Final = ("bot", "applications.commands")

TEXT: Final[dict[str, str]] = {
    "title": "Ideogram images, right here",
    "intro": (
        "I make images with Ideogram models without leaving Discord. Type `/ideogram` with a "
        "prompt: the reply shows your place in line, then the image, with buttons to "
        "**Reroll**, **Reframe** or see **Info**."
    ),
    "example_name": "Try it",
    "example": "`/ideogram prompt: a lighthouse at dusk, watercolor`",
    "commands_name": "Commands",
    "commands": (
        "`/ideogram` — text to image (style, aspect ratio, seed…)\n"
        "`/reframe` — extend an image to a new size; or on a posted image: "
        "**Apps → Reframe image**\n"
        "`/history` — your recent images · `/job` — bring back a past result\n"
        "`/queue` — what is being made on this server\n"
        "`/quota show` — this server's limits and your use\n"
        "`/help` — this message"
    ),
    "moderators_name": "For moderators",
    "moderators": (
        "Members with **Manage Server** set limits with `/quota set` (per member per day, "
        "per server per day or month, a monthly budget, a cooldown) and `/quota member`, and "
        "choose channels, blocked words, the provider and a log channel with `/settings`. "
        "Until a limit is set, use is unlimited."
    ),
    "invite_name": "Invite",
    "invite": "[Add me to another server]({url})",
}


def invite_url(application_id: int) -> str:
    """The OAuth2 link that adds the bot with its commands and exactly its permissions."""
    return discord.utils.oauth_url(application_id, permissions=INVITE_PERMISSIONS,
                                   scopes=INVITE_SCOPES)


def help_embed(application_id: int | None) -> discord.Embed:
    """The greeting and /help: what the bot does, a first example, the commands, where
    moderators set limits, and the invite link."""
    embed = discord.Embed(title=TEXT["title"], description=TEXT["intro"],
                          colour=discord.Colour.blurple())
    embed.add_field(name=TEXT["example_name"], value=TEXT["example"], inline=False)
    embed.add_field(name=TEXT["commands_name"], value=TEXT["commands"], inline=False)
    embed.add_field(name=TEXT["moderators_name"], value=TEXT["moderators"], inline=False)
    if application_id is not None:
        embed.add_field(name=TEXT["invite_name"],
                        value=TEXT["invite"].format(url=invite_url(application_id)),
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

    @app_commands.command(name="help", description="What this bot does and how to start")
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
        try:
            await channel.send(embed=help_embed(self.bot.application_id),
                               allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.info("Joined server %s; the greeting failed (HTTP %s)", guild.id, exc.status)
            return
        log.info("Joined server %s; greeted in channel %s", guild.id, channel.id)


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(HelpCog(bot))
