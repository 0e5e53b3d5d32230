"""Server settings: the settings row, allowed channels and blocked words.

The statements whose text differs from SQLite's; the portable ones are imported from
:mod:`bot.store.sql.settings`.
"""

from __future__ import annotations

# Portable: the same text in both dialects.
from bot.store.sql.settings import DELETE_ALLOWED_CHANNEL as DELETE_ALLOWED_CHANNEL
from bot.store.sql.settings import DELETE_BLOCKED_WORD as DELETE_BLOCKED_WORD
from bot.store.sql.settings import SELECT_ALL_ALLOWED_CHANNELS as SELECT_ALL_ALLOWED_CHANNELS
from bot.store.sql.settings import SELECT_ALL_GUILD_SETTINGS as SELECT_ALL_GUILD_SETTINGS
from bot.store.sql.settings import SELECT_ALLOWED_CHANNELS as SELECT_ALLOWED_CHANNELS
from bot.store.sql.settings import SELECT_GUILD_SETTINGS as SELECT_GUILD_SETTINGS
from bot.store.sql.settings import UPSERT_GUILD_SETTINGS as UPSERT_GUILD_SETTINGS

# Phrases in byte order, as SQLite's BINARY collation sorts them.
SELECT_ALL_BLOCKED_WORDS = (
    'SELECT guild_id, phrase FROM guild_blocked_words ORDER BY phrase COLLATE "C"'
)
# (guild_id): a read-change-write of a guild's settings holds its row (made if missing).
CREATE_GUILD_SETTINGS_ROW = (
    "INSERT INTO guild_settings (guild_id) VALUES (?) ON CONFLICT DO NOTHING"
)
LOCK_GUILD_SETTINGS_ROW = "SELECT guild_id FROM guild_settings WHERE guild_id = ? FOR UPDATE"
INSERT_ALLOWED_CHANNEL = (
    "INSERT INTO guild_allowed_channels (guild_id, channel_id) VALUES (?, ?) "
    "ON CONFLICT DO NOTHING"
)
SELECT_BLOCKED_WORDS = (
    'SELECT phrase FROM guild_blocked_words WHERE guild_id = ? ORDER BY phrase COLLATE "C"'
)
INSERT_BLOCKED_WORD = (
    "INSERT INTO guild_blocked_words (guild_id, phrase) VALUES (?, ?) ON CONFLICT DO NOTHING"
)
