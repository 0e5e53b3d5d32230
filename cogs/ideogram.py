"""/ideogram — text to image, on RunComfy (ideogram/ideogram-v2/generate) or on the
Ideogram-compatible synchronous API (seed 004), whichever serves this server.

``model`` and ``color_palette`` exist only on the synchronous API: on a RunComfy-served
server they are refused (RunComfy's v2 generate schema has neither), and an option the
chosen model cannot use is refused too, never silently dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import ProviderName
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
from cogs.core.errors import Refusal

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

Style = Literal["auto", "general", "realistic", "design", "render_3D", "anime"]
AspectRatio = Literal["3:1", "16:9", "16:10", "3:2", "4:3", "1:1", "3:4", "2:3", "10:16",
                      "9:16", "1:3"]
IdeogramModel = Literal["V_1", "V_1_TURBO", "V_2", "V_2_TURBO"]
Palette = Literal["EMBER", "FRESH", "JUNGLE", "MAGIC", "MELON", "MOSAIC", "PASTEL",
                  "ULTRAMARINE"]


def runcomfy_refusal(model: str | None, color_palette: str | None) -> str | None:
    """Why ``model``/``color_palette`` can't be used on RunComfy, or None if neither is set."""
    given = [f"`{name}`" for name, value in (("model", model), ("color_palette", color_palette))
             if value is not None]
    if not given:
        return None
    them = "them" if len(given) > 1 else "it"
    return (f"{' and '.join(given)} only work{'' if len(given) > 1 else 's'} when `/ideogram` "
            "is served by the ideogram provider. This server uses RunComfy, whose generate "
            f"model has no such option: leave {them} out, or ask a moderator about "
            "`/settings provider`.")


class IdeogramCog(commands.Cog):
    def __init__(self, bot: IdeogramBot) -> None:
        self.bot = bot

    @app_commands.command(name="ideogram", description="Make an image from a text prompt.")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What to draw (up to 2000 characters)",
        style="Visual style (default auto)",
        aspect_ratio="Width:height (default 1:1)",
        magic_prompt="Let Ideogram expand your prompt (default on)",
        negative_prompt="What to keep out of the image",
        seed="Same seed + same options = same image (default: random)",
        model="Ideogram model, on servers using the ideogram provider (default V_2)",
        color_palette="A colour palette preset, on servers using the ideogram provider "
                      "(V_2 models)",
    )
    async def ideogram(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, PROMPT_MAX],
        style: Style = "auto",
        aspect_ratio: AspectRatio = "1:1",
        magic_prompt: bool = True,
        negative_prompt: app_commands.Range[str, 0, NEGATIVE_PROMPT_MAX] = "",
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        model: IdeogramModel | None = None,
        color_palette: Palette | None = None,
    ) -> None:
        # Validated again in code: a client can send anything, whatever the options declare.
        chosen_seed = random_seed() if seed is None else seed
        serving = self.bot.launcher.serving_provider(interaction.guild_id)
        inputs: ModelInputs
        if serving is ProviderName.IDEOGRAM:
            inputs = IdeogramGenerateInputs(
                prompt=prompt, style=style, aspect_ratio=aspect_ratio,
                magic_prompt=magic_prompt, negative_prompt=negative_prompt, seed=chosen_seed,
                ideogram_model=DEFAULT_IDEOGRAM_MODEL if model is None else model,
                color_palette=color_palette,
            )
        else:
            refusal = runcomfy_refusal(model, color_palette)
            if refusal is not None:
                raise Refusal(refusal)
            inputs = GenerateInputs(
                prompt=prompt, style=style, aspect_ratio=aspect_ratio,
                magic_prompt=magic_prompt, negative_prompt=negative_prompt, seed=chosen_seed,
            )
        await self.bot.launcher.launch(interaction, inputs)


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(IdeogramCog(bot))
