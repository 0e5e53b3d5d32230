"""Discord's mention markup from bare ids (a member or channel the bot may not have cached)."""

from __future__ import annotations


def user_mention(user_id: int) -> str:
    return f"<@{user_id}>"


def channel_mention(channel_id: int) -> str:
    return f"<#{channel_id}>"
