"""The PostgreSQL schema: its version table, then migration by migration.

As in SQLite's schema module, each constant named ``M<version>_…`` is a statement of that
migration, run in the order it stands here (:func:`bot.store.migrations.collected`). Most
are portable, written once in :mod:`bot.store.sql.schema` (tables and columns with their
types as placeholders, which :data:`DIALECT` writes as PostgreSQL's) and imported here,
each where it runs. This module writes only what really differs: expression indexes, the
PL/pgSQL that keeps the usage totals, PostgreSQL's own ``job_leases`` table and the
version table ``store_schema``.

A new table or column: write it once in :mod:`bot.store.sql.schema`, with placeholders
for its types, and import it here in its migration's section. A statement whose text must
differ is written here under the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from bot.store import error_codes_migration
from bot.store.sql.schema import PLACEHOLDERS

#: One transaction-wide lock for migrations: two processes starting at once migrate once.
MIGRATION_LOCK_KEY = 7_150_915_001
LOCK_MIGRATIONS = f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
CREATE_SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS store_schema (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    version  integer NOT NULL
)
"""
INSERT_SCHEMA_ROW = "INSERT INTO store_schema (version) VALUES (0) ON CONFLICT DO NOTHING"
SELECT_SCHEMA_VERSION = "SELECT version FROM store_schema"
#: The health probe's write: the schema version rewritten with its own value.
PROBE_WRITE = "UPDATE store_schema SET version = version"


def set_version(version: int) -> str:
    """Return the statement that records schema ``version``."""
    return f"UPDATE store_schema SET version = {int(version)}"


#: PostgreSQL's text for each placeholder of the portable statements.
DIALECT: Final[Mapping[str, str]] = {name: text.postgres for name, text in PLACEHOLDERS.items()}

# Each portable statement (written once, in bot.store.sql.schema) is imported where it
# runs: the order of this module's ``M…`` constants is the order of its migrations. Hence
# imports below code (E402), unsorted.
# isort: off

# --------------------------------------------------------------------------- migration 1

from bot.store.sql.schema import (  # noqa: E402
    M0001_CREATE_JOBS as M0001_CREATE_JOBS,
    M0001_INDEX_JOBS_STATUS as M0001_INDEX_JOBS_STATUS,
)

# A job's guild as the queries match it, coalesce(guild_id, 0) (see bot.store.postgres.sql).
M0001_INDEX_JOBS_GUILD_CREATED = (
    "CREATE INDEX idx_jobs_guild_created ON jobs ((coalesce(guild_id, 0)), created_at)"
)
from bot.store.sql.schema import (  # noqa: E402
    M0001_INDEX_JOBS_USER_CREATED as M0001_INDEX_JOBS_USER_CREATED,
    M0001_INDEX_JOBS_REQUEST as M0001_INDEX_JOBS_REQUEST,
    M0001_CREATE_GUILD_SETTINGS as M0001_CREATE_GUILD_SETTINGS,
    M0001_CREATE_GUILD_ALLOWED_CHANNELS as M0001_CREATE_GUILD_ALLOWED_CHANNELS,
    M0001_CREATE_GUILD_BLOCKED_WORDS as M0001_CREATE_GUILD_BLOCKED_WORDS,
    M0001_CREATE_GUILD_LIMITS as M0001_CREATE_GUILD_LIMITS,
    M0001_CREATE_MEMBER_OVERRIDES as M0001_CREATE_MEMBER_OVERRIDES,
    M0001_CREATE_USAGE_RESERVATIONS as M0001_CREATE_USAGE_RESERVATIONS,
    M0001_INDEX_USAGE_GUILD_DAY as M0001_INDEX_USAGE_GUILD_DAY,
    M0001_INDEX_USAGE_JOB as M0001_INDEX_USAGE_JOB,
    M0001_CREATE_QUOTA_AUDIT as M0001_CREATE_QUOTA_AUDIT,
    M0001_INDEX_QUOTA_AUDIT_GUILD as M0001_INDEX_QUOTA_AUDIT_GUILD,
)

