"""Discord's mention markup from bare ids (a member or channel the bot may not have cached),
and the mentions a message may ping."""

from __future__ import annotations

import discord


def user_mention(user_id: int) -> str:
    return f"<@{user_id}>"


def channel_mention(channel_id: int) -> str:
    return f"<#{channel_id}>"


def mention_only(user_id: int) -> discord.AllowedMentions:
    """Mentions that ping ``user_id`` and nobody else."""
    return discord.AllowedMentions(users=[discord.Object(user_id)], everyone=False,
                                   roles=False)
