"""The SQLite schema, migration by migration: every statement its migrations run.

Each constant named ``M<version>_…`` is a statement of that migration; a migration's
statements run in the order they stand here (:func:`bot.store.migrations.collected`). A
new column or table goes at the end, in a new migration (named in
:data:`bot.store.migrations.NAMES`), never into a released one.

The indexes are portable: PostgreSQL's schema module imports them as they are. Tables and
columns are each dialect's own (its types).
"""

from __future__ import annotations

from bot.store import error_codes_migration


def set_version(version: int) -> str:
    """Return the statement that records schema ``version`` (a migration's last).

    A PRAGMA takes no bound parameters: the whole number is written into the text.
    """
    return f"PRAGMA user_version = {int(version)}"


# --------------------------------------------------------------------------- migration 1

M0001_CREATE_JOBS = """
CREATE TABLE jobs (
    id              TEXT PRIMARY KEY NOT NULL,
    request_id      TEXT,
    provider        TEXT NOT NULL,
    model           TEXT NOT NULL,
    guild_id        INTEGER,
    channel_id      INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    application_id  INTEGER,
    interaction_id  INTEGER,
    message_id      INTEGER,
    inputs          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(inputs)),
    seed            INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'queued', 'running',
                                      'completed', 'failed', 'cancelled')),
    queue_position  INTEGER,
    error           TEXT,
    result_urls     TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(result_urls)),
    cost            REAL,
    created_at      REAL NOT NULL,
    submitted_at    REAL,
    started_at      REAL,
    finished_at     REAL,
    delivered_at    REAL,
    updated_at      REAL NOT NULL
)
"""
M0001_INDEX_JOBS_STATUS = "CREATE INDEX idx_jobs_status ON jobs (status)"
M0001_INDEX_JOBS_GUILD_CREATED = (
    "CREATE INDEX idx_jobs_guild_created ON jobs (guild_id, created_at)"
)
M0001_INDEX_JOBS_USER_CREATED = "CREATE INDEX idx_jobs_user_created ON jobs (user_id, created_at)"
M0001_INDEX_JOBS_REQUEST = "CREATE INDEX idx_jobs_request_id ON jobs (request_id)"

M0001_CREATE_GUILD_SETTINGS = """
CREATE TABLE guild_settings (
    guild_id          INTEGER PRIMARY KEY NOT NULL,
    provider          TEXT,
    log_channel_id    INTEGER,
    ideogram_enabled  INTEGER NOT NULL DEFAULT 1 CHECK (ideogram_enabled IN (0, 1)),
    reframe_enabled   INTEGER NOT NULL DEFAULT 1 CHECK (reframe_enabled IN (0, 1)),
    updated_at        REAL
)
"""
M0001_CREATE_GUILD_ALLOWED_CHANNELS = """
CREATE TABLE guild_allowed_channels (
    guild_id    INTEGER NOT NULL,
    channel_id  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
)
"""
M0001_CREATE_GUILD_BLOCKED_WORDS = """
CREATE TABLE guild_blocked_words (
    guild_id  INTEGER NOT NULL,
    phrase    TEXT NOT NULL,
    PRIMARY KEY (guild_id, phrase)
)
"""
M0001_CREATE_GUILD_LIMITS = """
CREATE TABLE guild_limits (
    guild_id  INTEGER NOT NULL,
    name      TEXT NOT NULL,
    value     REAL NOT NULL,
    PRIMARY KEY (guild_id, name)
)
"""
M0001_CREATE_MEMBER_OVERRIDES = """
CREATE TABLE member_overrides (
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    daily     INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
)
"""
# job_id may be NULL: a reservation is taken before the job row exists (or the job
# row is written in the same transaction) and linked to it afterwards.
M0001_CREATE_USAGE_RESERVATIONS = """
CREATE TABLE usage_reservations (
    id             INTEGER PRIMARY KEY,
    job_id         TEXT REFERENCES jobs (id) ON DELETE CASCADE,
    guild_id       INTEGER,
    user_id        INTEGER NOT NULL,
    units          INTEGER NOT NULL DEFAULT 1 CHECK (units >= 0),
    cost_estimate  REAL,
    cost_actual    REAL,
    state          TEXT NOT NULL DEFAULT 'reserved'
                   CHECK (state IN ('reserved', 'committed', 'released')),
    day            TEXT NOT NULL,
    month          TEXT NOT NULL,
    created_at     REAL NOT NULL,
    settled_at     REAL
)
"""
M0001_INDEX_USAGE_GUILD_DAY = (
    "CREATE INDEX idx_usage_guild_day ON usage_reservations (guild_id, day)"
)
M0001_INDEX_USAGE_GUILD_USER_DAY = (
    "CREATE INDEX idx_usage_guild_user_day ON usage_reservations (guild_id, user_id, day)"
)
M0001_INDEX_USAGE_GUILD_MONTH = (
    "CREATE INDEX idx_usage_guild_month ON usage_reservations (guild_id, month)"
)
M0001_INDEX_USAGE_STATE = "CREATE INDEX idx_usage_state ON usage_reservations (state)"
M0001_INDEX_USAGE_JOB = "CREATE INDEX idx_usage_job ON usage_reservations (job_id)"
M0001_CREATE_QUOTA_AUDIT = """
CREATE TABLE quota_audit (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    actor_id    INTEGER NOT NULL,
    action      TEXT NOT NULL,
    user_id     INTEGER,
    old_value   REAL,
    new_value   REAL,
    created_at  REAL NOT NULL
)
"""
M0001_INDEX_QUOTA_AUDIT_GUILD = (
    "CREATE INDEX idx_quota_audit_guild_created ON quota_audit (guild_id, created_at)"
)

