"""Server presets and the audit of their changes.

The first statements here are portable: the PostgreSQL store runs the same text (its
``presets`` module imports them). The rest are SQLite's own.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- portable

# (guild_id)
COUNT_GUILD_PRESETS = "SELECT count(*) FROM presets WHERE guild_id = ?"
# (guild_id, actor_id, action, detail, created_at)
INSERT_SETTINGS_AUDIT = """
INSERT INTO settings_audit (guild_id, actor_id, action, detail, created_at)
VALUES (?, ?, ?, ?, ?)
"""


def upsert_preset(name_key: str) -> str:
    """Return the statement that writes a preset, given how the dialect keys its name.

    ``name_key`` is the name's part of the unique key (the conflict target): the column
    itself where it compares without case, else ``lower(name)``.
    """
    return f"""
INSERT INTO presets (guild_id, name, style, aspect_ratio, magic_prompt, negative_prompt,
                     prompt_suffix, color_palette, created_by, updated_at)
VALUES (:guild_id, :name, :style, :aspect_ratio, :magic_prompt, :negative_prompt,
        :prompt_suffix, :color_palette, :created_by, :updated_at)
ON CONFLICT (guild_id, {name_key}) DO UPDATE SET
    name = excluded.name, style = excluded.style, aspect_ratio = excluded.aspect_ratio,
    magic_prompt = excluded.magic_prompt, negative_prompt = excluded.negative_prompt,
    prompt_suffix = excluded.prompt_suffix, color_palette = excluded.color_palette,
    created_by = excluded.created_by, updated_at = excluded.updated_at
"""


# --------------------------------------------------------------------------- SQLite's own

# The name column is COLLATE NOCASE: names sort, and are unique, whatever their A-Z case
# (the store finds a name by its folded case in Python: PresetQueries._preset_named).
# (guild_id) a server's presets, by name
SELECT_GUILD_PRESETS = "SELECT * FROM presets WHERE guild_id = ? ORDER BY name"
SELECT_ALL_PRESETS = "SELECT * FROM presets ORDER BY guild_id, name"
UPSERT_PRESET = upsert_preset("name")
# (guild_id, name)
DELETE_PRESET = "DELETE FROM presets WHERE guild_id = ? AND name = ?"
