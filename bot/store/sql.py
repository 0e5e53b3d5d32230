"""Every SQL statement the store runs, as a named constant.

Values are always bound as parameters (``?`` or ``:name``); nothing here is built by
formatting values into text. Statements that take a variable-length list of values
bind it as one JSON array and read it back with ``json_each`` (see ``*_IN_STATUSES``).

The ``jobs`` statements use named parameters whose names are the ``JobRecord`` fields.
"""

from __future__ import annotations

import functools
import re

_COLUMN = re.compile(r"^[a-z_][a-z0-9_]*$")

# --------------------------------------------------------------------------- connection

PRAGMA_JOURNAL_MODE_WAL = "PRAGMA journal_mode = WAL"
PRAGMA_FOREIGN_KEYS_ON = "PRAGMA foreign_keys = ON"
DEFAULT_BUSY_TIMEOUT_MS = 5000


def pragma_busy_timeout(milliseconds: int) -> str:
    """How long a statement waits for another connection's lock (a PRAGMA takes no
    parameters, so the whole number is written into the text)."""
    return f"PRAGMA busy_timeout = {int(milliseconds)}"
PRAGMA_SYNCHRONOUS_NORMAL = "PRAGMA synchronous = NORMAL"
PRAGMA_GET_USER_VERSION = "PRAGMA user_version"
PRAGMA_GET_JOURNAL_MODE = "PRAGMA journal_mode"
PRAGMA_GET_FOREIGN_KEYS = "PRAGMA foreign_keys"
#: The health probe's write: the schema version rewritten with its own value. A PRAGMA
#: takes no bound parameters; the one value formatted in is the int just read back.
PRAGMA_SET_USER_VERSION = "PRAGMA user_version = {version:d}"
#: On a clean stop: fold the WAL into the database file and empty it.
PRAGMA_WAL_CHECKPOINT_TRUNCATE = "PRAGMA wal_checkpoint(TRUNCATE)"

BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"
BEGIN_DEFERRED = "BEGIN DEFERRED"
COMMIT = "COMMIT"
ROLLBACK = "ROLLBACK"
# SQLite allows the same savepoint name to be nested; RELEASE / ROLLBACK TO act on the
# innermost one, which is what a nested ``Store.transaction()`` wants.
SAVEPOINT = "SAVEPOINT store_nested"
RELEASE_SAVEPOINT = "RELEASE SAVEPOINT store_nested"
ROLLBACK_TO_SAVEPOINT = "ROLLBACK TO SAVEPOINT store_nested"

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
M0001_SET_VERSION = "PRAGMA user_version = 1"

# --------------------------------------------------------------------------- migration 2

M0002_ADD_JOBS_REVISED_PROMPT = "ALTER TABLE jobs ADD COLUMN revised_prompt TEXT"
M0002_ADD_JOBS_DELETED_AT = "ALTER TABLE jobs ADD COLUMN deleted_at REAL"
M0002_INDEX_JOBS_MODEL_FINISHED = (
    "CREATE INDEX idx_jobs_model_finished ON jobs (model, status, finished_at)"
)
M0002_SET_VERSION = "PRAGMA user_version = 2"

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
# With the totals, these migration-1 indexes serve no query; each cost every reservation
# write a B-tree update (dropping them: about a quarter more grants per second).
M0003_DROP_INDEX_USAGE_GUILD_USER_DAY = "DROP INDEX IF EXISTS idx_usage_guild_user_day"
M0003_DROP_INDEX_USAGE_GUILD_MONTH = "DROP INDEX IF EXISTS idx_usage_guild_month"
M0003_DROP_INDEX_USAGE_STATE = "DROP INDEX IF EXISTS idx_usage_state"
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
M0003_SET_VERSION = "PRAGMA user_version = 3"

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
M0004_SET_VERSION = "PRAGMA user_version = 4"

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
M0005_SET_VERSION = "PRAGMA user_version = 5"

# --------------------------------------------------------------------------- migration 6

# Languages: a server's own choice (``/settings language``: en, pt-BR or it; NULL = follow
# the server's Discord language), and the language a job's public messages speak, fixed
# when the job starts so that a restart and a channel post still speak it.
M0006_ADD_GUILD_SETTINGS_LANGUAGE = "ALTER TABLE guild_settings ADD COLUMN language TEXT"
M0006_ADD_JOBS_LOCALE = "ALTER TABLE jobs ADD COLUMN locale TEXT"
M0006_SET_VERSION = "PRAGMA user_version = 6"

