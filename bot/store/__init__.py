"""The bot's store: jobs, guild settings and the quota tables, on SQLite or PostgreSQL.

Open it once with ``store = await Store.open(database_url)`` and ``await store.close()``
at shutdown (or ``async with await Store.open(url) as store:``). ``Store`` is the interface
(:mod:`bot.store.base`); the engines are :mod:`bot.store.store` (SQLite: SQL in
``bot.store.sql``, schema history in ``bot.store.migrations``) and
:mod:`bot.store.postgres` (its own ``sql``, which imports the portable statements of
``bot.store.sql``, and ``migrations``, whose versions are named once in
``bot.store.migrations``).
"""

from bot.store.base import (
    GUILD_SETTINGS_TOPIC,
    JOB_ENDED_TOPIC,
    PRESETS_TOPIC,
    GuildSettings,
    JobNotFoundError,
    LeaseConfig,
    PresetLimitError,
    Store,
    StoreBusyError,
    StoreConflictError,
    StoreError,
    is_postgres_url,
)
from bot.store.migrations import LATEST_VERSION, MIGRATIONS, Migration
from bot.store.store import SqliteStore, parse_database_url

__all__ = [
    "GUILD_SETTINGS_TOPIC",
    "JOB_ENDED_TOPIC",
    "LATEST_VERSION",
    "MIGRATIONS",
    "PRESETS_TOPIC",
    "GuildSettings",
    "JobNotFoundError",
    "LeaseConfig",
    "Migration",
    "PresetLimitError",
    "SqliteStore",
    "Store",
    "StoreBusyError",
    "StoreConflictError",
    "StoreError",
    "is_postgres_url",
    "parse_database_url",
]
