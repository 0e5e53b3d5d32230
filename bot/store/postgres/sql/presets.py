"""Server presets and the audit of their changes."""

from __future__ import annotations

# Names match whatever their case, as SQLite's NOCASE column does.
SELECT_GUILD_PRESETS = (
    'SELECT * FROM presets WHERE guild_id = ? ORDER BY lower(name) COLLATE "C"'
)
SELECT_ALL_PRESETS = 'SELECT * FROM presets ORDER BY guild_id, lower(name) COLLATE "C"'
COUNT_GUILD_PRESETS = "SELECT count(*) FROM presets WHERE guild_id = ?"
SELECT_PRESET = "SELECT * FROM presets WHERE guild_id = ? AND lower(name) = lower(?)"
UPSERT_PRESET = """
INSERT INTO presets (guild_id, name, style, aspect_ratio, magic_prompt, negative_prompt,
                     prompt_suffix, color_palette, created_by, updated_at)
VALUES (:guild_id, :name, :style, :aspect_ratio, :magic_prompt, :negative_prompt,
        :prompt_suffix, :color_palette, :created_by, :updated_at)
ON CONFLICT (guild_id, lower(name)) DO UPDATE SET
    name = excluded.name, style = excluded.style, aspect_ratio = excluded.aspect_ratio,
    magic_prompt = excluded.magic_prompt, negative_prompt = excluded.negative_prompt,
    prompt_suffix = excluded.prompt_suffix, color_palette = excluded.color_palette,
    created_by = excluded.created_by, updated_at = excluded.updated_at
"""
DELETE_PRESET = "DELETE FROM presets WHERE guild_id = ? AND lower(name) = lower(?)"
INSERT_SETTINGS_AUDIT = """
INSERT INTO settings_audit (guild_id, actor_id, action, detail, created_at)
VALUES (?, ?, ?, ?, ?)
"""
