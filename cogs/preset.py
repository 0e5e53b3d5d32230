"""/preset — a server's brand kit: named defaults for /ideogram (see :mod:`bot.presets`).

``save`` and ``delete`` are for moderators (Manage Server, checked in code); ``list`` and
``show`` for anyone, privately. At most 25 presets a server; saving an existing name
replaces it. Changes are recorded (the settings audit) and posted to the moderation log.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.inputs import NEGATIVE_PROMPT_MAX, InvalidInput
from bot.presets import MAX_PRESETS, NAME_MAX, PROMPT_SUFFIX_MAX, Preset, make_preset
from bot.store import PresetLimitError
from cogs.core.checks import guild_id_of, require_moderator
from cogs.core.errors import Refusal
from cogs.core.rendering import truncate, user_text

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

Style = Literal["auto", "general", "realistic", "design", "render_3D", "anime"]
AspectRatio = Literal["3:1", "16:9", "16:10", "3:2", "4:3", "1:1", "3:4", "2:3", "10:16",
                      "9:16", "1:3"]
Palette = Literal["EMBER", "FRESH", "JUNGLE", "MAGIC", "MELON", "MOSAIC", "PASTEL",
                  "ULTRAMARINE"]
OPTION_LABELS: dict[str, str] = {
    "style": "Style", "aspect_ratio": "Aspect ratio", "magic_prompt": "Magic prompt",
    "negative_prompt": "Negative prompt", "prompt_suffix": "Prompt suffix",
    "color_palette": "Colour palette",
}


def describe_preset(preset: Preset) -> str:
    """One line per option the preset sets (user text escaped)."""
    lines = []
    for name, value in preset.options().items():
        shown = ("on" if value else "off") if isinstance(value, bool) else user_text(value, 300)
        lines.append(f"**{OPTION_LABELS[name]}**: {shown}")
    return "\n".join(lines)


def preset_embed(preset: Preset) -> discord.Embed:
    embed = discord.Embed(title=f"Preset: {truncate(preset.name, 200)}",
                          description=describe_preset(preset), colour=discord.Colour.blurple())
    if preset.created_by:
        embed.add_field(name="Saved by", value=f"<@{preset.created_by}>")
    if preset.updated_at:
        embed.add_field(name="Saved", value=f"<t:{int(preset.updated_at)}:R>")
    embed.set_footer(text="Use it: /ideogram prompt:… preset:" + truncate(preset.name, 100))
    return embed


class PresetCog(commands.Cog):
    preset = app_commands.Group(name="preset", description="This server's presets for /ideogram",
                                guild_only=True)

    def __init__(self, bot: IdeogramBot) -> None:
        self.bot = bot

    async def _names(self, interaction: discord.Interaction,
                     current: str) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        typed = str(current).casefold()
        return [app_commands.Choice(name=p.name, value=p.name)
                for p in self.bot.guild_settings.presets(interaction.guild_id)
                if typed in p.key][:25]

    def _find(self, guild_id: int, name: str) -> Preset:
        found = self.bot.guild_settings.preset(guild_id, str(name))
        if found is None:
            raise Refusal(f"This server has no preset named `{truncate(str(name), 40)}`: "
                          "see `/preset list`.")
        return found

    @preset.command(name="save", description="Save a preset, or replace one of that name "
                                             "(moderators)")
    @app_commands.describe(
        name="The preset's name (1 to 32 characters)",
        style="Visual style", aspect_ratio="Width:height",
        magic_prompt="Let Ideogram expand prompts",
        negative_prompt="What to keep out of the images",
        prompt_suffix="Added to every prompt after a comma (up to 500 characters)",
        color_palette="A colour palette (servers using the ideogram provider)",
    )
    async def save(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, NAME_MAX],
        style: Style | None = None,
        aspect_ratio: AspectRatio | None = None,
        magic_prompt: bool | None = None,
        negative_prompt: app_commands.Range[str, 1, NEGATIVE_PROMPT_MAX] | None = None,
        prompt_suffix: app_commands.Range[str, 1, PROMPT_SUFFIX_MAX] | None = None,
        color_palette: Palette | None = None,
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
        if color_palette is not None and self._runcomfy_served(guild_id):
            raise Refusal("A colour palette only works when `/ideogram` is served by the "
                          "ideogram provider, and this server uses RunComfy: leave it out, "
                          "or change `/settings provider` first.")
        try:
            old = await self.bot.guild_settings.save_preset(guild_id, preset,
                                                            actor_id=interaction.user.id)
        except PresetLimitError:
            raise Refusal(f"This server already has {MAX_PRESETS} presets, the most it can "
                          "keep: delete one with `/preset delete` first.") from None
        verb = "Replaced" if old is not None else "Saved"
        await interaction.response.send_message(
            f"{verb} the preset **{user_text(preset.name, 40)}**. Use it with "
            f"`/ideogram preset:{preset.name}`.", embed=preset_embed(preset), ephemeral=True)
        await self.bot.mod_log.post(
            guild_id, f"🎨 <@{interaction.user.id}> {verb.lower()} the preset "
                      f"**{user_text(preset.name, 40)}**: "
                      + truncate(describe_preset(preset).replace("\n", "; "), 1500))

    def _runcomfy_served(self, guild_id: int) -> bool:
        return self.bot.launcher.serving_provider(guild_id).value == "runcomfy"

    @preset.command(name="list", description="This server's presets")
    async def list_(self, interaction: discord.Interaction) -> None:
        guild_id = guild_id_of(interaction)
        presets = self.bot.guild_settings.presets(guild_id)
        if not presets:
            text = ("This server has no presets yet. Moderators save them with "
                    "`/preset save`.")
            await interaction.response.send_message(text, ephemeral=True)
            return
        embed = discord.Embed(title=f"Presets on this server ({len(presets)} of "
                                    f"{MAX_PRESETS})", colour=discord.Colour.blurple())
        embed.description = truncate("\n".join(
            f"**{user_text(p.name, 40)}** — " + ", ".join(
                f"{OPTION_LABELS[k].lower()}" for k in p.options()) for p in presets), 4000)
        embed.set_footer(text="/preset show name:… for the details")
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @preset.command(name="show", description="What a preset sets")
    @app_commands.describe(name="The preset")
    async def show(self, interaction: discord.Interaction,
                   name: app_commands.Range[str, 1, 100]) -> None:
        preset = self._find(guild_id_of(interaction), name)
        await interaction.response.send_message(embed=preset_embed(preset), ephemeral=True)

    @preset.command(name="delete", description="Delete a preset (moderators)")
    @app_commands.describe(name="The preset")
    async def delete(self, interaction: discord.Interaction,
                     name: app_commands.Range[str, 1, 100]) -> None:
        require_moderator(interaction)
        guild_id = guild_id_of(interaction)
        preset = self._find(guild_id, name)
        await self.bot.guild_settings.delete_preset(guild_id, preset.name,
                                                    actor_id=interaction.user.id)
        await interaction.response.send_message(
            f"Deleted the preset **{user_text(preset.name, 40)}**.", ephemeral=True)
        await self.bot.mod_log.post(guild_id, f"🎨 <@{interaction.user.id}> deleted the preset "
                                              f"**{user_text(preset.name, 40)}**.")

    show.autocomplete("name")(_names)
    delete.autocomplete("name")(_names)


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(PresetCog(bot))
