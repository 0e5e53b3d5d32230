"""Every SQL statement the store runs, as a named constant.

Values are always bound as parameters (``?`` or ``:name``); nothing here is built by
formatting values into text. Statements that take a variable-length list of values
bind it as one JSON array and read it back with ``json_each`` (see ``*_IN_STATUSES``).

The ``jobs`` statements use named parameters whose names are the ``JobRecord`` fields.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- connection

PRAGMA_JOURNAL_MODE_WAL = "PRAGMA journal_mode = WAL"
PRAGMA_FOREIGN_KEYS_ON = "PRAGMA foreign_keys = ON"
PRAGMA_BUSY_TIMEOUT = "PRAGMA busy_timeout = 5000"
PRAGMA_SYNCHRONOUS_NORMAL = "PRAGMA synchronous = NORMAL"
PRAGMA_GET_USER_VERSION = "PRAGMA user_version"
PRAGMA_GET_JOURNAL_MODE = "PRAGMA journal_mode"
PRAGMA_GET_FOREIGN_KEYS = "PRAGMA foreign_keys"

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

# --------------------------------------------------------------------------- jobs

INSERT_JOB = """
INSERT INTO jobs (
    id, request_id, provider, model, guild_id, channel_id, user_id, application_id,
    interaction_id, message_id, inputs, seed, status, queue_position, error, result_urls,
    cost, created_at, submitted_at, started_at, finished_at, delivered_at, updated_at,
    revised_prompt, deleted_at
) VALUES (
    :id, :request_id, :provider, :model, :guild_id, :channel_id, :user_id, :application_id,
    :interaction_id, :message_id, :inputs, :seed, :status, :queue_position, :error,
    :result_urls, :cost, :created_at, :submitted_at, :started_at, :finished_at,
    :delivered_at, :updated_at, :revised_prompt, :deleted_at
)
"""

_SET_ALL_JOB_COLUMNS = """
UPDATE jobs SET
    request_id = :request_id, provider = :provider, model = :model, guild_id = :guild_id,
    channel_id = :channel_id, user_id = :user_id, application_id = :application_id,
    interaction_id = :interaction_id, message_id = :message_id, inputs = :inputs,
    seed = :seed, status = :status, queue_position = :queue_position, error = :error,
    result_urls = :result_urls, cost = :cost, created_at = :created_at,
    submitted_at = :submitted_at, started_at = :started_at, finished_at = :finished_at,
    delivered_at = :delivered_at, updated_at = :updated_at,
    revised_prompt = :revised_prompt, deleted_at = :deleted_at
"""
UPDATE_JOB = _SET_ALL_JOB_COLUMNS + "WHERE id = :id"
# Compare-and-set: writes only while the row's status is one of :expected (a JSON array).
UPDATE_JOB_IF_STATUS_IN = (
    _SET_ALL_JOB_COLUMNS + "WHERE id = :id AND status IN (SELECT value FROM json_each(:expected))"
)

SELECT_JOB = "SELECT * FROM jobs WHERE id = ?"
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

# --------------------------------------------------------------------------- guild settings

SELECT_GUILD_SETTINGS = """
SELECT guild_id, provider, log_channel_id, ideogram_enabled, reframe_enabled, updated_at
FROM guild_settings WHERE guild_id = ?
"""
UPSERT_GUILD_SETTINGS = """
INSERT INTO guild_settings (
    guild_id, provider, log_channel_id, ideogram_enabled, reframe_enabled, updated_at
) VALUES (
    :guild_id, :provider, :log_channel_id, :ideogram_enabled, :reframe_enabled, :updated_at
)
ON CONFLICT (guild_id) DO UPDATE SET
    provider = excluded.provider,
    log_channel_id = excluded.log_channel_id,
    ideogram_enabled = excluded.ideogram_enabled,
    reframe_enabled = excluded.reframe_enabled,
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
