"""Server settings: the settings row, allowed channels and blocked words.

The first statements here are portable: the PostgreSQL store runs the same text (its
``settings`` module imports them). The rest are SQLite's own.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- portable

# Every guild's settings at once, for the in-memory settings cache (read at start).
SELECT_ALL_GUILD_SETTINGS = """
SELECT guild_id, provider, log_channel_id, ideogram_enabled, reframe_enabled, language,
       updated_at
FROM guild_settings
"""
SELECT_ALL_ALLOWED_CHANNELS = "SELECT guild_id, channel_id FROM guild_allowed_channels"

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
SELECT_ALLOWED_CHANNELS = (
    "SELECT channel_id FROM guild_allowed_channels WHERE guild_id = ? ORDER BY channel_id"
)
DELETE_ALLOWED_CHANNEL = "DELETE FROM guild_allowed_channels WHERE guild_id = ? AND channel_id = ?"
DELETE_BLOCKED_WORD = "DELETE FROM guild_blocked_words WHERE guild_id = ? AND phrase = ?"

# --------------------------------------------------------------------------- SQLite's own

# Phrases in byte order (SQLite's BINARY collation).
SELECT_ALL_BLOCKED_WORDS = "SELECT guild_id, phrase FROM guild_blocked_words ORDER BY phrase"
SELECT_BLOCKED_WORDS = "SELECT phrase FROM guild_blocked_words WHERE guild_id = ? ORDER BY phrase"
INSERT_ALLOWED_CHANNEL = (
    "INSERT OR IGNORE INTO guild_allowed_channels (guild_id, channel_id) VALUES (?, ?)"
)
INSERT_BLOCKED_WORD = "INSERT OR IGNORE INTO guild_blocked_words (guild_id, phrase) VALUES (?, ?)"
