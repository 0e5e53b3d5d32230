"""Which language a message speaks, on the Discord side.

- Ephemeral answers speak the acting member's ``interaction.locale``. The command tree's
  check sets it for every command and autocomplete (:class:`cogs.core.errors.BotTree`);
  views and dynamic items set it in their own check: derive a view from
  :class:`LocalizedView`, put :class:`SpeaksReaderLocale` first in a dynamic item's bases;
  a modal handled in ``on_interaction`` calls :func:`enter_interaction_locale` itself
  (``cogs/remix.py``).
- Public messages (progress, results, channel posts, the greeting, the moderation log)
  speak the server's language, :func:`public_locale`: ``/settings language`` if set, else
  the server's Discord language (``guild_locale``) where the bot speaks it, else English.
  Render them inside ``with use_locale(public_locale(...)):``; a job keeps the one it
  started with in ``job.locale`` (:func:`job_locale`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.i18n import DEFAULT_LOCALE, reader_locale, set_locale, supported_locale
from cogs.core.interaction_data import bot_of

if TYPE_CHECKING:
    from bot.jobs import JobRecord
    from cogs.core.bot import IdeogramBot


def interaction_locale(interaction: discord.Interaction) -> str:
    """The language of the member who acted (English when the bot does not speak theirs)."""
    return reader_locale(interaction.locale)


def enter_interaction_locale(interaction: discord.Interaction) -> str:
    """Speak the acting member's language for the rest of this interaction's task."""
    locale = interaction_locale(interaction)
    set_locale(locale)
    return locale


def public_locale(bot: IdeogramBot, guild_id: int | None,
                  guild_locale: object = None) -> str:
    """The server's language: ``/settings language``, else ``guild_locale`` (the server's
    Discord language; looked up in the cache when not given) if the bot speaks it, else
    English."""
    if guild_id is None:
        return DEFAULT_LOCALE
    chosen = supported_locale(bot.guild_settings.get(guild_id).language)
    if chosen is not None:
        return chosen
    if guild_locale is None:
        guild = bot.get_guild(guild_id)
        guild_locale = guild.preferred_locale if guild is not None else None
    return reader_locale(guild_locale)


def interaction_public_locale(interaction: discord.Interaction) -> str:
    """:func:`public_locale` of the server an interaction came from."""
    bot = bot_of(interaction)
    return public_locale(bot, interaction.guild_id, interaction.guild_locale)


def job_locale(bot: IdeogramBot, interaction: discord.Interaction) -> str:
    """What a new job's ``locale`` should be: the server's language now."""
    return public_locale(bot, interaction.guild_id, interaction.guild_locale)


def job_public_locale(bot: IdeogramBot, job: JobRecord) -> str:
    """The language a job's public messages speak: the one it started with (kept in
    ``job.locale``, so a restart or the channel fallback still speaks it), else, for a job
    from before jobs kept one, the server's language now."""
    return supported_locale(job.locale) or public_locale(bot, job.guild_id)


class SpeaksReaderLocale:
    """Put first in a dynamic item's (or any item's) bases: its callback speaks the
    language of whoever clicked."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        enter_interaction_locale(interaction)
        check: Any = super().interaction_check  # type: ignore[misc]  # a mixin: the item has it
        return bool(await check(interaction))


class LocalizedView(discord.ui.View):
    """A view whose callbacks speak the language of whoever used it. A subclass that
    overrides ``interaction_check`` calls ``super().interaction_check`` first."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        enter_interaction_locale(interaction)
        return True