# Which process owns an unfinished (or undelivered) job: ``owner`` names the process by
# its shards (stable across its restarts), ``incarnation`` this run of it, ``expires_at``
# (epoch seconds, the server's clock) when others may take the job over.
M0001_CREATE_JOB_LEASES = """
CREATE TABLE job_leases (
    job_id       text PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    owner        text NOT NULL,
    incarnation  text NOT NULL,
    expires_at   double precision NOT NULL
)
"""
M0001_INDEX_JOB_LEASES_OWNER = "CREATE INDEX idx_job_leases_owner ON job_leases (owner)"

# --------------------------------------------------------------------------- migration 2

from bot.store.sql.schema import (  # noqa: E402
    M0002_ADD_JOBS_REVISED_PROMPT as M0002_ADD_JOBS_REVISED_PROMPT,
    M0002_ADD_JOBS_DELETED_AT as M0002_ADD_JOBS_DELETED_AT,
    M0002_INDEX_JOBS_MODEL_FINISHED as M0002_INDEX_JOBS_MODEL_FINISHED,
)

# --------------------------------------------------------------------------- migration 3

from bot.store.sql.schema import (  # noqa: E402
    M0003_ADD_USAGE_JOB_KEY as M0003_ADD_USAGE_JOB_KEY,
    M0003_ADD_USAGE_FORGIVEN as M0003_ADD_USAGE_FORGIVEN,
    M0003_INDEX_USAGE_JOB_KEY as M0003_INDEX_USAGE_JOB_KEY,
    M0003_INDEX_USAGE_IN_FLIGHT as M0003_INDEX_USAGE_IN_FLIGHT,
    M0003_INDEX_USAGE_USER_CREATED as M0003_INDEX_USAGE_USER_CREATED,
    M0003_CREATE_USAGE_TOTALS as M0003_CREATE_USAGE_TOTALS,
)

M0003_FILL_USAGE_TOTALS = """
INSERT INTO usage_totals (guild_id, user_id, period, units, spent, reserved_cost)
SELECT coalesce(guild_id, 0), user_id, day,
       sum(CASE WHEN state <> 'released' AND forgiven = 0 THEN units ELSE 0 END), 0, 0
FROM usage_reservations GROUP BY coalesce(guild_id, 0), user_id, day
UNION ALL
SELECT coalesce(guild_id, 0), 0, day,
       sum(CASE WHEN state <> 'released' AND forgiven = 0 THEN units ELSE 0 END), 0, 0
FROM usage_reservations GROUP BY coalesce(guild_id, 0), day
UNION ALL
SELECT coalesce(guild_id, 0), 0, month,
       sum(CASE WHEN state <> 'released' THEN units ELSE 0 END),
       sum(CASE WHEN state = 'committed' THEN coalesce(cost_actual, 0) ELSE 0 END),
       sum(CASE WHEN state = 'reserved' THEN coalesce(cost_estimate, 0) ELSE 0 END)
FROM usage_reservations GROUP BY coalesce(guild_id, 0), month
"""
# The running totals, as SQLite's triggers keep them. The (guild, 0, month) row comes
# first: it is the row a quota decision locks (LOCK_QUOTA_GUILDS), so every writer takes
# a guild's rows in the same order and none waits for another in a circle.
M0003_CREATE_USAGE_TOTALS_APPLY = """
CREATE FUNCTION usage_totals_apply(r usage_reservations, sign integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    day_units integer := CASE WHEN r.state <> 'released' AND r.forgiven = 0
                              THEN r.units ELSE 0 END;
BEGIN
    INSERT INTO usage_totals AS t (guild_id, user_id, period, units, spent, reserved_cost)
    VALUES (coalesce(r.guild_id, 0), 0, r.month,
            sign * (CASE WHEN r.state <> 'released' THEN r.units ELSE 0 END),
            sign * (CASE WHEN r.state = 'committed' THEN coalesce(r.cost_actual, 0) ELSE 0 END),
            sign * (CASE WHEN r.state = 'reserved' THEN coalesce(r.cost_estimate, 0) ELSE 0 END)),
           (coalesce(r.guild_id, 0), r.user_id, r.day, sign * day_units, 0, 0),
           (coalesce(r.guild_id, 0), 0, r.day, sign * day_units, 0, 0)
    ON CONFLICT (guild_id, user_id, period) DO UPDATE SET
        units = t.units + excluded.units,
        spent = t.spent + excluded.spent,
        reserved_cost = t.reserved_cost + excluded.reserved_cost;
END
$$
"""
M0003_CREATE_USAGE_TOTALS_TRIGGER_FUNCTION = """
CREATE FUNCTION usage_totals_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM usage_totals_apply(OLD, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM usage_totals_apply(NEW, 1);
    END IF;
    RETURN NULL;
END
$$
"""
M0003_CREATE_USAGE_TOTALS_TRIGGER = """
CREATE TRIGGER usage_totals_after_change
AFTER INSERT OR DELETE OR UPDATE OF guild_id, user_id, units, cost_estimate, cost_actual,
    state, day, month, forgiven
ON usage_reservations FOR EACH ROW EXECUTE FUNCTION usage_totals_follow()
"""