# --------------------------------------------------------------------------- jobs

INSERT_JOB = """
INSERT INTO jobs (
    id, request_id, provider, model, guild_id, channel_id, user_id, application_id,
    interaction_id, message_id, inputs, seed, status, queue_position, error, result_urls,
    cost, created_at, submitted_at, started_at, finished_at, delivered_at, updated_at,
    revised_prompt, deleted_at, submitting_at, sealed_token, token_expires_at, batch_id,
    batch_index, batch_size, preset, locale
) VALUES (
    :id, :request_id, :provider, :model, :guild_id, :channel_id, :user_id, :application_id,
    :interaction_id, :message_id, :inputs, :seed, :status, :queue_position, :error,
    :result_urls, :cost, :created_at, :submitted_at, :started_at, :finished_at,
    :delivered_at, :updated_at, :revised_prompt, :deleted_at, :submitting_at, :sealed_token,
    :token_expires_at, :batch_id, :batch_index, :batch_size, :preset, :locale
)
"""


@functools.lru_cache(maxsize=256)
def update_job_columns(columns: tuple[str, ...], *, if_status_in: bool) -> str:
    """``UPDATE jobs SET <column> = :<column>, … WHERE id = :id [AND status IN :expected]
    RETURNING *``: one statement, so a compare-and-set is atomic without a transaction.

    Only column *names* are put into the text (the store passes ``JobRecord`` field names,
    checked against that fixed list); every value is bound as a parameter.
    """
    if not columns or not all(_COLUMN.match(c) for c in columns):
        raise ValueError(f"bad job column list: {columns!r}")
    sets = ", ".join(f"{c} = :{c}" for c in columns)
    where = "id = :id"
    if if_status_in:
        where += " AND status IN (SELECT value FROM json_each(:expected))"
    return f"UPDATE jobs SET {sets} WHERE {where} RETURNING *"


SELECT_JOB = "SELECT * FROM jobs WHERE id = ?"
# (batch_id): every job of a batch, in its order
SELECT_BATCH_JOBS = "SELECT * FROM jobs WHERE batch_id = ? ORDER BY batch_index ASC"
# (guild_id, prefix length, prefix); two rows at most, so the caller can spot ambiguity.
SELECT_JOBS_BY_PREFIX = """
SELECT * FROM jobs
WHERE guild_id IS ? AND substr(id, 1, ?) = ?
ORDER BY created_at DESC, id DESC
LIMIT 2
"""
# (JSON array of statuses)
SELECT_JOBS_IN_STATUSES = """
SELECT * FROM jobs
WHERE status IN (SELECT value FROM json_each(?))
ORDER BY created_at ASC, id ASC
"""
# (JSON array of terminal statuses)
SELECT_UNDELIVERED_JOBS_IN_STATUSES = """
SELECT * FROM jobs
WHERE status IN (SELECT value FROM json_each(?)) AND delivered_at IS NULL
ORDER BY created_at ASC, id ASC
"""
# (guild_id, user_id, limit, offset)
SELECT_JOBS_FOR_USER = """
SELECT * FROM jobs
WHERE guild_id IS ? AND user_id = ?
ORDER BY created_at DESC, id DESC
LIMIT ? OFFSET ?
"""
# (guild_id, user_id)
COUNT_JOBS_FOR_USER = "SELECT count(*) FROM jobs WHERE guild_id IS ? AND user_id = ?"
# (guild_id, limit, offset); a limit of -1 means no limit.
SELECT_JOBS_FOR_GUILD = """
SELECT * FROM jobs
WHERE guild_id IS ?
ORDER BY created_at DESC, id DESC
LIMIT ? OFFSET ?
"""
# (model, completed status, limit) -> (queue_seconds, run_seconds), newest first
SELECT_RECENT_DURATIONS = """
SELECT max(0.0, started_at - submitted_at) AS queue_seconds,
       max(0.0, finished_at - started_at) AS run_seconds
FROM jobs
WHERE model = ? AND status = ?
  AND submitted_at IS NOT NULL AND started_at IS NOT NULL AND finished_at IS NOT NULL
ORDER BY finished_at DESC, id DESC
LIMIT ?
"""

# ------------------------------------------------------------- history, queue, retention

