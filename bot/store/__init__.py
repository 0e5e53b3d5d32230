"""The bot's SQLite store: jobs, guild settings and the quota tables.

Open it once with ``store = await Store.open(database_url)`` and ``await store.close()``
at shutdown (or ``async with await Store.open(url) as store:``). SQL lives in
``bot.store.sql``; the schema history in ``bot.store.migrations``.
"""

from bot.store.migrations import LATEST_VERSION, MIGRATIONS, Migration
from bot.store.store import (
    GuildSettings,
    JobNotFoundError,
    PresetLimitError,
    Store,
    StoreBusyError,
    StoreError,
    parse_database_url,
)

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "GuildSettings",
    "JobNotFoundError",
    "Migration",
    "PresetLimitError",
    "Store",
    "StoreBusyError",
    "StoreError",
    "parse_database_url",
]