# --------------------------------------------------------------------------- migration 2

M0002_ADD_JOBS_REVISED_PROMPT = "ALTER TABLE jobs ADD COLUMN revised_prompt TEXT"
M0002_ADD_JOBS_DELETED_AT = "ALTER TABLE jobs ADD COLUMN deleted_at REAL"
M0002_INDEX_JOBS_MODEL_FINISHED = (
    "CREATE INDEX idx_jobs_model_finished ON jobs (model, status, finished_at)"
)

# --------------------------------------------------------------------------- migration 3

# A quota reservation is taken by a launch check, before JobTracker.submit writes the job
# row, so it names its job by ``job_key`` (the job id; no foreign key, so it can exist
# first). ``job_id`` is filled in when the reservation is settled. ``forgiven``: set by
# ``/quota reset``; forgiven use no longer counts towards daily limits or the cooldown.
M0003_ADD_USAGE_JOB_KEY = "ALTER TABLE usage_reservations ADD COLUMN job_key TEXT"
M0003_ADD_USAGE_FORGIVEN = (
    "ALTER TABLE usage_reservations ADD COLUMN forgiven INTEGER NOT NULL DEFAULT 0 "
    "CHECK (forgiven IN (0, 1))"
)
M0003_INDEX_USAGE_JOB_KEY = "CREATE UNIQUE INDEX idx_usage_job_key ON usage_reservations (job_key)"
# max_concurrent: a member's in-flight reservations.
M0003_INDEX_USAGE_IN_FLIGHT = (
    "CREATE INDEX idx_usage_in_flight ON usage_reservations (guild_id, user_id) "
    "WHERE state = 'reserved'"
)
# The cooldown: a member's latest reservation.
M0003_INDEX_USAGE_USER_CREATED = (
    "CREATE INDEX idx_usage_guild_user_created "
    "ON usage_reservations (guild_id, user_id, created_at)"
)
# With the totals, these migration-1 indexes serve no query; each cost every reservation
# write a B-tree update (dropping them: about a quarter more grants per second).
M0003_DROP_INDEX_USAGE_GUILD_USER_DAY = "DROP INDEX IF EXISTS idx_usage_guild_user_day"
M0003_DROP_INDEX_USAGE_GUILD_MONTH = "DROP INDEX IF EXISTS idx_usage_guild_month"
M0003_DROP_INDEX_USAGE_STATE = "DROP INDEX IF EXISTS idx_usage_state"
# Running totals of usage_reservations, kept by the triggers below in the same transaction
# as every insert, update and delete of a reservation, so a quota decision reads a few
# rows instead of summing a busy month. Rows: (guild, member, day) and (guild, 0, day):
# images of the day that are neither released nor forgiven; (guild, 0, month): images of
# the month not released, the committed cost (``spent``) and the estimates in flight.
M0003_CREATE_USAGE_TOTALS = """
CREATE TABLE usage_totals (
    guild_id       INTEGER NOT NULL,
    user_id        INTEGER NOT NULL,
    period         TEXT NOT NULL,
    units          INTEGER NOT NULL DEFAULT 0,
    spent          REAL NOT NULL DEFAULT 0,
    reserved_cost  REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, user_id, period)
) WITHOUT ROWID
"""
# Totals of the reservations that exist already (three disjoint sets of keys).
M0003_FILL_USAGE_TOTALS_MEMBER_DAY = """
INSERT INTO usage_totals (guild_id, user_id, period, units)
SELECT coalesce(guild_id, 0), user_id, day,
       sum(CASE WHEN state <> 'released' AND forgiven = 0 THEN units ELSE 0 END)
FROM usage_reservations GROUP BY coalesce(guild_id, 0), user_id, day
"""
M0003_FILL_USAGE_TOTALS_GUILD_DAY = """
INSERT INTO usage_totals (guild_id, user_id, period, units)
SELECT coalesce(guild_id, 0), 0, day,
       sum(CASE WHEN state <> 'released' AND forgiven = 0 THEN units ELSE 0 END)
FROM usage_reservations GROUP BY coalesce(guild_id, 0), day
"""
M0003_FILL_USAGE_TOTALS_GUILD_MONTH = """
INSERT INTO usage_totals (guild_id, user_id, period, units, spent, reserved_cost)
SELECT coalesce(guild_id, 0), 0, month,
       sum(CASE WHEN state <> 'released' THEN units ELSE 0 END),
       sum(CASE WHEN state = 'committed' THEN coalesce(cost_actual, 0) ELSE 0 END),
       sum(CASE WHEN state = 'reserved' THEN coalesce(cost_estimate, 0) ELSE 0 END)
FROM usage_reservations GROUP BY coalesce(guild_id, 0), month
"""


