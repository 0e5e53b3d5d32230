"""Typed reads of what discord.py hands a callback as loosely typed data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import discord

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot


def is_image_attachment(attachment: discord.Attachment) -> bool:
    """Whether a Discord attachment is an image: by its content type, else its file name."""
    return ((attachment.content_type or "").startswith("image/")
            or attachment.filename.lower().endswith((".png", ".jpg", ".jpeg", ".webp")))


def bot_of(interaction: discord.Interaction) -> IdeogramBot:
    """The bot an interaction reached: every client of this project is an IdeogramBot."""
    return cast("IdeogramBot", interaction.client)


def selected_values(interaction: discord.Interaction) -> list[str]:
    """The values picked in a select menu; empty for any other interaction."""
    data = cast("Mapping[str, Any]", interaction.data or {})
    return [str(value) for value in data.get("values") or []]
