"""The moderation log: short lines posted to the channel set with ``/settings log-channel``.

Blocked attempts, quota changes and moderators' cancellations go there, in the server's
language: give :meth:`ModLog.post` a function that writes the line (``lambda: _(...)``) and
it is called with that language set. Posting never raises and never holds up the
interaction that caused it: :meth:`ModLog.post_soon` runs in the background, and a
missing, deleted or forbidden channel is only logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import discord

from bot.i18n import use_locale
from bot.owned_tasks import OwnedTasks
from cogs.core.languages import public_locale
from cogs.core.rendering import truncate

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

#: A log line: text, or a function that writes it (called in the server's language).
LogLine = str | Callable[[], str]

CLOSE_GRACE_SECONDS = 5.0


class ModLog:
    def __init__(self, bot: IdeogramBot) -> None:
        self._bot = bot
        self._tasks = OwnedTasks()

    async def post(self, guild_id: int, content: LogLine) -> bool:
        """Post ``content`` to the guild's log channel; False if none is set or it failed."""
        try:
            settings = self._bot.guild_settings.get(guild_id)
            channel_id = settings.log_channel_id
            if channel_id is None:
                return False
            channel = self._bot.get_channel(channel_id)
            if channel is None:
                channel = await self._bot.fetch_channel(channel_id)
            if not isinstance(channel, discord.abc.Messageable):
                log.warning("Log channel %s of guild %s cannot hold messages", channel_id,
                            guild_id)
                return False
            if callable(content):
                with use_locale(public_locale(self._bot, guild_id)):
                    content = content()
            await channel.send(truncate(content, 2000),
                               allowed_mentions=discord.AllowedMentions.none())
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("Posting to the log channel of guild %s failed: %s", guild_id,
                        getattr(exc, "status", None) or type(exc).__name__)
            return False

    def post_soon(self, guild_id: int, content: LogLine) -> None:
        """Post in the background (for use before an interaction has been answered)."""
        self._tasks.spawn(self.post(guild_id, content), "mod-log-post")

    async def wait_idle(self) -> None:
        """Wait for the posts in flight (tests, shutdown)."""
        await self._tasks.wait_idle()

    async def close(self, grace: float = CLOSE_GRACE_SECONDS) -> None:
        """Let posts in flight finish for up to ``grace`` seconds, then cancel the rest."""
        await self._tasks.close(grace)


__all__ = ["ModLog"]
