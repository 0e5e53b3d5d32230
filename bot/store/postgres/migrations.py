"""The PostgreSQL schema's history, version for version the same as SQLite's.

The same migrations, in intent, as SQLite's (:mod:`bot.store.migrations`, which names
each version once), so that a database of either engine at version *n* holds the same
tables and columns. Tracked in ``store_schema.version``; each migration's last statement
sets it (the runner checks). PostgreSQL alone has the ``job_leases`` table (several
processes), created with version 1.

Adding a migration: name it in ``NAMES`` and give its statements in *both* lists.
"""

from __future__ import annotations

from bot.store import error_codes_migration
from bot.store.migrations import Migration, check_migrations, numbered
from bot.store.postgres import sql

MIGRATIONS: tuple[Migration, ...] = numbered(sql.set_version, {
    1: (
        sql.M0001_CREATE_JOBS,
        sql.M0001_INDEX_JOBS_STATUS,
        sql.M0001_INDEX_JOBS_GUILD_CREATED,
        sql.M0001_INDEX_JOBS_USER_CREATED,
        sql.M0001_INDEX_JOBS_REQUEST,
        sql.M0001_CREATE_GUILD_SETTINGS,
        sql.M0001_CREATE_GUILD_ALLOWED_CHANNELS,
        sql.M0001_CREATE_GUILD_BLOCKED_WORDS,
        sql.M0001_CREATE_GUILD_LIMITS,
        sql.M0001_CREATE_MEMBER_OVERRIDES,
        sql.M0001_CREATE_USAGE_RESERVATIONS,
        sql.M0001_INDEX_USAGE_GUILD_DAY,
        sql.M0001_INDEX_USAGE_JOB,
        sql.M0001_CREATE_QUOTA_AUDIT,
        sql.M0001_INDEX_QUOTA_AUDIT_GUILD,
        sql.M0001_CREATE_JOB_LEASES,
        sql.M0001_INDEX_JOB_LEASES_OWNER,
    ),
    2: (
        sql.M0002_ADD_JOBS_REVISED_PROMPT,
        sql.M0002_ADD_JOBS_DELETED_AT,
        sql.M0002_INDEX_JOBS_MODEL_FINISHED,
    ),
    3: (
        sql.M0003_ADD_USAGE_JOB_KEY,
        sql.M0003_ADD_USAGE_FORGIVEN,
        sql.M0003_INDEX_USAGE_JOB_KEY,
        sql.M0003_INDEX_USAGE_IN_FLIGHT,
        sql.M0003_INDEX_USAGE_USER_CREATED,
        sql.M0003_CREATE_USAGE_TOTALS,
        sql.M0003_FILL_USAGE_TOTALS,
        sql.M0003_CREATE_USAGE_TOTALS_APPLY,
        sql.M0003_CREATE_USAGE_TOTALS_TRIGGER_FUNCTION,
        sql.M0003_CREATE_USAGE_TOTALS_TRIGGER,
    ),
    4: (
        sql.M0004_ADD_JOBS_SUBMITTING_AT,
        sql.M0004_ADD_JOBS_SEALED_TOKEN,
        sql.M0004_ADD_JOBS_TOKEN_EXPIRES_AT,
        sql.M0004_INDEX_JOBS_UNDELIVERED,
    ),
    5: (
        sql.M0005_ADD_JOBS_BATCH_ID,
        sql.M0005_ADD_JOBS_BATCH_INDEX,
        sql.M0005_ADD_JOBS_BATCH_SIZE,
        sql.M0005_ADD_JOBS_PRESET,
        sql.M0005_INDEX_JOBS_BATCH,
        sql.M0005_CREATE_PRESETS,
        sql.M0005_INDEX_PRESETS_NAME,
        sql.M0005_CREATE_SETTINGS_AUDIT,
        sql.M0005_INDEX_SETTINGS_AUDIT,
    ),
    6: (
        sql.M0006_ADD_GUILD_SETTINGS_LANGUAGE,
        sql.M0006_ADD_JOBS_LOCALE,
    ),
    7: (error_codes_migration.POSTGRES_CONVERT,),
})

LATEST_VERSION: int = MIGRATIONS[-1].version

check_migrations(MIGRATIONS)
