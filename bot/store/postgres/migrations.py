"""The PostgreSQL schema's history, version for version the same as SQLite's.

The same migrations, in intent, as SQLite's (:mod:`bot.store.migrations`, which names
each version once), so that a database of either engine at version *n* holds the same
tables and columns. Tracked in ``store_schema.version``; each migration's last statement
sets it (the runner checks). PostgreSQL alone has the ``job_leases`` table (several
processes), created with version 1.

Each migration's statements are the ``M<version>_…`` constants of
:mod:`bot.store.postgres.sql.schema`, in the order that module defines or imports them
(:func:`bot.store.migrations.collected`). Adding a migration: name it in ``NAMES`` and
write its statements in both schema modules; a new table or column is written once, in
:mod:`bot.store.sql.schema` with placeholders for its types, and imported by PostgreSQL's
schema module where it runs.
"""

from __future__ import annotations

from bot.store.migrations import Migration, check_migrations, collected, numbered
from bot.store.postgres.sql import schema

MIGRATIONS: tuple[Migration, ...] = numbered(schema.set_version, collected(schema, schema.DIALECT))

LATEST_VERSION: int = MIGRATIONS[-1].version

check_migrations(MIGRATIONS)