def _totals_upsert(row: str, sign: str) -> str:
    """The trigger statement adding (sign +) or removing (sign -) one reservation row."""
    day_units = (f"{sign}(CASE WHEN {row}.state <> 'released' AND {row}.forgiven = 0 "
                 f"THEN {row}.units ELSE 0 END)")
    month_units = f"{sign}(CASE WHEN {row}.state <> 'released' THEN {row}.units ELSE 0 END)"
    spent = (f"{sign}(CASE WHEN {row}.state = 'committed' "
             f"THEN coalesce({row}.cost_actual, 0) ELSE 0 END)")
    reserved = (f"{sign}(CASE WHEN {row}.state = 'reserved' "
                f"THEN coalesce({row}.cost_estimate, 0) ELSE 0 END)")
    guild = f"coalesce({row}.guild_id, 0)"
    return f"""
    INSERT INTO usage_totals (guild_id, user_id, period, units, spent, reserved_cost)
    VALUES ({guild}, {row}.user_id, {row}.day, {day_units}, 0, 0),
           ({guild}, 0, {row}.day, {day_units}, 0, 0),
           ({guild}, 0, {row}.month, {month_units}, {spent}, {reserved})
    ON CONFLICT (guild_id, user_id, period) DO UPDATE SET
        units = units + excluded.units,
        spent = spent + excluded.spent,
        reserved_cost = reserved_cost + excluded.reserved_cost;"""