# (guild_id, user_id, limit, offset): what /history shows, newest first, without deleted jobs
SELECT_VISIBLE_JOBS_FOR_USER = """
SELECT * FROM jobs
WHERE guild_id IS ? AND user_id = ? AND deleted_at IS NULL
ORDER BY created_at DESC, id DESC
LIMIT ? OFFSET ?
"""
# (guild_id, user_id)
COUNT_VISIBLE_JOBS_FOR_USER = (
    "SELECT count(*) FROM jobs WHERE guild_id IS ? AND user_id = ? AND deleted_at IS NULL"
)
# :guild_id, :created_at and :id of the last row seen (NULL: from the start), :limit.
# Keyset paging, oldest first: rows written meanwhile never shift a page (CSV export).
SELECT_JOBS_FOR_GUILD_AFTER = """
SELECT * FROM jobs
WHERE guild_id IS :guild_id
  AND (:created_at IS NULL OR created_at > :created_at
       OR (created_at = :created_at AND id > :id))
ORDER BY created_at ASC, id ASC
LIMIT :limit
"""
# (guild_id, JSON array of statuses), oldest first (/queue)
SELECT_GUILD_JOBS_IN_STATUSES = """
SELECT * FROM jobs
WHERE guild_id IS ? AND status IN (SELECT value FROM json_each(?))
ORDER BY created_at ASC, id ASC
"""
# (created before, JSON array of terminal statuses, limit): one batch of prunable jobs
SELECT_PRUNABLE_JOB_IDS = """
SELECT id FROM jobs
WHERE created_at < ? AND status IN (SELECT value FROM json_each(?))
ORDER BY created_at ASC, id ASC
LIMIT ?
"""
# (JSON array of job ids): keep quota usage when its job row goes (the FK would cascade)
DETACH_USAGE_FROM_JOBS = """
UPDATE usage_reservations SET job_id = NULL
WHERE job_id IN (SELECT value FROM json_each(?))
"""
# (JSON array of job ids, JSON array of terminal statuses)
DELETE_JOBS_IN_STATUSES = """
DELETE FROM jobs
WHERE id IN (SELECT value FROM json_each(?)) AND status IN (SELECT value FROM json_each(?))
"""

# --------------------------------------------------------------------------- guild settings

# Every guild's settings at once, for the in-memory settings cache (read at start).
SELECT_ALL_GUILD_SETTINGS = """
SELECT guild_id, provider, log_channel_id, ideogram_enabled, reframe_enabled, language,
       updated_at
FROM guild_settings
"""
SELECT_ALL_ALLOWED_CHANNELS = "SELECT guild_id, channel_id FROM guild_allowed_channels"
SELECT_ALL_BLOCKED_WORDS = "SELECT guild_id, phrase FROM guild_blocked_words ORDER BY phrase"

SELECT_GUILD_SETTINGS = """
SELECT guild_id, provider, log_channel_id, ideogram_enabled, reframe_enabled, language,
       updated_at
FROM guild_settings WHERE guild_id = ?
"""
UPSERT_GUILD_SETTINGS = """
INSERT INTO guild_settings (
    guild_id, provider, log_channel_id, ideogram_enabled, reframe_enabled, language, updated_at
) VALUES (
    :guild_id, :provider, :log_channel_id, :ideogram_enabled, :reframe_enabled, :language,
    :updated_at
)
ON CONFLICT (guild_id) DO UPDATE SET
    provider = excluded.provider,
    log_channel_id = excluded.log_channel_id,
    ideogram_enabled = excluded.ideogram_enabled,
    reframe_enabled = excluded.reframe_enabled,
    language = excluded.language,
    updated_at = excluded.updated_at
"""
SELECT_ALLOWED_CHANNELS = (
    "SELECT channel_id FROM guild_allowed_channels WHERE guild_id = ? ORDER BY channel_id"
)
INSERT_ALLOWED_CHANNEL = (
    "INSERT OR IGNORE INTO guild_allowed_channels (guild_id, channel_id) VALUES (?, ?)"
)
DELETE_ALLOWED_CHANNEL = "DELETE FROM guild_allowed_channels WHERE guild_id = ? AND channel_id = ?"
SELECT_BLOCKED_WORDS = "SELECT phrase FROM guild_blocked_words WHERE guild_id = ? ORDER BY phrase"
INSERT_BLOCKED_WORD = "INSERT OR IGNORE INTO guild_blocked_words (guild_id, phrase) VALUES (?, ?)"
DELETE_BLOCKED_WORD = "DELETE FROM guild_blocked_words WHERE guild_id = ? AND phrase = ?"

