"""/settings (moderators): where images may be made, blocked words, command switches, the
moderation log channel, the provider and the server's language. What they mean for each
new job is enforced by :mod:`cogs.core.server_rules`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final, Literal

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.config import ProviderName
from bot.i18n import (
    LOCALE_NAMES,
    LOCALES,
    N_,
    _,
    format_list,
    format_number,
    ngettext,
    pgettext,
    supported_locale,
)
from bot.moderation import (
    MAX_PHRASES_PER_GUILD,
    InvalidPhrases,
    parse_phrases,
)
from bot.store import GuildSettings
from cogs.core.checks import guild_id_of, require_moderator
from cogs.core.errors import Refusal
from cogs.core.languages import interaction_public_locale
from cogs.core.permissions import permission_label
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
MAX_WORDS_TEXT: Final = 1000
#: ``/settings language``'s choices: each language by its own name.
LANGUAGE_CHOICES: Final = [app_commands.Choice(name=LOCALE_NAMES[code], value=code)
                           for code in LOCALES]

Channel = app_commands.AppCommandChannel | app_commands.AppCommandThread


class ChannelPick(app_commands.Transformer):
    """A channel option limited to some channel types, checked again in code."""

    def __init__(self, kinds: tuple[discord.ChannelType, ...], refusal: str) -> None:
        super().__init__()
        self._kinds = kinds
        self._refusal = refusal  # English (marked with N_), shown as _(refusal)

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return list(self._kinds)

    async def transform(self, interaction: discord.Interaction, value: Any, /) -> Channel:
        kind = getattr(value, "type", None)
        if not isinstance(value, Channel) or kind not in self._kinds:
            raise Refusal(_(self._refusal))
        # Discord offers only this server's channels; a forged id of another one is not in
        # the server's cached channels (resolved channels always carry this server's id).
        guild = interaction.guild
        if guild is not None and guild.get_channel_or_thread(value.id) is None:
            raise Refusal(_("Pick a channel of this server."))
        return value


AllowableChannel = app_commands.Transform[
    Channel, ChannelPick(ALLOWABLE_TYPES, N_("Pick a text, voice, forum or announcement "
                                             "channel."))]
PostableChannel = app_commands.Transform[
    Channel, ChannelPick(POSTABLE_TYPES, N_("Pick a text or announcement channel, or a "
                                            "thread."))]


def switch_word(enabled: bool) -> str:
    # Translators: whether a command is turned on or off on a server.
    return pgettext("switch", "on") if enabled else pgettext("switch", "off")


class SettingsCog(commands.Cog):
    settings = app_commands.Group(
        name="settings",
        description=locale_str("Image commands' settings for this server (moderators)"),
        guild_only=True, default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: IdeogramBot) -> None:
        self.bot = bot

    # ------------------------------------------------------------------ /settings

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Every /settings subcommand: Manage Server (or Administrator), checked here."""
        require_moderator(interaction)
        return True

    async def _reply(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(truncate(text, 2000), ephemeral=True)

    @settings.command(name="show", description=locale_str("Show this server's settings"))
    async def show(self, interaction: discord.Interaction) -> None:
        current = self.bot.guild_settings.get(guild_id_of(interaction))
        embed = self.settings_embed(current, interaction_public_locale(interaction))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    def settings_embed(self, current: GuildSettings, public: str) -> discord.Embed:
        """The settings, in the reader's language; ``public`` is the language the server's
        public messages speak now."""
        embed = discord.Embed(title=_("Image settings for this server"),
                              colour=discord.Colour.blurple())
        embed.add_field(
            name=_("Allowed channels"),
            value=(channel_list(current.allowed_channel_ids) if current.allowed_channel_ids
                   else _("Everywhere")), inline=False)
        embed.add_field(name="/ideogram", value=switch_word(current.ideogram_enabled))
        embed.add_field(name="/reframe", value=switch_word(current.reframe_enabled))
        embed.add_field(name=_("Log channel"), value=(
            f"<#{current.log_channel_id}>" if current.log_channel_id else _("none")))
        provider = current.provider or _("{provider} (bot default)",
                                          provider=self.bot.default_provider_key)
        embed.add_field(name=_("Provider"), value=provider)
        days = self.bot.settings.RETENTION_DAYS
        embed.add_field(name=_("Retention"), value=ngettext("{n} day", "{n} days", days))
        language = LOCALE_NAMES.get(public, public)
        embed.add_field(name=_("Language"), value=(
            language if supported_locale(current.language) else
            _("{language} (the server's language in Discord)", language=language)))
        words = current.blocked_words
        if words:
            listed = ", ".join(f"||{w}||" for w in words)
            value = truncate(listed, 1000)
            if len(listed) > 1000:
                value += "\n" + _("({n} in all)", n=format_number(len(words)))
        else:
            value = _("none")
        embed.add_field(name=_("Blocked words ({n})", n=format_number(len(words))), value=value,
                        inline=False)
        return embed

    @settings.command(name="channel-allow", description=locale_str(
        "Allow image commands in a channel (none listed = everywhere)"))
    @app_commands.describe(channel=locale_str("The channel to allow"))
    async def channel_allow(self, interaction: discord.Interaction,
                            channel: AllowableChannel) -> None:
        guild_id = guild_id_of(interaction)
        added = await self.bot.guild_settings.add_allowed_channel(guild_id, channel.id)
        count = len(self.bot.guild_settings.get(guild_id).allowed_channel_ids)
        if not added:
            text = _("{channel} was already allowed.", channel=channel.mention)
        elif count == 1:
            text = _("Image commands now work in {channel} only.", channel=channel.mention)
        else:
            text = ngettext("Image commands now work in {channel} too ({n} channel in all).",
                            "Image commands now work in {channel} too ({n} channels in all).",
                            count, channel=channel.mention)
        await self._reply(interaction, text)

    @settings.command(name="channel-disallow",
                      description=locale_str("Remove a channel from the allowed channels"))
    @app_commands.describe(channel=locale_str("The channel to remove"))
    async def channel_disallow(self, interaction: discord.Interaction,
                               channel: AllowableChannel) -> None:
        guild_id = guild_id_of(interaction)
        removed = await self.bot.guild_settings.remove_allowed_channel(guild_id, channel.id)
        current = self.bot.guild_settings.get(guild_id)
        if not removed:
            text = _("{channel} was not in the allowed channels.", channel=channel.mention)
        elif current.allowed_channel_ids:
            text = _("Removed {channel}. Allowed channels: {channels}.", channel=channel.mention,
                     channels=channel_list(current.allowed_channel_ids))
        else:
            text = _("Removed {channel}. No channel is listed now, so image commands work "
                     "everywhere.", channel=channel.mention)
        await self._reply(interaction, text)

    @settings.command(name="blocked-words-add",
                      description=locale_str("Refuse prompts with these words or phrases"))
    @app_commands.describe(words=locale_str(
        "Comma-separated words or phrases, e.g. word one, some phrase"))
    async def blocked_words_add(self, interaction: discord.Interaction,
                                words: app_commands.Range[str, 1, MAX_WORDS_TEXT]) -> None:
        guild_id = guild_id_of(interaction)
        phrases = self._phrases(words)
        current = self.bot.guild_settings.get(guild_id)
        new = [p for p in phrases if p not in current.blocked_words]
        listed = len(current.blocked_words)
        if listed + len(new) > MAX_PHRASES_PER_GUILD:
            raise Refusal(ngettext(
                "A server can block at most {limit} words or phrases; {n} is listed already.",
                "A server can block at most {limit} words or phrases; {n} are listed already.",
                listed, limit=format_number(MAX_PHRASES_PER_GUILD)))
        added = await self.bot.guild_settings.add_blocked_words(guild_id, phrases)
        already = len(phrases) - len(added)
        text = ngettext("Blocked {n} word or phrase.", "Blocked {n} words or phrases.",
                        len(added))
        if already:
            text += " " + ngettext("({n} was already listed.)", "({n} were already listed.)",
                                   already)
        await self._reply(interaction, text)

    @settings.command(name="blocked-words-remove",
                      description=locale_str("Stop refusing these words or phrases"))
    @app_commands.describe(words=locale_str("Comma-separated words or phrases"))
    async def blocked_words_remove(self, interaction: discord.Interaction,
                                   words: app_commands.Range[str, 1, MAX_WORDS_TEXT]) -> None:
        guild_id = guild_id_of(interaction)
        phrases = self._phrases(words)
        removed = await self.bot.guild_settings.remove_blocked_words(guild_id, phrases)
        missing = len(phrases) - len(removed)
        text = ngettext("Removed {n} word or phrase.", "Removed {n} words or phrases.",
                        len(removed))
        if missing:
            text += " " + ngettext("({n} was not listed.)", "({n} were not listed.)", missing)
        await self._reply(interaction, text)

    @staticmethod
    def _phrases(words: str) -> list[str]:
        if not isinstance(words, str) or len(words) > MAX_WORDS_TEXT:
            raise Refusal(_("Give at most {limit} characters of comma-separated words.",
                            limit=format_number(MAX_WORDS_TEXT)))
        try:
            return parse_phrases(words)
        except InvalidPhrases as exc:
            raise Refusal(str(exc)) from None

    @settings.command(name="command",
                      description=locale_str("Turn /ideogram or /reframe on or off here"))
    @app_commands.describe(command=locale_str("Which command"),
                           enabled=locale_str("On (true) or off (false)"))
    async def command_switch(self, interaction: discord.Interaction,
                             command: Literal["ideogram", "reframe"], enabled: bool) -> None:
        guild_id = guild_id_of(interaction)
        if command not in ("ideogram", "reframe") or not isinstance(enabled, bool):
            raise Refusal(_("Choose ideogram or reframe, and true or false."))
        await self.bot.guild_settings.update(guild_id, **{f"{command}_enabled": enabled})
        named = ("`/ideogram`" if command == "ideogram"
                 else _("`/reframe` (with the Reframe image menu and button)"))
        text = (_("{command} is now **on** here.", command=named) if enabled
                else _("{command} is now **off** here.", command=named))
        await self._reply(interaction, text)

    @settings.command(name="log-channel", description=locale_str(
        "Where blocked attempts and moderator actions are posted"))
    @app_commands.describe(channel=locale_str("The log channel (leave out to stop logging)"))
    async def log_channel(self, interaction: discord.Interaction,
                          channel: PostableChannel | None = None) -> None:
        guild_id = guild_id_of(interaction)
        if channel is None:
            await self.bot.guild_settings.update(guild_id, log_channel_id=None)
            await self._reply(interaction, _("No log channel now: nothing will be posted."))
            return
        await self.bot.guild_settings.update(guild_id, log_channel_id=channel.id)
        text = _("Blocked attempts, quota and preset changes, and moderator cancellations go "
                 "to {channel} now.", channel=channel.mention)
        missing = self._missing_post_permissions(interaction, channel.id)
        if missing:
            text += " " + _("I can't post there yet: give me {permissions} in {channel}.",
                            permissions=missing, channel=channel.mention)
        await self._reply(interaction, text)

    def _missing_post_permissions(self, interaction: discord.Interaction,
                                  channel_id: int) -> str:
        guild = interaction.guild
        resolved = guild.get_channel_or_thread(channel_id) if guild is not None else None
        me = guild.me if guild is not None else None
        if resolved is None or me is None:
            return ""
        perms = resolved.permissions_for(me)
        needed = [permission_label(name) for name, ok in (
            ("view_channel", perms.view_channel), ("send_messages", perms.send_messages))
            if not ok]
        return format_list(needed) if needed else ""

    @settings.command(name="provider",
                      description=locale_str("Which backend serves /ideogram here"))
    @app_commands.describe(provider=locale_str("runcomfy or ideogram"))
    async def provider(self, interaction: discord.Interaction,
                       provider: Literal["runcomfy", "ideogram"]) -> None:
        guild_id = guild_id_of(interaction)
        try:
            chosen = ProviderName(provider)
        except ValueError:
            raise Refusal(_("Choose runcomfy or ideogram.")) from None
        if self.bot.services.backend_key(chosen) is None:
            needs = (["IDEOGRAM_BASE_URL", "IDEOGRAM_API_KEY"]
                     if chosen is ProviderName.IDEOGRAM else ["RUNCOMFY_API_TOKEN"])
            raise Refusal(_("The {provider} provider is not configured on this bot: its host "
                            "must set {settings} first.", provider=chosen.value,
                            settings=format_list(needs)))
        await self.bot.guild_settings.update(guild_id, provider=chosen.value)
        text = _("`/ideogram` is served by **{provider}** here.", provider=chosen.value)
        if chosen is ProviderName.IDEOGRAM:
            text += " " + _("Its `model` and `color_palette` options work now; `/reframe` stays "
                            "on RunComfy (the ideogram provider has no reframe).")
        await self._reply(interaction, text)

    @settings.command(name="language", description=locale_str(
        "The language of this server's public messages (progress, results, log)"))
    @app_commands.describe(language=locale_str(
        "en, pt-BR or it (leave out to follow the server's language in Discord)"))
    @app_commands.choices(language=LANGUAGE_CHOICES)
    async def language(self, interaction: discord.Interaction,
                       language: str | None = None) -> None:
        guild_id = guild_id_of(interaction)
        chosen = None if language is None else supported_locale(language)
        if language is not None and (chosen is None or chosen != language):
            raise Refusal(_("Choose {languages}.", languages=format_list(LOCALES, style="or")))
        await self.bot.guild_settings.update(guild_id, language=chosen)
        name = LOCALE_NAMES[interaction_public_locale(interaction)]
        if chosen is None:
            text = _("Public messages here (progress, results, the moderation log) now follow "
                     "the server's language in Discord: **{language}**.", language=name)
        else:
            text = _("Public messages here (progress, results, the moderation log) are now in "
                     "**{language}**.", language=name)
        log.info("Guild %s set its language to %s", guild_id, chosen or "the server's default")
        await self._reply(interaction, text)


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(SettingsCog(bot))