M0003_TRIGGER_USAGE_INSERT = f"""
CREATE TRIGGER usage_totals_after_insert AFTER INSERT ON usage_reservations
BEGIN{_totals_upsert("NEW", "+")}
END
"""
M0003_TRIGGER_USAGE_DELETE = f"""
CREATE TRIGGER usage_totals_after_delete AFTER DELETE ON usage_reservations
BEGIN{_totals_upsert("OLD", "-")}
END
"""
M0003_TRIGGER_USAGE_UPDATE = f"""
CREATE TRIGGER usage_totals_after_update
AFTER UPDATE OF guild_id, user_id, units, cost_estimate, cost_actual, state, day, month,
                forgiven ON usage_reservations
BEGIN{_totals_upsert("OLD", "-")}{_totals_upsert("NEW", "+")}
END
"""
# --------------------------------------------------------------------------- migration 4

# A job row is now written with its reservation, before the interaction is answered:
# ``submitting_at`` marks the moment the provider may have been called (a restart never
# sends such a job again), ``sealed_token`` / ``token_expires_at`` let a restarted bot
# finish the job's own reply through the interaction webhook while the token lives.
M0004_ADD_JOBS_SUBMITTING_AT = "ALTER TABLE jobs ADD COLUMN submitting_at REAL"
M0004_ADD_JOBS_SEALED_TOKEN = "ALTER TABLE jobs ADD COLUMN sealed_token TEXT"
M0004_ADD_JOBS_TOKEN_EXPIRES_AT = "ALTER TABLE jobs ADD COLUMN token_expires_at REAL"
M0004_INDEX_JOBS_UNDELIVERED = (
    "CREATE INDEX idx_jobs_undelivered ON jobs (finished_at) WHERE delivered_at IS NULL"
)

# --------------------------------------------------------------------------- migration 5

# Batches (``/ideogram count:N``: N jobs sharing one reply), the preset a job used, server
# presets (a server's brand kit), and an audit of moderators' changes to them.
M0005_ADD_JOBS_BATCH_ID = "ALTER TABLE jobs ADD COLUMN batch_id TEXT"
M0005_ADD_JOBS_BATCH_INDEX = "ALTER TABLE jobs ADD COLUMN batch_index INTEGER"
M0005_ADD_JOBS_BATCH_SIZE = "ALTER TABLE jobs ADD COLUMN batch_size INTEGER"
M0005_ADD_JOBS_PRESET = "ALTER TABLE jobs ADD COLUMN preset TEXT"
M0005_INDEX_JOBS_BATCH = (
    "CREATE INDEX idx_jobs_batch ON jobs (batch_id, batch_index) WHERE batch_id IS NOT NULL"
)
M0005_CREATE_PRESETS = """
CREATE TABLE presets (
    guild_id         INTEGER NOT NULL,
    name             TEXT NOT NULL COLLATE NOCASE,
    style            TEXT,
    aspect_ratio     TEXT,
    magic_prompt     INTEGER CHECK (magic_prompt IN (0, 1)),
    negative_prompt  TEXT,
    prompt_suffix    TEXT,
    color_palette    TEXT,
    created_by       INTEGER NOT NULL,
    updated_at       REAL NOT NULL,
    PRIMARY KEY (guild_id, name)
)
"""
M0005_CREATE_SETTINGS_AUDIT = """
CREATE TABLE settings_audit (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    actor_id    INTEGER NOT NULL,
    action      TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL
)
"""
M0005_INDEX_SETTINGS_AUDIT = (
    "CREATE INDEX idx_settings_audit_guild ON settings_audit (guild_id, created_at)"
)

# --------------------------------------------------------------------------- migration 6

# Languages: a server's own choice (``/settings language``: en, pt-BR or it; NULL = follow
# the server's Discord language), and the language a job's public messages speak, fixed
# when the job starts so that a restart and a channel post still speak it.
M0006_ADD_GUILD_SETTINGS_LANGUAGE = "ALTER TABLE guild_settings ADD COLUMN language TEXT"
M0006_ADD_JOBS_LOCALE = "ALTER TABLE jobs ADD COLUMN locale TEXT"

# --------------------------------------------------------------------------- migration 7

M0007_CONVERT_JOB_ERRORS = error_codes_migration.SQLITE_CONVERT
