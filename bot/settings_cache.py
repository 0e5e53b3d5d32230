"""Every server's settings in memory: read with no query, written through the store.

Answering a command must not wait for the database, so the launch checks (allowed
channels, blocked words, command switches, provider) and the choice of language for public
messages read this cache. It is filled once at
start and updated by every change, which goes through it: :meth:`GuildSettingsCache.update`
and friends write to the store first, then replace the cached entry with what the store
now holds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from bot.store import GuildSettings, Store

log = logging.getLogger(__name__)


class GuildSettingsCache:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._by_guild: dict[int, GuildSettings] = {}

    async def load(self) -> None:
        """Read every server's settings (once, at start)."""
        self._by_guild = await self._store.all_guild_settings()
        log.info("Settings of %d server(s) loaded", len(self._by_guild))

    def get(self, guild_id: int) -> GuildSettings:
        """A server's settings (the defaults for one that never changed any)."""
        return self._by_guild.get(guild_id) or GuildSettings(guild_id=guild_id)

    async def refresh(self, guild_id: int) -> GuildSettings:
        """Read one server's settings from the store again (after a change elsewhere)."""
        current = await self._store.get_guild_settings(guild_id)
        self._by_guild[guild_id] = current
        return current

    async def update(self, guild_id: int, **fields: Any) -> GuildSettings:
        """Set any of provider, log_channel_id, ideogram_enabled, reframe_enabled, language."""
        current = await self._store.update_guild_settings(guild_id, **fields)
        self._by_guild[guild_id] = current
        return current

    async def add_allowed_channel(self, guild_id: int, channel_id: int) -> bool:
        added = await self._store.add_allowed_channel(guild_id, channel_id)
        await self.refresh(guild_id)
        return added

    async def remove_allowed_channel(self, guild_id: int, channel_id: int) -> bool:
        removed = await self._store.remove_allowed_channel(guild_id, channel_id)
        await self.refresh(guild_id)
        return removed

    async def add_blocked_words(self, guild_id: int, phrases: Iterable[str]) -> tuple[str, ...]:
        added = await self._store.add_blocked_words(guild_id, phrases)
        await self.refresh(guild_id)
        return added

    async def remove_blocked_words(self, guild_id: int,
                                   phrases: Iterable[str]) -> tuple[str, ...]:
        removed = await self._store.remove_blocked_words(guild_id, phrases)
        await self.refresh(guild_id)
        return removed
