"""/preset — a server's brand kit: named defaults for /ideogram (see :mod:`bot.presets`).

``save`` and ``delete`` are for moderators (Manage Server, checked in code); ``list`` and
``show`` for anyone, privately. At most 25 presets a server; saving an existing name
replaces it. Changes are recorded (the settings audit) and posted to the moderation log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.i18n import N_, _, ngettext
from bot.inputs import NEGATIVE_PROMPT_MAX, InvalidInput
from bot.moderation import find_blocked
from bot.presets import MAX_PRESETS, NAME_MAX, PROMPT_SUFFIX_MAX, Preset, make_preset
from bot.store import PresetLimitError
from cogs.core.checks import guild_id_of, require_moderator
from cogs.core.choices import PALETTE_CHOICES, STYLE_CHOICES, AspectRatio
from cogs.core.errors import Refusal
from cogs.core.mentions import user_mention
from cogs.core.preset_lookup import no_such_preset, preset_choices, require_preset
from cogs.core.rendering import truncate, user_text

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot


#: Each option's label (English; shown in the reader's language with :func:`option_label`).
OPTION_LABELS: dict[str, str] = {
    "style": N_("Style"), "aspect_ratio": N_("Aspect ratio"),
    "magic_prompt": N_("Magic prompt"), "negative_prompt": N_("Negative prompt"),
    "prompt_suffix": N_("Prompt suffix"), "color_palette": N_("Colour palette"),
}
#: Worded style values, shown as the command's choices read in the reader's language.
_STYLE_NAMES: Final = frozenset(str(choice.value) for choice in STYLE_CHOICES)


def option_label(name: str) -> str:
    return _(OPTION_LABELS[name])


def _shown(name: str, value: object) -> str:
    if isinstance(value, bool):
        return _("on") if value else _("off")
    if name == "style" and value in _STYLE_NAMES:
        return _(str(value))
    return user_text(value, 300)


def describe_preset(preset: Preset) -> str:
    """One line per option the preset sets (user text escaped), in the reader's language."""
    return "\n".join(f"**{option_label(name)}**: {_shown(name, value)}"
                     for name, value in preset.options().items())


def preset_embed(preset: Preset) -> discord.Embed:
    embed = discord.Embed(title=_("Preset: {name}", name=truncate(preset.name, 200)),
                          description=describe_preset(preset), colour=discord.Colour.blurple())
    if preset.created_by:
        embed.add_field(name=_("Saved by"), value=user_mention(preset.created_by))
    if preset.updated_at:
        embed.add_field(name=_("Saved"), value=f"<t:{int(preset.updated_at)}:R>")
    embed.set_footer(text=_("Use it: /ideogram prompt:… preset:{name}",
                            name=truncate(preset.name, 100)))
    return embed


