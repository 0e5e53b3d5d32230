"""Server settings: the settings row, allowed channels and blocked words."""

from __future__ import annotations

SELECT_ALL_GUILD_SETTINGS = """
SELECT guild_id, provider, log_channel_id, ideogram_enabled, reframe_enabled, language,
       updated_at
FROM guild_settings
"""
SELECT_ALL_ALLOWED_CHANNELS = "SELECT guild_id, channel_id FROM guild_allowed_channels"
SELECT_ALL_BLOCKED_WORDS = (
    'SELECT guild_id, phrase FROM guild_blocked_words ORDER BY phrase COLLATE "C"'
)
SELECT_GUILD_SETTINGS = """
SELECT guild_id, provider, log_channel_id, ideogram_enabled, reframe_enabled, language,
       updated_at
FROM guild_settings WHERE guild_id = ?
"""
UPSERT_GUILD_SETTINGS = """
INSERT INTO guild_settings (
    guild_id, provider, log_channel_id, ideogram_enabled, reframe_enabled, language, updated_at
) VALUES (
    :guild_id, :provider, :log_channel_id, :ideogram_enabled, :reframe_enabled, :language,
    :updated_at
)
ON CONFLICT (guild_id) DO UPDATE SET
    provider = excluded.provider,
    log_channel_id = excluded.log_channel_id,
    ideogram_enabled = excluded.ideogram_enabled,
    reframe_enabled = excluded.reframe_enabled,
    language = excluded.language,
    updated_at = excluded.updated_at
"""
# (guild_id): a read-change-write of a guild's settings holds its row (made if missing).
CREATE_GUILD_SETTINGS_ROW = (
    "INSERT INTO guild_settings (guild_id) VALUES (?) ON CONFLICT DO NOTHING"
)
LOCK_GUILD_SETTINGS_ROW = "SELECT guild_id FROM guild_settings WHERE guild_id = ? FOR UPDATE"
SELECT_ALLOWED_CHANNELS = (
    "SELECT channel_id FROM guild_allowed_channels WHERE guild_id = ? ORDER BY channel_id"
)
INSERT_ALLOWED_CHANNEL = (
    "INSERT INTO guild_allowed_channels (guild_id, channel_id) VALUES (?, ?) "
    "ON CONFLICT DO NOTHING"
)
DELETE_ALLOWED_CHANNEL = "DELETE FROM guild_allowed_channels WHERE guild_id = ? AND channel_id = ?"
SELECT_BLOCKED_WORDS = (
    'SELECT phrase FROM guild_blocked_words WHERE guild_id = ? ORDER BY phrase COLLATE "C"'
)
INSERT_BLOCKED_WORD = (
    "INSERT INTO guild_blocked_words (guild_id, phrase) VALUES (?, ?) ON CONFLICT DO NOTHING"
)
DELETE_BLOCKED_WORD = "DELETE FROM guild_blocked_words WHERE guild_id = ? AND phrase = ?"
