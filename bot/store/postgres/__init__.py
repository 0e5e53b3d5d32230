"""The PostgreSQL engine of the store.

:class:`PostgresStore`, its SQL (:mod:`.sql`) and its schema history (:mod:`.migrations`).
"""

from bot.store.postgres.connection import redact_url
from bot.store.postgres.store import PostgresStore

__all__ = ["PostgresStore", "redact_url"]