# --------------------------------------------------------------------------- presets

# (guild_id) a server's presets, by name
SELECT_GUILD_PRESETS = "SELECT * FROM presets WHERE guild_id = ? ORDER BY name"
SELECT_ALL_PRESETS = "SELECT * FROM presets ORDER BY guild_id, name"
# (guild_id)
COUNT_GUILD_PRESETS = "SELECT count(*) FROM presets WHERE guild_id = ?"
# (guild_id, name)
SELECT_PRESET = "SELECT * FROM presets WHERE guild_id = ? AND name = ?"
UPSERT_PRESET = """
INSERT INTO presets (guild_id, name, style, aspect_ratio, magic_prompt, negative_prompt,
                     prompt_suffix, color_palette, created_by, updated_at)
VALUES (:guild_id, :name, :style, :aspect_ratio, :magic_prompt, :negative_prompt,
        :prompt_suffix, :color_palette, :created_by, :updated_at)
ON CONFLICT (guild_id, name) DO UPDATE SET
    name = excluded.name, style = excluded.style, aspect_ratio = excluded.aspect_ratio,
    magic_prompt = excluded.magic_prompt, negative_prompt = excluded.negative_prompt,
    prompt_suffix = excluded.prompt_suffix, color_palette = excluded.color_palette,
    created_by = excluded.created_by, updated_at = excluded.updated_at
"""
# (guild_id, name)
DELETE_PRESET = "DELETE FROM presets WHERE guild_id = ? AND name = ?"
# (guild_id, actor_id, action, detail, created_at)
INSERT_SETTINGS_AUDIT = """
INSERT INTO settings_audit (guild_id, actor_id, action, detail, created_at)
VALUES (?, ?, ?, ?, ?)
"""

# --------------------------------------------------------------------------- quota

# :guild_id, :user_id, :day ('YYYY-MM-DD', UTC), :month ('YYYY-MM') -> one row: every limit
# of the guild, the member's daily override and every use figure that a reservation
# decision (or /quota show) needs, so a decision is one statement inside BEGIN IMMEDIATE.
# Use = reservations not released (reserved ones count while in flight), read from the
# usage_totals the triggers keep; forgiven use (/quota reset) counts towards the month and
# the spend, not towards the day or the cooldown.
SELECT_QUOTA_SNAPSHOT = """
SELECT
    (SELECT value FROM guild_limits WHERE guild_id = :guild_id AND name = 'user_daily')
        AS user_daily,
    (SELECT value FROM guild_limits WHERE guild_id = :guild_id AND name = 'guild_daily')
        AS guild_daily,
    (SELECT value FROM guild_limits WHERE guild_id = :guild_id AND name = 'guild_monthly')
        AS guild_monthly,
    (SELECT value FROM guild_limits WHERE guild_id = :guild_id AND name = 'cooldown_seconds')
        AS cooldown_seconds,
    (SELECT value FROM guild_limits WHERE guild_id = :guild_id AND name = 'max_concurrent')
        AS max_concurrent,
    (SELECT value FROM guild_limits
     WHERE guild_id = :guild_id AND name = 'guild_monthly_budget') AS guild_monthly_budget,
    (SELECT daily FROM member_overrides WHERE guild_id = :guild_id AND user_id = :user_id)
        AS member_daily,
    coalesce((SELECT units FROM usage_totals
              WHERE guild_id = :guild_id AND user_id = :user_id AND period = :day), 0)
        AS user_day_units,
    coalesce((SELECT units FROM usage_totals
              WHERE guild_id = :guild_id AND user_id = 0 AND period = :day), 0)
        AS guild_day_units,
    coalesce(m.units, 0) AS guild_month_units,
    coalesce(m.spent, 0) AS month_spent,
    coalesce(m.reserved_cost, 0) AS month_reserved_cost,
    (SELECT count(*) FROM usage_reservations INDEXED BY idx_usage_in_flight
     WHERE guild_id = :guild_id AND user_id = :user_id AND state = 'reserved') AS in_flight,
    (SELECT created_at FROM usage_reservations
     WHERE guild_id = :guild_id AND user_id = :user_id AND state <> 'released' AND forgiven = 0
     ORDER BY created_at DESC LIMIT 1) AS last_reserved_at
FROM (SELECT 1) AS one
LEFT JOIN usage_totals AS m
    ON m.guild_id = :guild_id AND m.user_id = 0 AND m.period = :month
"""
INSERT_RESERVATION = """
INSERT INTO usage_reservations (
    job_key, guild_id, user_id, units, cost_estimate, state, day, month, created_at
) VALUES (
    :job_key, :guild_id, :user_id, :units, :cost_estimate, 'reserved', :day, :month, :created_at
)
"""
# :job_key, :state ('committed' | 'released'), :cost_actual (NULL when released), :now.
# Only a reservation still 'reserved' changes, so settling twice is harmless.
SETTLE_RESERVATION = """
UPDATE usage_reservations
SET state = :state, cost_actual = :cost_actual, settled_at = :now,
    job_id = (SELECT id FROM jobs WHERE id = :job_key)
WHERE job_key = :job_key AND state = 'reserved'
"""
# (cost, job id): a completed job the provider reported no cost for costs the price table's.
SET_JOB_COST_IF_MISSING = "UPDATE jobs SET cost = ? WHERE id = ? AND cost IS NULL"

