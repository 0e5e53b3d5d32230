"""The store's server settings queries: the settings row, allowed channels, blocked words."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Any

from bot.store.engine import StoreEngine
from bot.store.records import GUILD_SETTINGS_TOPIC, GuildSettings, Row

_GUILD_SETTINGS_FIELDS: frozenset[str] = frozenset(
    {"provider", "log_channel_id", "ideogram_enabled", "reframe_enabled", "language"}
)


def _normalize_phrase(phrase: str) -> str:
    return " ".join(phrase.split()).lower()


def _row_to_settings(row: Row) -> GuildSettings:
    """A ``guild_settings`` row as settings, without its channel and word lists."""
    return GuildSettings(
        guild_id=int(row["guild_id"]),
        provider=row["provider"],
        log_channel_id=row["log_channel_id"],
        ideogram_enabled=bool(row["ideogram_enabled"]),
        reframe_enabled=bool(row["reframe_enabled"]),
        language=row["language"],
        updated_at=row["updated_at"],
    )


class SettingsQueries(StoreEngine):
    """Server settings, read whole and changed one field or list entry at a time."""


    async def get_guild_settings(self, guild_id: int) -> GuildSettings:
        """Return a server's settings (the defaults when it never changed any)."""
        async with self.transaction(immediate=False):
            row = await self._fetchone(self._sql.SELECT_GUILD_SETTINGS, (guild_id,))
            channels = await self._fetchall(self._sql.SELECT_ALLOWED_CHANNELS, (guild_id,))
            words = await self._fetchall(self._sql.SELECT_BLOCKED_WORDS, (guild_id,))
        base = GuildSettings(guild_id=guild_id)
        if row is not None:
            base = _row_to_settings(row)
        return dataclasses.replace(
            base,
            allowed_channel_ids=frozenset(int(r[0]) for r in channels),
            blocked_words=tuple(str(r[0]) for r in words),
        )

    async def all_guild_settings(self) -> dict[int, GuildSettings]:
        """Every guild that has changed a setting (for the in-memory settings cache)."""
        async with self.transaction(immediate=False):
            rows = await self._fetchall(self._sql.SELECT_ALL_GUILD_SETTINGS)
            channels = await self._fetchall(self._sql.SELECT_ALL_ALLOWED_CHANNELS)
            words = await self._fetchall(self._sql.SELECT_ALL_BLOCKED_WORDS)
        found: dict[int, GuildSettings] = {}
        for row in rows:
            found[int(row["guild_id"])] = _row_to_settings(row)
        allowed: dict[int, set[int]] = {}
        for row in channels:
            allowed.setdefault(int(row[0]), set()).add(int(row[1]))
        blocked: dict[int, list[str]] = {}
        for row in words:
            blocked.setdefault(int(row[0]), []).append(str(row[1]))
        for guild_id in set(allowed) | set(blocked):
            base = found.get(guild_id) or GuildSettings(guild_id=guild_id)
            found[guild_id] = dataclasses.replace(
                base, allowed_channel_ids=frozenset(allowed.get(guild_id, ())),
                blocked_words=tuple(blocked.get(guild_id, ())))
        return found

    async def update_guild_settings(self, guild_id: int, **fields: Any) -> GuildSettings:
        """Set any of provider, log_channel_id, ideogram_enabled, reframe_enabled, language."""
        unknown = set(fields) - _GUILD_SETTINGS_FIELDS
        if unknown:
            raise ValueError(f"cannot update guild setting(s): {', '.join(sorted(unknown))}")
        async with self.transaction(immediate=True):
            await self._lock_guild_settings(guild_id)
            current = dataclasses.replace(await self.get_guild_settings(guild_id), **fields)
            await self._execute(
                self._sql.UPSERT_GUILD_SETTINGS,
                {
                    "guild_id": guild_id,
                    "provider": current.provider,
                    "log_channel_id": current.log_channel_id,
                    "ideogram_enabled": int(bool(current.ideogram_enabled)),
                    "reframe_enabled": int(bool(current.reframe_enabled)),
                    "language": current.language,
                    "updated_at": time.time(),
                },
            )
            await self._changed(GUILD_SETTINGS_TOPIC, guild_id)
            return await self.get_guild_settings(guild_id)

    async def add_allowed_channel(self, guild_id: int, channel_id: int) -> bool:
        """True if the channel was added, False if it was already allowed."""
        return await self._change_allowed_channel(self._sql.INSERT_ALLOWED_CHANNEL, guild_id,
                                                  channel_id)

    async def remove_allowed_channel(self, guild_id: int, channel_id: int) -> bool:
        """True if the channel was removed, False if it was not in the list."""
        return await self._change_allowed_channel(self._sql.DELETE_ALLOWED_CHANNEL, guild_id,
                                                  channel_id)

    async def add_blocked_words(self, guild_id: int, phrases: Iterable[str]) -> tuple[str, ...]:
        """Add phrases (stored lowercased, whitespace collapsed); return those newly added."""
        return await self._change_blocked_words(self._sql.INSERT_BLOCKED_WORD, guild_id, phrases)

    async def remove_blocked_words(self, guild_id: int, phrases: Iterable[str]) -> tuple[str, ...]:
        """Remove phrases (matched after the same normalization); return those removed."""
        return await self._change_blocked_words(self._sql.DELETE_BLOCKED_WORD, guild_id, phrases)

    async def _change_allowed_channel(self, statement: str, guild_id: int,
                                      channel_id: int) -> bool:
        """Run an insert or delete of one allowed channel; True if it changed the row."""
        async with self.transaction(immediate=True):
            changed = await self._execute(statement, (guild_id, channel_id))
            await self._changed(GUILD_SETTINGS_TOPIC, guild_id)
        return changed == 1

    async def _change_blocked_words(self, statement: str, guild_id: int,
                                    phrases: Iterable[str]) -> tuple[str, ...]:
        """Run an insert or delete per normalized phrase; return the phrases it changed."""
        changed: list[str] = []
        async with self.transaction(immediate=True):
            for phrase in dict.fromkeys(_normalize_phrase(p) for p in phrases):
                if phrase and await self._execute(statement, (guild_id, phrase)):
                    changed.append(phrase)
            await self._changed(GUILD_SETTINGS_TOPIC, guild_id)
        return tuple(changed)
