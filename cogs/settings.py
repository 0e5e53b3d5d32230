"""/settings (moderators): where images may be made, blocked words, command switches, the
moderation log channel and the provider. What they mean for each new job is enforced by
:mod:`cogs.core.server_rules`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import ProviderName
from bot.moderation import (
    MAX_PHRASES_PER_GUILD,
    InvalidPhrases,
    parse_phrases,
)
from bot.store import GuildSettings
from cogs.core.checks import guild_id_of, require_moderator
from cogs.core.errors import Refusal
from cogs.core.rendering import truncate
from cogs.core.server_rules import channel_list

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

#: Where members can run commands: every guild channel kind that has a chat or threads.
ALLOWABLE_TYPES: Final = (
    discord.ChannelType.text, discord.ChannelType.news, discord.ChannelType.voice,
    discord.ChannelType.stage_voice, discord.ChannelType.forum, discord.ChannelType.media,
)
#: Where the bot can post its log lines.
POSTABLE_TYPES: Final = (
    discord.ChannelType.text, discord.ChannelType.news, discord.ChannelType.voice,
    discord.ChannelType.public_thread, discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
)

Channel = app_commands.AppCommandChannel | app_commands.AppCommandThread


class ChannelPick(app_commands.Transformer):
    """A channel option limited to some channel types, checked again in code."""

    def __init__(self, kinds: tuple[discord.ChannelType, ...], wanted: str) -> None:
        super().__init__()
        self._kinds = kinds
        self._wanted = wanted

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return list(self._kinds)

    async def transform(self, interaction: discord.Interaction, value: Any, /) -> Channel:
        kind = getattr(value, "type", None)
        if not isinstance(value, Channel) or kind not in self._kinds:
            raise Refusal(f"Pick {self._wanted}.")
        if value.guild_id != interaction.guild_id:
            raise Refusal("Pick a channel of this server.")
        return value


AllowableChannel = app_commands.Transform[
    Channel, ChannelPick(ALLOWABLE_TYPES, "a text, voice, forum or announcement channel")]
PostableChannel = app_commands.Transform[
    Channel, ChannelPick(POSTABLE_TYPES, "a text or announcement channel, or a thread")]


class SettingsCog(commands.Cog):
    settings = app_commands.Group(
        name="settings", description="Image commands' settings for this server (moderators)",
        guild_only=True, default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: IdeogramBot) -> None:
        self.bot = bot

    # ------------------------------------------------------------------ /settings

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:  # type: ignore[override]
        """Every /settings subcommand: Manage Server (or Administrator), checked here."""
        require_moderator(interaction)
        return True

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(truncate(text, 2000), ephemeral=True)

    @settings.command(name="show", description="Show this server's settings")
    async def show(self, interaction: discord.Interaction) -> None:
        current = self.bot.guild_settings.get(guild_id_of(interaction))
        await interaction.response.send_message(embed=self.settings_embed(current),
                                                ephemeral=True)

    def settings_embed(self, current: GuildSettings) -> discord.Embed:
        embed = discord.Embed(title="Image settings for this server",
                              colour=discord.Colour.blurple())
        embed.add_field(
            name="Allowed channels",
            value=(channel_list(current.allowed_channel_ids) if current.allowed_channel_ids
                   else "Everywhere"), inline=False)
        embed.add_field(name="/ideogram", value="on" if current.ideogram_enabled else "off")
        embed.add_field(name="/reframe", value="on" if current.reframe_enabled else "off")
        embed.add_field(name="Log channel", value=(
            f"<#{current.log_channel_id}>" if current.log_channel_id else "none"))
        provider = current.provider or f"{self.bot.provider_name} (bot default)"
        embed.add_field(name="Provider", value=provider)
        embed.add_field(name="Retention", value=f"{self.bot.settings.RETENTION_DAYS} days")
        words = current.blocked_words
        if words:
            listed = ", ".join(f"||{w}||" for w in words)
            value = truncate(listed, 1000)
            if len(listed) > 1000:
                value += f"\n({len(words)} in all)"
        else:
            value = "none"
        embed.add_field(name=f"Blocked words ({len(words)})", value=value, inline=False)
        return embed

    @settings.command(name="channel-allow",
                      description="Allow image commands in a channel (none listed = everywhere)")
    @app_commands.describe(channel="The channel to allow")
    async def channel_allow(self, interaction: discord.Interaction,
                            channel: AllowableChannel) -> None:
        guild_id = guild_id_of(interaction)
        added = await self.bot.guild_settings.add_allowed_channel(guild_id, channel.id)
        current = self.bot.guild_settings.get(guild_id)
        first = (added and len(current.allowed_channel_ids) == 1)
        text = (f"{channel.mention} was already allowed." if not added else
                f"Image commands now work in {channel.mention}"
                + (" only." if first else f" too ({len(current.allowed_channel_ids)} "
                   "channels in all)."))
        await self._reply(interaction, text)

    @settings.command(name="channel-disallow",
                      description="Remove a channel from the allowed channels")
    @app_commands.describe(channel="The channel to remove")
    async def channel_disallow(self, interaction: discord.Interaction,
                               channel: AllowableChannel) -> None:
        guild_id = guild_id_of(interaction)
        removed = await self.bot.guild_settings.remove_allowed_channel(guild_id, channel.id)
        current = self.bot.guild_settings.get(guild_id)
        if not removed:
            text = f"{channel.mention} was not in the allowed channels."
        elif current.allowed_channel_ids:
            text = (f"Removed {channel.mention}. Allowed channels: "
                    f"{channel_list(current.allowed_channel_ids)}.")
        else:
            text = f"Removed {channel.mention}. No channel is listed now, so image " \
                   "commands work everywhere."
        await self._reply(interaction, text)

    @settings.command(name="blocked-words-add",
                      description="Refuse prompts with these words or phrases")
    @app_commands.describe(words="Comma-separated words or phrases, e.g. word one, some phrase")
    async def blocked_words_add(self, interaction: discord.Interaction,
                                words: app_commands.Range[str, 1, 1000]) -> None:
        guild_id = guild_id_of(interaction)
        phrases = self._phrases(words)
        current = self.bot.guild_settings.get(guild_id)
        new = [p for p in phrases if p not in current.blocked_words]
        if len(current.blocked_words) + len(new) > MAX_PHRASES_PER_GUILD:
            raise Refusal(f"A server can block at most {MAX_PHRASES_PER_GUILD} words or "
                          f"phrases; {len(current.blocked_words)} are listed already.")
        added = await self.bot.guild_settings.add_blocked_words(guild_id, phrases)
        already = len(phrases) - len(added)
        text = f"Blocked {len(added)} word(s) or phrase(s)"
        text += f" ({already} already listed)." if already else "."
        await self._reply(interaction, text)

    @settings.command(name="blocked-words-remove",
                      description="Stop refusing these words or phrases")
    @app_commands.describe(words="Comma-separated words or phrases")
    async def blocked_words_remove(self, interaction: discord.Interaction,
                                   words: app_commands.Range[str, 1, 1000]) -> None:
        guild_id = guild_id_of(interaction)
        phrases = self._phrases(words)
        removed = await self.bot.guild_settings.remove_blocked_words(guild_id, phrases)
        missing = len(phrases) - len(removed)
        text = f"Removed {len(removed)} word(s) or phrase(s)"
        text += f" ({missing} were not listed)." if missing else "."
        await self._reply(interaction, text)

    @staticmethod
    def _phrases(words: str) -> list[str]:
        if not isinstance(words, str) or len(words) > 1000:
            raise Refusal("Give at most 1000 characters of comma-separated words.")
        try:
            return parse_phrases(words)
        except InvalidPhrases as exc:
            raise Refusal(str(exc)) from None

    @settings.command(name="command", description="Turn /ideogram or /reframe on or off here")
    @app_commands.describe(command="Which command", enabled="On (true) or off (false)")
    async def command_switch(self, interaction: discord.Interaction,
                             command: Literal["ideogram", "reframe"], enabled: bool) -> None:
        guild_id = guild_id_of(interaction)
        if command not in ("ideogram", "reframe") or not isinstance(enabled, bool):
            raise Refusal("Choose ideogram or reframe, and true or false.")
        await self.bot.guild_settings.update(guild_id, **{f"{command}_enabled": enabled})
        state = "on" if enabled else "off"
        extra = "" if command == "ideogram" else " (with the Reframe image menu and button)"
        await self._reply(interaction, f"`/{command}`{extra} is now **{state}** here.")

    @settings.command(name="log-channel",
                      description="Where blocked attempts and moderator actions are posted")
    @app_commands.describe(channel="The log channel (leave out to stop logging)")
    async def log_channel(self, interaction: discord.Interaction,
                          channel: PostableChannel | None = None) -> None:
        guild_id = guild_id_of(interaction)
        if channel is None:
            await self.bot.guild_settings.update(guild_id, log_channel_id=None)
            await self._reply(interaction, "No log channel now: nothing will be posted.")
            return
        await self.bot.guild_settings.update(guild_id, log_channel_id=channel.id)
        text = f"Blocked attempts, quota changes and moderator cancellations go to " \
               f"{channel.mention} now."
        missing = self._missing_post_permissions(interaction, channel.id)
        if missing:
            text += f" I can't post there yet: give me {missing} in {channel.mention}."
        await self._reply(interaction, text)

    def _missing_post_permissions(self, interaction: discord.Interaction,
                                  channel_id: int) -> str:
        guild = interaction.guild
        resolved = guild.get_channel_or_thread(channel_id) if guild is not None else None
        me = guild.me if guild is not None else None
        if resolved is None or me is None:
            return ""
        perms = resolved.permissions_for(me)
        needed = [name for name, ok in (("View Channel", perms.view_channel),
                                        ("Send Messages", perms.send_messages)) if not ok]
        return " and ".join(needed)

    @settings.command(name="provider", description="Which backend serves /ideogram here")
    @app_commands.describe(provider="runcomfy or ideogram")
    async def provider(self, interaction: discord.Interaction,
                       provider: Literal["runcomfy", "ideogram"]) -> None:
        guild_id = guild_id_of(interaction)
        try:
            chosen = ProviderName(provider)
        except ValueError:
            raise Refusal("Choose runcomfy or ideogram.") from None
        if self.bot.services.backend_key(chosen) is None:
            needs = ("IDEOGRAM_BASE_URL and IDEOGRAM_API_KEY" if chosen is ProviderName.IDEOGRAM
                     else "RUNCOMFY_API_TOKEN")
            raise Refusal(f"The {chosen.value} provider is not configured on this bot: its "
                          f"host must set {needs} first.")
        await self.bot.guild_settings.update(guild_id, provider=chosen.value)
        note = (" Its `model` and `color_palette` options work now; `/reframe` stays on RunComfy "
                "(the ideogram provider has no reframe)." if chosen is ProviderName.IDEOGRAM
                else "")
        await self._reply(interaction, f"`/ideogram` is served by **{chosen.value}** here.{note}")


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(SettingsCog(bot))
