"""Every server's settings and presets in memory.

Read with no query, written through the store.

Answering a command must not wait for the database, so the launch checks (allowed
channels, blocked words, command switches, provider) and the choice of language for public
messages read this cache. It is filled once at
start and updated by every change, which goes through it: :meth:`GuildSettingsCache.update`
and friends write to the store first, then replace the cached entry with what the store
now holds. Changes made by *other* processes sharing the database (PostgreSQL) arrive as
change notices (:meth:`GuildSettingsCache.follow_changes`): the entry is read again, so
every process enforces a moderator's change within moments, without a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from bot.presets import MAX_PRESETS, Preset, preset_key
from bot.store import GUILD_SETTINGS_TOPIC, PRESETS_TOPIC, GuildSettings, Store

log = logging.getLogger(__name__)


class GuildSettingsCache:
    """Every server's settings and presets in memory, written through to the store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._by_guild: dict[int, GuildSettings] = {}
        self._presets: dict[int, dict[str, Preset]] = {}

    async def load(self) -> None:
        """Read every server's settings and presets (once, at start)."""
        self._by_guild = await self._store.all_guild_settings()
        self._presets = {guild_id: {p.key: p for p in presets}
                         for guild_id, presets in (await self._store.all_presets()).items()}
        log.info("Settings of %d server(s) loaded", len(self._by_guild))

    async def follow_changes(self) -> None:
        """Apply other processes' changes as they are made (nothing comes on SQLite)."""
        await self._store.subscribe(GUILD_SETTINGS_TOPIC, self._changed_elsewhere)
        await self._store.subscribe(PRESETS_TOPIC, self._presets_changed_elsewhere)

    async def _changed_elsewhere(self, key: str | None) -> None:
        guild_id = await self._noticed_guild(key, "settings")
        if guild_id is not None:
            await self.refresh(guild_id)
            log.debug("Settings of server %d changed in another process", guild_id)

    async def _presets_changed_elsewhere(self, key: str | None) -> None:
        guild_id = await self._noticed_guild(key, "presets")
        if guild_id is not None:
            await self.refresh_presets(guild_id)

    async def _noticed_guild(self, key: str | None, what: str) -> int | None:
        """Return the server a change notice names, or None when nothing more is to be done.

        None: the notices were interrupted (anything may have changed, so everything is
        read again), or the key is not a server id (logged).
        """
        if key is None:
            await self.load()
            return None
        try:
            return int(key)
        except ValueError:
            log.warning("Ignoring a %s notice for %r", what, key[:40])
            return None

    # -- presets ---------------------------------------------------------------------

    def presets(self, guild_id: int) -> list[Preset]:
        """A server's presets, by name."""
        return sorted(self._presets.get(guild_id, {}).values(), key=lambda p: p.key)

    def preset(self, guild_id: int, name: str) -> Preset | None:
        """A server's preset by name (any case), or None."""
        return self._presets.get(guild_id, {}).get(preset_key(name))

    async def save_preset(self, guild_id: int, preset: Preset, *, actor_id: int) -> Preset | None:
        """Save (or replace) a preset; the one it replaced, if any.

        Raises :class:`bot.store.PresetLimitError` past ``MAX_PRESETS``.
        """
        old = await self._store.save_preset(guild_id, preset, actor_id=actor_id,
                                            limit=MAX_PRESETS)
        await self.refresh_presets(guild_id)
        return old

    async def delete_preset(self, guild_id: int, name: str, *, actor_id: int) -> Preset | None:
        """Delete a preset and refresh the cache; return the deleted one, if any."""
        old = await self._store.delete_preset(guild_id, name, actor_id=actor_id)
        await self.refresh_presets(guild_id)
        return old

    async def refresh_presets(self, guild_id: int) -> None:
        """Read one server's presets from the store again (after a change)."""
        self._presets[guild_id] = {p.key: p for p in await self._store.guild_presets(guild_id)}

    # -- settings --------------------------------------------------------------------

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
        """Allow a channel and refresh the cache; return whether it was new."""
        added = await self._store.add_allowed_channel(guild_id, channel_id)
        await self.refresh(guild_id)
        return added

    async def remove_allowed_channel(self, guild_id: int, channel_id: int) -> bool:
        """Stop allowing a channel and refresh the cache; return whether it was listed."""
        removed = await self._store.remove_allowed_channel(guild_id, channel_id)
        await self.refresh(guild_id)
        return removed

    async def add_blocked_words(self, guild_id: int, phrases: Iterable[str]) -> tuple[str, ...]:
        """Block phrases and refresh the cache; return those that were new."""
        added = await self._store.add_blocked_words(guild_id, phrases)
        await self.refresh(guild_id)
        return added

    async def remove_blocked_words(self, guild_id: int,
                                   phrases: Iterable[str]) -> tuple[str, ...]:
        """Unblock phrases and refresh the cache; return those that were blocked."""
        removed = await self._store.remove_blocked_words(guild_id, phrases)
        await self.refresh(guild_id)
        return removed
