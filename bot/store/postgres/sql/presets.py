"""Server presets and the audit of their changes.

The statements whose text differs from SQLite's; the portable ones are imported from
:mod:`bot.store.sql.presets`.
"""

from __future__ import annotations

# Portable: the same text in both dialects.
from bot.store.sql.presets import COUNT_GUILD_PRESETS as COUNT_GUILD_PRESETS
from bot.store.sql.presets import INSERT_SETTINGS_AUDIT as INSERT_SETTINGS_AUDIT
from bot.store.sql.presets import upsert_preset

# Names sort, and are unique, whatever their case, as SQLite's NOCASE column makes them (the
# store finds a name by its folded case in Python: PresetQueries._preset_named).
SELECT_GUILD_PRESETS = (
    'SELECT * FROM presets WHERE guild_id = ? ORDER BY lower(name) COLLATE "C"'
)
SELECT_ALL_PRESETS = 'SELECT * FROM presets ORDER BY guild_id, lower(name) COLLATE "C"'
UPSERT_PRESET = upsert_preset("lower(name)")
DELETE_PRESET = "DELETE FROM presets WHERE guild_id = ? AND lower(name) = lower(?)"
