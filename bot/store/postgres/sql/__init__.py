"""Every PostgreSQL statement the store runs, as a named constant.

The names, and the parameters each statement takes, are those of the SQLite module
(:mod:`bot.store.sql`), so :class:`bot.store.base.Store` runs either. Parameters are
written the same way too, ``?`` (positional) or ``:name`` (from a dict); the PostgreSQL
store turns them into ``$1``, ``$2``, … once per statement (``compile_statement``).
Variable-length lists come as one JSON array, read with ``jsonb_array_elements_text``.

Differences from SQLite worth knowing: times are ``double precision`` (SQLite's REAL is
8 bytes; PostgreSQL's ``real`` is only 4); a job's guild is matched on
``coalesce(guild_id, 0)`` (jobs without a guild are DMs; no Discord server has id 0) so
that an index serves ``guild_id IS ?``; usage totals are kept by one PL/pgSQL trigger; and
the tables PostgreSQL alone needs: ``store_schema`` (the schema version, SQLite's
``PRAGMA user_version``) and ``job_leases`` (which process owns which job).

The statements live by area in the modules of this package; this one gathers them under
one namespace, which is what the store (``Store._sql``) reads. A statement whose text is
the same in both dialects is written once, in the SQLite module of its area, and imported
by the module here; these modules write only what differs.
"""

from __future__ import annotations

from bot.store.postgres.sql.jobs import *  # noqa: F403
from bot.store.postgres.sql.leases import *  # noqa: F403
from bot.store.postgres.sql.placeholders import *  # noqa: F403
from bot.store.postgres.sql.presets import *  # noqa: F403
from bot.store.postgres.sql.quota import *  # noqa: F403
from bot.store.postgres.sql.schema import *  # noqa: F403
from bot.store.postgres.sql.settings import *  # noqa: F403
