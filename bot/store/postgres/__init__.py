"""The PostgreSQL engine: :class:`PostgresStore`, its SQL (:mod:`.sql`) and its schema
history (:mod:`.migrations`)."""

from bot.store.postgres.store import PostgresStore, redact_url

__all__ = ["PostgresStore", "redact_url"]