# --------------------------------------------------------------------------- migration 4

from bot.store.sql.schema import (  # noqa: E402
    M0004_ADD_JOBS_SUBMITTING_AT as M0004_ADD_JOBS_SUBMITTING_AT,
    M0004_ADD_JOBS_SEALED_TOKEN as M0004_ADD_JOBS_SEALED_TOKEN,
    M0004_ADD_JOBS_TOKEN_EXPIRES_AT as M0004_ADD_JOBS_TOKEN_EXPIRES_AT,
    M0004_INDEX_JOBS_UNDELIVERED as M0004_INDEX_JOBS_UNDELIVERED,
)

# --------------------------------------------------------------------------- migration 5

from bot.store.sql.schema import (  # noqa: E402
    M0005_ADD_JOBS_BATCH_ID as M0005_ADD_JOBS_BATCH_ID,
    M0005_ADD_JOBS_BATCH_INDEX as M0005_ADD_JOBS_BATCH_INDEX,
    M0005_ADD_JOBS_BATCH_SIZE as M0005_ADD_JOBS_BATCH_SIZE,
    M0005_ADD_JOBS_PRESET as M0005_ADD_JOBS_PRESET,
    M0005_INDEX_JOBS_BATCH as M0005_INDEX_JOBS_BATCH,
    M0005_CREATE_PRESETS as M0005_CREATE_PRESETS,
)

# SQLite's ``name ... COLLATE NOCASE`` key: one preset per name whatever its case.
M0005_INDEX_PRESETS_NAME = (
    "CREATE UNIQUE INDEX idx_presets_guild_name ON presets (guild_id, lower(name))"
)

from bot.store.sql.schema import (  # noqa: E402
    M0005_CREATE_SETTINGS_AUDIT as M0005_CREATE_SETTINGS_AUDIT,
    M0005_INDEX_SETTINGS_AUDIT as M0005_INDEX_SETTINGS_AUDIT,
)

# --------------------------------------------------------------------------- migration 6

from bot.store.sql.schema import (  # noqa: E402
    M0006_ADD_GUILD_SETTINGS_LANGUAGE as M0006_ADD_GUILD_SETTINGS_LANGUAGE,
    M0006_ADD_JOBS_LOCALE as M0006_ADD_JOBS_LOCALE,
)

# --------------------------------------------------------------------------- migration 7

M0007_CONVERT_JOB_ERRORS = error_codes_migration.POSTGRES_CONVERT
