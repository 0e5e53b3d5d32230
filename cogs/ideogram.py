"""/ideogram — text to image (ideogram/ideogram-v2/generate)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.inputs import NEGATIVE_PROMPT_MAX, PROMPT_MAX, SEED_MAX, GenerateInputs, random_seed

if TYPE_CHECKING:
    from cogs.client import IdeogramBot

Style = Literal["auto", "general", "realistic", "design", "render_3D", "anime"]
AspectRatio = Literal["3:1", "16:9", "16:10", "3:2", "4:3", "1:1", "3:4", "2:3", "10:16",
                      "9:16", "1:3"]


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
    ) -> None:
        # Validated again in code: a client can send anything, whatever the options declare.
        inputs = GenerateInputs(
            prompt=prompt, style=style, aspect_ratio=aspect_ratio, magic_prompt=magic_prompt,
            negative_prompt=negative_prompt, seed=random_seed() if seed is None else seed,
        )
        await self.bot.launcher.launch(interaction, inputs)


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(IdeogramCog(bot))
