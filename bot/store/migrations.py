"""The schema's history: what each version does, and SQLite's ordered list of migrations.

Migration *n* takes a database from version *n - 1* to *n*; its last statement records
*n* (SQLite: ``PRAGMA user_version``; the runner checks it). Both engines have the same
versions, named once in :data:`NAMES`; each engine gives its own statements for each
(:func:`numbered`), SQLite's here and PostgreSQL's in :mod:`bot.store.postgres.migrations`.
Never edit a released migration: add a new one at the end, on both engines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.store import error_codes_migration, sql


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: its statements, which end by setting ``version``."""

    version: int
    name: str
    statements: tuple[str, ...]


#: What each schema version does, on either engine (version *n* is ``NAMES[n]``).
NAMES: Mapping[int, str] = {
    1: "jobs, guild settings and quota tables",
    2: "jobs.revised_prompt and jobs.deleted_at",
    3: "quota: reservations' job_key and forgiven, usage totals kept by triggers",
    4: "jobs written before the reply: submitting_at, sealed_token, token_expires_at",
    5: "batches, the preset a job used, server presets and their audit",
    6: "languages: guild_settings.language and jobs.locale",
    error_codes_migration.VERSION: error_codes_migration.NAME,
}


def numbered(set_version: Callable[[int], str],
             statements: Mapping[int, tuple[str, ...]]) -> tuple[Migration, ...]:
    """Return one engine's migrations: for each version its statements, then ``set_version``.

    ``statements`` maps every version of :data:`NAMES` to the engine's statements for it.
    """
    if sorted(statements) != sorted(NAMES):
        raise ValueError(f"migrations for versions {sorted(statements)}, "
                         f"expected {sorted(NAMES)}")
    return tuple(Migration(version, NAMES[version],
                           (*statements[version], set_version(version)))
                 for version in sorted(statements))


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
        sql.M0001_INDEX_USAGE_GUILD_USER_DAY,
        sql.M0001_INDEX_USAGE_GUILD_MONTH,
        sql.M0001_INDEX_USAGE_STATE,
        sql.M0001_INDEX_USAGE_JOB,
        sql.M0001_CREATE_QUOTA_AUDIT,
        sql.M0001_INDEX_QUOTA_AUDIT_GUILD,
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
        sql.M0003_DROP_INDEX_USAGE_GUILD_USER_DAY,
        sql.M0003_DROP_INDEX_USAGE_GUILD_MONTH,
        sql.M0003_DROP_INDEX_USAGE_STATE,
        sql.M0003_CREATE_USAGE_TOTALS,
        sql.M0003_FILL_USAGE_TOTALS_MEMBER_DAY,
        sql.M0003_FILL_USAGE_TOTALS_GUILD_DAY,
        sql.M0003_FILL_USAGE_TOTALS_GUILD_MONTH,
        sql.M0003_TRIGGER_USAGE_INSERT,
        sql.M0003_TRIGGER_USAGE_DELETE,
        sql.M0003_TRIGGER_USAGE_UPDATE,
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
        sql.M0005_CREATE_SETTINGS_AUDIT,
        sql.M0005_INDEX_SETTINGS_AUDIT,
    ),
    6: (
        sql.M0006_ADD_GUILD_SETTINGS_LANGUAGE,
        sql.M0006_ADD_JOBS_LOCALE,
    ),
    7: (error_codes_migration.SQLITE_CONVERT,),
})

LATEST_VERSION: int = MIGRATIONS[-1].version


def check_migrations(migrations: Sequence[Migration]) -> None:
    """Raise ``ValueError`` unless the versions run 1, 2, … without gaps."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise ValueError(
                f"migration {migration.name!r} has version {migration.version}, "
                f"expected {expected}: versions must run 1, 2, … without gaps"
            )
        if not migration.statements:
            raise ValueError(f"migration {migration.version} has no statements")


check_migrations(MIGRATIONS)
