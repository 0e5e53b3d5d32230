"""A server's presets, by name, for the commands that take one (/ideogram, /preset)."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.i18n import _
from bot.presets import Preset
from bot.settings_cache import GuildSettingsCache
from cogs.core.errors import Refusal
from cogs.core.rendering import truncate

#: Discord shows at most 25 autocomplete choices.
MAX_CHOICES = 25


def require_preset(settings: GuildSettingsCache, guild_id: int, name: str) -> Preset:
    """The server's preset named ``name`` (any case), or a :class:`Refusal` naming
    ``/preset list``."""
    found = settings.preset(guild_id, str(name))
    if found is None:
        raise no_such_preset(name)
    return found


def no_such_preset(name: str) -> Refusal:
    """The refusal for a preset name the server does not have."""
    # Shown as code: a backtick in what was typed would end it, so it becomes a quote.
    return Refusal(_("This server has no preset named `{name}`: see `/preset list`.",
                     name=truncate(str(name).replace("`", "'"), 40)))


def preset_choices(settings: GuildSettingsCache, interaction: discord.Interaction,
                   current: str) -> list[app_commands.Choice[str]]:
    """The server's presets whose names contain what was typed (from memory)."""
    if interaction.guild_id is None:
        return []
    typed = str(current).casefold()
    return [app_commands.Choice(name=p.name, value=p.name)
            for p in settings.presets(interaction.guild_id) if typed in p.key][:MAX_CHOICES]
