"""/ideogram — text to image, on RunComfy (ideogram/ideogram-v2/generate) or on the
Ideogram-compatible synchronous API, whichever serves this server.

``model`` and ``color_palette`` exist only on the synchronous API: on a RunComfy-served
server they are refused (RunComfy's v2 generate schema has neither), and an option the
chosen model cannot use is refused too, never silently dropped. ``count`` makes up to four
images in one reply (a grid); ``preset`` fills the options the member left out from one of
the server's presets (:mod:`bot.presets`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.config import ProviderName
from bot.i18n import _, format_list
from bot.inputs import (
    DEFAULT_IDEOGRAM_MODEL,
    NEGATIVE_PROMPT_MAX,
    PROMPT_MAX,
    SEED_MAX,
    GenerateInputs,
    IdeogramGenerateInputs,
    ModelInputs,
    random_seed,
)
from bot.presets import Preset, PromptOptions, apply_preset
from cogs.core.choices import PALETTE_CHOICES, STYLE_CHOICES, AspectRatio
from cogs.core.errors import Refusal
from cogs.core.launch import MAX_BATCH
from cogs.core.preset_lookup import preset_choices, require_preset

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

IdeogramModel = Literal["V_1", "V_1_TURBO", "V_2", "V_2_TURBO"]


def runcomfy_refusal(model: str | None, color_palette: str | None,
                     preset: Preset | None = None) -> str | None:
    """Why ``model``/``color_palette`` can't be used on RunComfy, or None if neither is set
    (in the reader's language)."""
    if preset is not None and preset.color_palette is not None and color_palette is None:
        return _("The preset `{preset}` has a colour palette, which this server's "
                 "`/ideogram` (on RunComfy) can't use: pick another preset, or ask a moderator "
                 "to change this one.", preset=preset.name)
    given = [f"`{name}`" for name, value in (("model", model), ("color_palette", color_palette))
             if value is not None]
    if not given:
        return None
    if len(given) == 1:
        return _("{option} isn't available here: this server's `/ideogram` runs on RunComfy. "
                 "Leave it out, or ask a moderator about `/settings provider`.",
                 option=given[0])
    return _("{options} aren't available here: this server's `/ideogram` runs on RunComfy. "
             "Leave them out, or ask a moderator about `/settings provider`.",
             options=format_list(given))


def build_inputs(serving: ProviderName, options: PromptOptions, seed: int,
                 model: str | None) -> ModelInputs:
    """The inputs for the provider that serves ``/ideogram`` here."""
    if serving is ProviderName.IDEOGRAM:
        return IdeogramGenerateInputs(
            prompt=options.prompt, style=options.style, aspect_ratio=options.aspect_ratio,
            magic_prompt=options.magic_prompt, negative_prompt=options.negative_prompt,
            seed=seed, ideogram_model=DEFAULT_IDEOGRAM_MODEL if model is None else model,
            color_palette=options.color_palette)
    return GenerateInputs(
        prompt=options.prompt, style=options.style, aspect_ratio=options.aspect_ratio,
        magic_prompt=options.magic_prompt, negative_prompt=options.negative_prompt, seed=seed)


class IdeogramCog(commands.Cog):
    def __init__(self, bot: IdeogramBot) -> None:
        self.bot = bot

    @app_commands.command(name="ideogram",
                          description=locale_str("Make an image from a text prompt."))
    @app_commands.guild_only()
    @app_commands.describe(
        prompt=locale_str("What to draw (up to 2000 characters)"),
        style=locale_str("Visual style (default auto)"),
        aspect_ratio=locale_str("Width:height (default 1:1)"),
        magic_prompt=locale_str("Let Ideogram expand your prompt (default on)"),
        negative_prompt=locale_str("What to keep out of the image"),
        seed=locale_str("Same seed + same options = same image (default: random)"),
        count=locale_str("How many images, 1 to 4 (default 1); they come as one grid"),
        preset=locale_str("One of this server's presets: fills the options you leave out"),
        model=locale_str("Ideogram model, on servers using the ideogram provider (default V_2)"),
        color_palette=locale_str("One of Ideogram's colour palettes, on servers using the "
                                 "ideogram provider (V_2 models)"),
    )
    @app_commands.choices(style=STYLE_CHOICES, color_palette=PALETTE_CHOICES)
    async def ideogram(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, PROMPT_MAX],
        style: str | None = None,
        aspect_ratio: AspectRatio | None = None,
        magic_prompt: bool | None = None,
        negative_prompt: app_commands.Range[str, 0, NEGATIVE_PROMPT_MAX] | None = None,
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        count: app_commands.Range[int, 1, MAX_BATCH] = 1,
        preset: app_commands.Range[str, 1, 100] | None = None,
        model: IdeogramModel | None = None,
        color_palette: str | None = None,
    ) -> None:
        # Validated again in code: a client can send anything, whatever the options declare.
        chosen = self._preset(interaction, preset)
        serving = self.bot.launcher.serving_provider(interaction.guild_id)
        if serving is not ProviderName.IDEOGRAM:
            refusal = runcomfy_refusal(model, color_palette, chosen)
            if refusal is not None:
                raise Refusal(refusal)
        options = apply_preset(chosen, prompt=prompt, style=style, aspect_ratio=aspect_ratio,
                               magic_prompt=magic_prompt, negative_prompt=negative_prompt,
                               color_palette=color_palette)
        inputs = build_inputs(serving, options, random_seed() if seed is None else seed, model)
        await self.bot.launcher.launch(interaction, inputs, count=count,
                                       preset=chosen.name if chosen else None)

    def _preset(self, interaction: discord.Interaction, name: str | None) -> Preset | None:
        if name is None or interaction.guild_id is None:
            return None
        return require_preset(self.bot.guild_settings, interaction.guild_id, name)

    @ideogram.autocomplete("preset")
    async def preset_names(self, interaction: discord.Interaction,
                           current: str) -> list[app_commands.Choice[str]]:
        return preset_choices(self.bot.guild_settings, interaction, current)


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(IdeogramCog(bot))