# Start-up reconciliation, in this order (each takes :now).
# 1. Completed jobs whose reservation was never settled (the bot stopped in between):
#    commit it at the job's cost, else the estimate (-> job_key, cost_actual, so that a job
#    without a cost can be given it with SET_JOB_COST_IF_MISSING).
RECONCILE_COMMIT_COMPLETED = """
UPDATE usage_reservations
SET state = 'committed', job_id = job_key, settled_at = :now,
    cost_actual = coalesce((SELECT cost FROM jobs WHERE jobs.id = job_key), cost_estimate)
WHERE state = 'reserved'
  AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = job_key AND jobs.status = 'completed')
RETURNING job_key, cost_actual
"""
# 2. Release every other reservation that can no longer become a charge: no job row (a
#    reservation taken without its job, by an older release of the bot), or a job that
#    failed or was cancelled. Reservations of unfinished jobs stay: the tracker resumes or
#    ends those jobs, and their end settles them. Only reservations created before
#    :older_than are looked at, so one being written right now is never taken for an orphan.
RECONCILE_RELEASE_ORPHANS = """
UPDATE usage_reservations
SET state = 'released', settled_at = :now, cost_actual = NULL,
    job_id = (SELECT id FROM jobs WHERE jobs.id = usage_reservations.job_key)
WHERE state = 'reserved' AND created_at <= :older_than
  AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id = usage_reservations.job_key
                  AND jobs.status IN ('pending', 'queued', 'running'))
"""

# (guild_id, name)
SELECT_GUILD_LIMIT = "SELECT value FROM guild_limits WHERE guild_id = ? AND name = ?"
# (guild_id, name, value)
UPSERT_GUILD_LIMIT = """
INSERT INTO guild_limits (guild_id, name, value) VALUES (?, ?, ?)
ON CONFLICT (guild_id, name) DO UPDATE SET value = excluded.value
"""
# (guild_id, name)
DELETE_GUILD_LIMIT = "DELETE FROM guild_limits WHERE guild_id = ? AND name = ?"
# (guild_id, user_id)
SELECT_MEMBER_OVERRIDE = "SELECT daily FROM member_overrides WHERE guild_id = ? AND user_id = ?"
# (guild_id, user_id, daily)
UPSERT_MEMBER_OVERRIDE = """
INSERT INTO member_overrides (guild_id, user_id, daily) VALUES (?, ?, ?)
ON CONFLICT (guild_id, user_id) DO UPDATE SET daily = excluded.daily
"""
# :guild_id, :day, :user_id (NULL: every member) -> the units of each forgiven reservation
FORGIVE_DAY_USAGE = """
UPDATE usage_reservations SET forgiven = 1
WHERE guild_id = :guild_id AND day = :day AND state <> 'released' AND forgiven = 0
  AND (:user_id IS NULL OR user_id = :user_id)
RETURNING units
"""
# (guild_id, actor_id, action, user_id, old_value, new_value, created_at)
INSERT_QUOTA_AUDIT = """
INSERT INTO quota_audit (guild_id, actor_id, action, user_id, old_value, new_value, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
# (guild_id, limit), newest first
SELECT_RECENT_QUOTA_AUDIT = """
SELECT id, guild_id, actor_id, action, user_id, old_value, new_value, created_at
FROM quota_audit WHERE guild_id = ?
ORDER BY created_at DESC, id DESC
LIMIT ?
"""
