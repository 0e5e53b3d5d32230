"""The link that adds the bot to a server, with its commands and exactly its permissions."""

from __future__ import annotations

from typing import Final

import discord

from cogs.core.permissions import PERMISSION_LABELS

#: What the bot needs in a channel to deliver results there after the interaction token is
#: gone, fetch a past result for /job, and post to the moderation log (README, Set-up).
INVITE_PERMISSION_NAMES: Final = {
    name: PERMISSION_LABELS[name] for name in (
        "view_channel", "send_messages", "embed_links", "attach_files",
        "read_message_history", "send_messages_in_threads")
}
INVITE_PERMISSIONS: Final = discord.Permissions(**dict.fromkeys(INVITE_PERMISSION_NAMES, True))
INVITE_SCOPES: Final = ("bot", "applications.commands")


def invite_url(application_id: int) -> str:
    """The OAuth2 link that adds the bot with its commands and exactly its permissions."""
    return discord.utils.oauth_url(application_id, permissions=INVITE_PERMISSIONS,
                                   scopes=INVITE_SCOPES)
