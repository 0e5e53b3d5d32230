"""The store's preset queries: a server's presets, saved and deleted with an audit row."""

from __future__ import annotations

import json
import time

from bot.presets import Preset, preset_key
from bot.store.engine import StoreEngine
from bot.store.records import PRESETS_TOPIC, PresetLimitError, row_to_preset


class PresetQueries(StoreEngine):
    """Server presets (a server's brand kit)."""

    async def all_presets(self) -> dict[int, list[Preset]]:
        """Every server's presets (for the in-memory settings cache)."""
        found: dict[int, list[Preset]] = {}
        for row in await self._fetchall(self._sql.SELECT_ALL_PRESETS):
            found.setdefault(int(row["guild_id"]), []).append(row_to_preset(row))
        return found

    async def guild_presets(self, guild_id: int) -> list[Preset]:
        """Return a server's presets, by name."""
        rows = await self._fetchall(self._sql.SELECT_GUILD_PRESETS, (guild_id,))
        return [row_to_preset(row) for row in rows]

    async def save_preset(self, guild_id: int, preset: Preset, *, actor_id: int,
                          limit: int) -> Preset | None:
        """Save (or replace, by name) a preset and audit it; return the one it replaced.

        Raises :class:`PresetLimitError` when the server has ``limit`` others already.
        """
        async with self.transaction(immediate=True):
            await self._lock_guild_settings(guild_id)  # counting and adding: one at a time
            old = await self._preset_named(guild_id, preset.name)
            if old is not None and old.name != preset.name:  # a new spelling: the row goes
                await self._execute(self._sql.DELETE_PRESET, (guild_id, old.name))
            if old is None:
                count_row = await self._fetchone(self._sql.COUNT_GUILD_PRESETS, (guild_id,))
                if count_row is not None and int(count_row[0]) >= limit:
                    raise PresetLimitError(limit)
            await self._execute(self._sql.UPSERT_PRESET, {
                "guild_id": guild_id, "name": preset.name, "style": preset.style,
                "aspect_ratio": preset.aspect_ratio,
                "magic_prompt": None if preset.magic_prompt is None else int(preset.magic_prompt),
                "negative_prompt": preset.negative_prompt,
                "prompt_suffix": preset.prompt_suffix, "color_palette": preset.color_palette,
                "created_by": preset.created_by, "updated_at": preset.updated_at})
            await self._execute(self._sql.INSERT_SETTINGS_AUDIT, (
                guild_id, actor_id, "preset:replace" if old else "preset:save",
                json.dumps({"name": preset.name, **preset.options()}, ensure_ascii=False),
                time.time()))
            await self._changed(PRESETS_TOPIC, guild_id)
        return old

    async def delete_preset(self, guild_id: int, name: str, *, actor_id: int) -> Preset | None:
        """Delete a preset (by name, any case) and audit it; None if there was none."""
        async with self.transaction(immediate=True):
            old = await self._preset_named(guild_id, name)
            if old is None:
                return None
            await self._execute(self._sql.DELETE_PRESET, (guild_id, old.name))
            await self._execute(self._sql.INSERT_SETTINGS_AUDIT, (
                guild_id, actor_id, "preset:delete", json.dumps({"name": old.name}),
                time.time()))
            await self._changed(PRESETS_TOPIC, guild_id)
        return old

    async def _preset_named(self, guild_id: int, name: str) -> Preset | None:
        """The server's preset called ``name``, matched as the bot matches names.

        By :func:`~bot.presets.preset_key`, in Python: neither engine folds every letter's
        case itself (SQLite's NOCASE only A-Z). A server has at most a few dozen presets.
        """
        key = preset_key(name)
        return next((p for p in await self.guild_presets(guild_id) if p.key == key), None)