class PresetCog(commands.Cog):
    preset = app_commands.Group(name="preset",
                                description=locale_str("This server's presets for /ideogram"),
                                guild_only=True)

    def __init__(self, bot: IdeogramBot) -> None:
        self.bot = bot

    async def _names(self, interaction: discord.Interaction,
                     current: str) -> list[app_commands.Choice[str]]:
        return preset_choices(self.bot.guild_settings, interaction, current)

    @preset.command(name="save", description=locale_str(
        "Save a preset, or replace one of that name (moderators)"))
    @app_commands.describe(
        name=locale_str("The preset's name (1 to 32 characters)"),
        style=locale_str("Visual style"), aspect_ratio=locale_str("Width:height"),
        magic_prompt=locale_str("Let Ideogram expand prompts"),
        negative_prompt=locale_str("What to keep out of the images"),
        prompt_suffix=locale_str("Added to every prompt after a comma (up to 500 characters)"),
        color_palette=locale_str("A colour palette (servers using the ideogram provider)"),
    )
    @app_commands.choices(style=STYLE_CHOICES, color_palette=PALETTE_CHOICES)
    async def save(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, NAME_MAX],
        style: str | None = None,
        aspect_ratio: AspectRatio | None = None,
        magic_prompt: bool | None = None,
        negative_prompt: app_commands.Range[str, 1, NEGATIVE_PROMPT_MAX] | None = None,
        prompt_suffix: app_commands.Range[str, 1, PROMPT_SUFFIX_MAX] | None = None,
        color_palette: str | None = None,
    ) -> None:
        require_moderator(interaction)
        guild_id = guild_id_of(interaction)
        try:
            preset = make_preset(
                name, style=style, aspect_ratio=aspect_ratio, magic_prompt=magic_prompt,
                negative_prompt=negative_prompt, prompt_suffix=prompt_suffix,
                color_palette=color_palette, created_by=interaction.user.id,
                updated_at=discord.utils.utcnow().timestamp())
        except InvalidInput as exc:
            raise Refusal(exc.message) from None
        blocked = find_blocked(preset.texts, self.bot.guild_settings.get(guild_id).blocked_words)
        if blocked is not None:
            # Every prompt the preset filled would be refused, and no member could tell why.
            raise Refusal(_("The preset's text has “{phrase}”, which this server blocks: "
                            "every prompt it fills would be refused. Change the text, or "
                            "remove the phrase with `/settings blocked-words-remove` first.",
                            phrase=user_text(blocked, 60)))
        if color_palette is not None and self._runcomfy_served(guild_id):
            raise Refusal(_("{option} isn't available here: this server's `/ideogram` runs on "
                            "RunComfy. Leave it out, or change `/settings provider` first.",
                            option="`color_palette`"))
        try:
            old = await self.bot.guild_settings.save_preset(guild_id, preset,
                                                            actor_id=interaction.user.id)
        except PresetLimitError:
            raise Refusal(ngettext(
                "This server already has {n} preset, the most it can keep: delete it with "
                "`/preset delete` first.",
                "This server already has {n} presets, the most it can keep: delete one with "
                "`/preset delete` first.", MAX_PRESETS)) from None
        shown, name = user_text(preset.name, 40), preset.name
        if old is not None:
            text = _("Replaced the preset **{preset}**. Use it with `/ideogram preset:{name}`.",
                     preset=shown, name=name)
        else:
            text = _("Saved the preset **{preset}**. Use it with `/ideogram preset:{name}`.",
                     preset=shown, name=name)
        await interaction.response.send_message(text, embed=preset_embed(preset),
                                                ephemeral=True)
        moderator = user_mention(interaction.user.id)

        def log_line() -> str:
            options = truncate(describe_preset(preset).replace("\n", "; "), 1500)
            if old is not None:
                return _("🎨 {moderator} replaced the preset **{preset}**: {options}",
                         moderator=moderator, preset=shown, options=options)
            return _("🎨 {moderator} saved the preset **{preset}**: {options}",
                     moderator=moderator, preset=shown, options=options)

        await self.bot.mod_log.post(guild_id, log_line)

    def _runcomfy_served(self, guild_id: int) -> bool:
        return self.bot.launcher.serving_provider(guild_id).value == "runcomfy"

    @preset.command(name="list", description=locale_str("This server's presets"))
    async def list_(self, interaction: discord.Interaction) -> None:
        guild_id = guild_id_of(interaction)
        presets = self.bot.guild_settings.presets(guild_id)
        if not presets:
            text = _("This server has no presets yet. Moderators save them with "
                     "`/preset save`.")
            await interaction.response.send_message(text, ephemeral=True)
            return
        title = ngettext("Presets on this server ({n} of {most})",
                         "Presets on this server ({n} of {most})", len(presets),
                         most=MAX_PRESETS)
        embed = discord.Embed(title=title, colour=discord.Colour.blurple())
        embed.description = truncate("\n".join(
            f"**{user_text(p.name, 40)}** — " + ", ".join(
                option_label(k).lower() for k in p.options()) for p in presets), 4000)
        embed.set_footer(text=_("/preset show name:… for the details"))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @preset.command(name="show", description=locale_str("What a preset sets"))
    @app_commands.describe(name=locale_str("The preset"))
    async def show(self, interaction: discord.Interaction,
                   name: app_commands.Range[str, 1, 100]) -> None:
        preset = require_preset(self.bot.guild_settings, guild_id_of(interaction), name)
        await interaction.response.send_message(embed=preset_embed(preset), ephemeral=True)

    @preset.command(name="delete", description=locale_str("Delete a preset (moderators)"))
    @app_commands.describe(name=locale_str("The preset"))
    async def delete(self, interaction: discord.Interaction,
                     name: app_commands.Range[str, 1, 100]) -> None:
        require_moderator(interaction)
        guild_id = guild_id_of(interaction)
        preset = require_preset(self.bot.guild_settings, guild_id, name)
        deleted = await self.bot.guild_settings.delete_preset(guild_id, preset.name,
                                                              actor_id=interaction.user.id)
        if deleted is None:  # another moderator deleted it a moment ago
            raise no_such_preset(name)
        shown = user_text(preset.name, 40)
        await interaction.response.send_message(
            _("Deleted the preset **{preset}**.", preset=shown), ephemeral=True)
        moderator = user_mention(interaction.user.id)
        await self.bot.mod_log.post(guild_id, lambda: _(
            "🎨 {moderator} deleted the preset **{preset}**.", moderator=moderator,
            preset=shown))

    show.autocomplete("name")(_names)
    delete.autocomplete("name")(_names)


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(PresetCog(bot))
