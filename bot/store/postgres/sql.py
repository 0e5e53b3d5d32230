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
"""

from __future__ import annotations

import functools
import re

_COLUMN = re.compile(r"^[a-z_][a-z0-9_]*$")
_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


@functools.lru_cache(maxsize=512)
def compile_statement(statement: str) -> tuple[str, tuple[str, ...] | None]:
    """``(text with $n placeholders, the parameter names in order)``; the names are None
    for a statement with ``?`` placeholders (positional parameters)."""
    if _NAMED.search(statement):
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        return _NAMED.sub(number, statement), tuple(names)
    parts = statement.split("?")
    text = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))
    return text, None


# --------------------------------------------------------------------------- schema

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
    return f"UPDATE store_schema SET version = {int(version)}"


# --------------------------------------------------------------------------- migration 1

M0001_CREATE_JOBS = """
CREATE TABLE jobs (
    id              text PRIMARY KEY NOT NULL,
    request_id      text,
    provider        text NOT NULL,
    model           text NOT NULL,
    guild_id        bigint,
    channel_id      bigint NOT NULL,
    user_id         bigint NOT NULL,
    application_id  bigint,
    interaction_id  bigint,
    message_id      bigint,
    inputs          jsonb NOT NULL DEFAULT '{}',
    seed            bigint NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'queued', 'running',
                                      'completed', 'failed', 'cancelled')),
    queue_position  integer,
    error           text,
    result_urls     jsonb NOT NULL DEFAULT '[]',
    cost            double precision,
    created_at      double precision NOT NULL,
    submitted_at    double precision,
    started_at      double precision,
    finished_at     double precision,
    delivered_at    double precision,
    updated_at      double precision NOT NULL
)
"""
M0001_INDEX_JOBS_STATUS = "CREATE INDEX idx_jobs_status ON jobs (status)"
M0001_INDEX_JOBS_GUILD_CREATED = (
    "CREATE INDEX idx_jobs_guild_created ON jobs ((coalesce(guild_id, 0)), created_at)"
)
M0001_INDEX_JOBS_USER_CREATED = "CREATE INDEX idx_jobs_user_created ON jobs (user_id, created_at)"
M0001_INDEX_JOBS_REQUEST = "CREATE INDEX idx_jobs_request_id ON jobs (request_id)"
M0001_CREATE_GUILD_SETTINGS = """
CREATE TABLE guild_settings (
    guild_id          bigint PRIMARY KEY NOT NULL,
    provider          text,
    log_channel_id    bigint,
    ideogram_enabled  smallint NOT NULL DEFAULT 1 CHECK (ideogram_enabled IN (0, 1)),
    reframe_enabled   smallint NOT NULL DEFAULT 1 CHECK (reframe_enabled IN (0, 1)),
    updated_at        double precision
)
"""
M0001_CREATE_GUILD_ALLOWED_CHANNELS = """
CREATE TABLE guild_allowed_channels (
    guild_id    bigint NOT NULL,
    channel_id  bigint NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
)
"""
M0001_CREATE_GUILD_BLOCKED_WORDS = """
CREATE TABLE guild_blocked_words (
    guild_id  bigint NOT NULL,
    phrase    text NOT NULL,
    PRIMARY KEY (guild_id, phrase)
)
"""
M0001_CREATE_GUILD_LIMITS = """
CREATE TABLE guild_limits (
    guild_id  bigint NOT NULL,
    name      text NOT NULL,
    value     double precision NOT NULL,
    PRIMARY KEY (guild_id, name)
)
"""
M0001_CREATE_MEMBER_OVERRIDES = """
CREATE TABLE member_overrides (
    guild_id  bigint NOT NULL,
    user_id   bigint NOT NULL,
    daily     integer NOT NULL,
    PRIMARY KEY (guild_id, user_id)
)
"""
M0001_CREATE_USAGE_RESERVATIONS = """
CREATE TABLE usage_reservations (
    id             bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    job_id         text REFERENCES jobs (id) ON DELETE CASCADE,
    guild_id       bigint,
    user_id        bigint NOT NULL,
    units          integer NOT NULL DEFAULT 1 CHECK (units >= 0),
    cost_estimate  double precision,
    cost_actual    double precision,
    state          text NOT NULL DEFAULT 'reserved'
                   CHECK (state IN ('reserved', 'committed', 'released')),
    day            text NOT NULL,
    month          text NOT NULL,
    created_at     double precision NOT NULL,
    settled_at     double precision
)
"""
M0001_INDEX_USAGE_GUILD_DAY = (
    "CREATE INDEX idx_usage_guild_day ON usage_reservations (guild_id, day)"
)
M0001_INDEX_USAGE_JOB = "CREATE INDEX idx_usage_job ON usage_reservations (job_id)"
M0001_CREATE_QUOTA_AUDIT = """
CREATE TABLE quota_audit (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    guild_id    bigint NOT NULL,
    actor_id    bigint NOT NULL,
    action      text NOT NULL,
    user_id     bigint,
    old_value   double precision,
    new_value   double precision,
    created_at  double precision NOT NULL
)
"""
M0001_INDEX_QUOTA_AUDIT_GUILD = (
    "CREATE INDEX idx_quota_audit_guild_created ON quota_audit (guild_id, created_at)"
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

M0002_ADD_JOBS_REVISED_PROMPT = "ALTER TABLE jobs ADD COLUMN revised_prompt text"
M0002_ADD_JOBS_DELETED_AT = "ALTER TABLE jobs ADD COLUMN deleted_at double precision"
M0002_INDEX_JOBS_MODEL_FINISHED = (
    "CREATE INDEX idx_jobs_model_finished ON jobs (model, status, finished_at)"
)

# --------------------------------------------------------------------------- migration 3

M0003_ADD_USAGE_JOB_KEY = "ALTER TABLE usage_reservations ADD COLUMN job_key text"
M0003_ADD_USAGE_FORGIVEN = (
    "ALTER TABLE usage_reservations ADD COLUMN forgiven smallint NOT NULL DEFAULT 0 "
    "CHECK (forgiven IN (0, 1))"
)
M0003_INDEX_USAGE_JOB_KEY = "CREATE UNIQUE INDEX idx_usage_job_key ON usage_reservations (job_key)"
M0003_INDEX_USAGE_IN_FLIGHT = (
    "CREATE INDEX idx_usage_in_flight ON usage_reservations (guild_id, user_id) "
    "WHERE state = 'reserved'"
)
M0003_INDEX_USAGE_USER_CREATED = (
    "CREATE INDEX idx_usage_guild_user_created "
    "ON usage_reservations (guild_id, user_id, created_at)"
)
M0003_CREATE_USAGE_TOTALS = """
CREATE TABLE usage_totals (
    guild_id       bigint NOT NULL,
    user_id        bigint NOT NULL,
    period         text NOT NULL,
    units          integer NOT NULL DEFAULT 0,
    spent          double precision NOT NULL DEFAULT 0,
    reserved_cost  double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, user_id, period)
)
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

# --------------------------------------------------------------------------- migration 4

M0004_ADD_JOBS_SUBMITTING_AT = "ALTER TABLE jobs ADD COLUMN submitting_at double precision"
M0004_ADD_JOBS_SEALED_TOKEN = "ALTER TABLE jobs ADD COLUMN sealed_token text"
M0004_ADD_JOBS_TOKEN_EXPIRES_AT = "ALTER TABLE jobs ADD COLUMN token_expires_at double precision"
M0004_INDEX_JOBS_UNDELIVERED = (
    "CREATE INDEX idx_jobs_undelivered ON jobs (finished_at) WHERE delivered_at IS NULL"
)

# --------------------------------------------------------------------------- migration 5

M0005_ADD_JOBS_BATCH_ID = "ALTER TABLE jobs ADD COLUMN batch_id text"
M0005_ADD_JOBS_BATCH_INDEX = "ALTER TABLE jobs ADD COLUMN batch_index integer"
M0005_ADD_JOBS_BATCH_SIZE = "ALTER TABLE jobs ADD COLUMN batch_size integer"
M0005_ADD_JOBS_PRESET = "ALTER TABLE jobs ADD COLUMN preset text"
M0005_INDEX_JOBS_BATCH = (
    "CREATE INDEX idx_jobs_batch ON jobs (batch_id, batch_index) WHERE batch_id IS NOT NULL"
)
# SQLite's ``name ... COLLATE NOCASE`` key: one preset per name whatever its case.
M0005_CREATE_PRESETS = """
CREATE TABLE presets (
    guild_id         bigint NOT NULL,
    name             text NOT NULL,
    style            text,
    aspect_ratio     text,
    magic_prompt     smallint CHECK (magic_prompt IN (0, 1)),
    negative_prompt  text,
    prompt_suffix    text,
    color_palette    text,
    created_by       bigint NOT NULL,
    updated_at       double precision NOT NULL
)
"""
M0005_INDEX_PRESETS_NAME = (
    "CREATE UNIQUE INDEX idx_presets_guild_name ON presets (guild_id, lower(name))"
)
M0005_CREATE_SETTINGS_AUDIT = """
CREATE TABLE settings_audit (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    guild_id    bigint NOT NULL,
    actor_id    bigint NOT NULL,
    action      text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    created_at  double precision NOT NULL
)
"""
M0005_INDEX_SETTINGS_AUDIT = (
    "CREATE INDEX idx_settings_audit_guild ON settings_audit (guild_id, created_at)"
)

# --------------------------------------------------------------------------- migration 6

M0006_ADD_GUILD_SETTINGS_LANGUAGE = "ALTER TABLE guild_settings ADD COLUMN language text"
M0006_ADD_JOBS_LOCALE = "ALTER TABLE jobs ADD COLUMN locale text"

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
    Only checked column *names* go into the text; every value is a parameter."""
    if not columns or not all(_COLUMN.match(c) for c in columns):
        raise ValueError(f"bad job column list: {columns!r}")
    sets = ", ".join(f"{c} = :{c}" for c in columns)
    where = "id = :id"
    if if_status_in:
        where += " AND status IN (SELECT jsonb_array_elements_text(:expected::jsonb))"
    return f"UPDATE jobs SET {sets} WHERE {where} RETURNING *"


_GUILD_IS = "coalesce(guild_id, 0) = coalesce(?::bigint, 0)"
_STATUS_IN = "status IN (SELECT jsonb_array_elements_text(?::jsonb))"

SELECT_JOB = "SELECT * FROM jobs WHERE id = ?"
SELECT_BATCH_JOBS = "SELECT * FROM jobs WHERE batch_id = ? ORDER BY batch_index ASC"
SELECT_JOBS_BY_PREFIX = f"""
SELECT * FROM jobs
WHERE {_GUILD_IS} AND left(id, ?::integer) = ?
ORDER BY created_at DESC, id DESC
LIMIT 2
"""
SELECT_JOBS_IN_STATUSES = f"""
SELECT * FROM jobs
WHERE {_STATUS_IN}
ORDER BY created_at ASC, id ASC
"""
SELECT_UNDELIVERED_JOBS_IN_STATUSES = f"""
SELECT * FROM jobs
WHERE {_STATUS_IN} AND delivered_at IS NULL
ORDER BY created_at ASC, id ASC
"""
SELECT_JOBS_FOR_USER = f"""
SELECT * FROM jobs
WHERE {_GUILD_IS} AND user_id = ?
ORDER BY created_at DESC, id DESC
LIMIT ? OFFSET ?
"""
COUNT_JOBS_FOR_USER = f"SELECT count(*) FROM jobs WHERE {_GUILD_IS} AND user_id = ?"
# (guild_id, limit, offset); a limit of -1 means no limit.
SELECT_JOBS_FOR_GUILD = f"""
SELECT * FROM jobs
WHERE {_GUILD_IS}
ORDER BY created_at DESC, id DESC
LIMIT nullif(?::bigint, -1) OFFSET ?
"""
SELECT_RECENT_DURATIONS = """
SELECT greatest(0.0, started_at - submitted_at) AS queue_seconds,
       greatest(0.0, finished_at - started_at) AS run_seconds
FROM jobs
WHERE model = ? AND status = ?
  AND submitted_at IS NOT NULL AND started_at IS NOT NULL AND finished_at IS NOT NULL
ORDER BY finished_at DESC, id DESC
LIMIT ?
"""

# ------------------------------------------------------------- history, queue, retention

SELECT_VISIBLE_JOBS_FOR_USER = f"""
SELECT * FROM jobs
WHERE {_GUILD_IS} AND user_id = ? AND deleted_at IS NULL
ORDER BY created_at DESC, id DESC
LIMIT ? OFFSET ?
"""
COUNT_VISIBLE_JOBS_FOR_USER = (
    f"SELECT count(*) FROM jobs WHERE {_GUILD_IS} AND user_id = ? AND deleted_at IS NULL"
)
SELECT_JOBS_FOR_GUILD_AFTER = """
SELECT * FROM jobs
WHERE coalesce(guild_id, 0) = coalesce(:guild_id::bigint, 0)
  AND (:created_at::double precision IS NULL OR created_at > :created_at::double precision
       OR (created_at = :created_at::double precision AND id > :id::text))
ORDER BY created_at ASC, id ASC
LIMIT :limit
"""
SELECT_GUILD_JOBS_IN_STATUSES = f"""
SELECT * FROM jobs
WHERE {_GUILD_IS} AND {_STATUS_IN}
ORDER BY created_at ASC, id ASC
"""
SELECT_PRUNABLE_JOB_IDS = f"""
SELECT id FROM jobs
WHERE created_at < ? AND {_STATUS_IN}
ORDER BY created_at ASC, id ASC
LIMIT ?
"""
DETACH_USAGE_FROM_JOBS = """
UPDATE usage_reservations SET job_id = NULL
WHERE job_id IN (SELECT jsonb_array_elements_text(?::jsonb))
"""
DELETE_JOBS_IN_STATUSES = f"""
DELETE FROM jobs
WHERE id IN (SELECT jsonb_array_elements_text(?::jsonb)) AND {_STATUS_IN}
"""

# --------------------------------------------------------------------------- guild settings

SELECT_ALL_GUILD_SETTINGS = """
SELECT guild_id, provider, log_channel_id, ideogram_enabled, reframe_enabled, language,
       updated_at
FROM guild_settings
"""
SELECT_ALL_ALLOWED_CHANNELS = "SELECT guild_id, channel_id FROM guild_allowed_channels"
SELECT_ALL_BLOCKED_WORDS = (
    'SELECT guild_id, phrase FROM guild_blocked_words ORDER BY phrase COLLATE "C"'
)
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
# (guild_id): a read-change-write of a guild's settings holds its row (made if missing).
CREATE_GUILD_SETTINGS_ROW = (
    "INSERT INTO guild_settings (guild_id) VALUES (?) ON CONFLICT DO NOTHING"
)
LOCK_GUILD_SETTINGS_ROW = "SELECT guild_id FROM guild_settings WHERE guild_id = ? FOR UPDATE"
SELECT_ALLOWED_CHANNELS = (
    "SELECT channel_id FROM guild_allowed_channels WHERE guild_id = ? ORDER BY channel_id"
)
INSERT_ALLOWED_CHANNEL = (
    "INSERT INTO guild_allowed_channels (guild_id, channel_id) VALUES (?, ?) "
    "ON CONFLICT DO NOTHING"
)
DELETE_ALLOWED_CHANNEL = "DELETE FROM guild_allowed_channels WHERE guild_id = ? AND channel_id = ?"
SELECT_BLOCKED_WORDS = (
    'SELECT phrase FROM guild_blocked_words WHERE guild_id = ? ORDER BY phrase COLLATE "C"'
)
INSERT_BLOCKED_WORD = (
    "INSERT INTO guild_blocked_words (guild_id, phrase) VALUES (?, ?) ON CONFLICT DO NOTHING"
)
DELETE_BLOCKED_WORD = "DELETE FROM guild_blocked_words WHERE guild_id = ? AND phrase = ?"

# --------------------------------------------------------------------------- presets

# Names match whatever their case, as SQLite's NOCASE column does.
SELECT_GUILD_PRESETS = (
    'SELECT * FROM presets WHERE guild_id = ? ORDER BY lower(name) COLLATE "C"'
)
SELECT_ALL_PRESETS = 'SELECT * FROM presets ORDER BY guild_id, lower(name) COLLATE "C"'
COUNT_GUILD_PRESETS = "SELECT count(*) FROM presets WHERE guild_id = ?"
SELECT_PRESET = "SELECT * FROM presets WHERE guild_id = ? AND lower(name) = lower(?)"
UPSERT_PRESET = """
INSERT INTO presets (guild_id, name, style, aspect_ratio, magic_prompt, negative_prompt,
                     prompt_suffix, color_palette, created_by, updated_at)
VALUES (:guild_id, :name, :style, :aspect_ratio, :magic_prompt, :negative_prompt,
        :prompt_suffix, :color_palette, :created_by, :updated_at)
ON CONFLICT (guild_id, lower(name)) DO UPDATE SET
    name = excluded.name, style = excluded.style, aspect_ratio = excluded.aspect_ratio,
    magic_prompt = excluded.magic_prompt, negative_prompt = excluded.negative_prompt,
    prompt_suffix = excluded.prompt_suffix, color_palette = excluded.color_palette,
    created_by = excluded.created_by, updated_at = excluded.updated_at
"""
DELETE_PRESET = "DELETE FROM presets WHERE guild_id = ? AND lower(name) = lower(?)"
INSERT_SETTINGS_AUDIT = """
INSERT INTO settings_audit (guild_id, actor_id, action, detail, created_at)
VALUES (?, ?, ?, ?, ?)
"""

# --------------------------------------------------------------------------- quota

# (guild ids, month): lock the (guild, 0, month) usage rows of the guilds a batch of
# decisions is about, in one order, creating the missing ones. Another process deciding
# for the same guild waits here until this transaction ends, then reads what it wrote.
LOCK_QUOTA_GUILDS = """
INSERT INTO usage_totals AS t (guild_id, user_id, period)
SELECT g, 0, ?::text FROM unnest(?::bigint[]) AS g ORDER BY g
ON CONFLICT (guild_id, user_id, period) DO UPDATE SET units = t.units
"""
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
    (SELECT count(*) FROM usage_reservations
     WHERE guild_id = :guild_id AND user_id = :user_id AND state = 'reserved') AS in_flight,
    (SELECT created_at FROM usage_reservations
     WHERE guild_id = :guild_id AND user_id = :user_id AND state <> 'released' AND forgiven = 0
     ORDER BY created_at DESC LIMIT 1) AS last_reserved_at
FROM (SELECT 1) AS one
LEFT JOIN usage_totals AS m
    ON m.guild_id = :guild_id AND m.user_id = 0 AND m.period = :month
"""
# :guild_ids, :user_ids (the batch's (guild, member) pairs), :day, :month -> one row of
# SELECT_QUOTA_SNAPSHOT per pair, with its guild_id and user_id: a batch of decisions
# reads all it needs in one round trip.
SELECT_QUOTA_SNAPSHOTS = """
SELECT
    k.guild_id, k.user_id,
    (SELECT value FROM guild_limits WHERE guild_id = k.guild_id AND name = 'user_daily')
        AS user_daily,
    (SELECT value FROM guild_limits WHERE guild_id = k.guild_id AND name = 'guild_daily')
        AS guild_daily,
    (SELECT value FROM guild_limits WHERE guild_id = k.guild_id AND name = 'guild_monthly')
        AS guild_monthly,
    (SELECT value FROM guild_limits WHERE guild_id = k.guild_id AND name = 'cooldown_seconds')
        AS cooldown_seconds,
    (SELECT value FROM guild_limits WHERE guild_id = k.guild_id AND name = 'max_concurrent')
        AS max_concurrent,
    (SELECT value FROM guild_limits
     WHERE guild_id = k.guild_id AND name = 'guild_monthly_budget') AS guild_monthly_budget,
    (SELECT daily FROM member_overrides WHERE guild_id = k.guild_id AND user_id = k.user_id)
        AS member_daily,
    coalesce((SELECT units FROM usage_totals
              WHERE guild_id = k.guild_id AND user_id = k.user_id AND period = :day::text),
             0)
        AS user_day_units,
    coalesce((SELECT units FROM usage_totals
              WHERE guild_id = k.guild_id AND user_id = 0 AND period = :day), 0)
        AS guild_day_units,
    coalesce(m.units, 0) AS guild_month_units,
    coalesce(m.spent, 0) AS month_spent,
    coalesce(m.reserved_cost, 0) AS month_reserved_cost,
    (SELECT count(*) FROM usage_reservations
     WHERE guild_id = k.guild_id AND user_id = k.user_id AND state = 'reserved') AS in_flight,
    (SELECT created_at FROM usage_reservations
     WHERE guild_id = k.guild_id AND user_id = k.user_id AND state <> 'released'
       AND forgiven = 0
     ORDER BY created_at DESC LIMIT 1) AS last_reserved_at
FROM unnest(:guild_ids::bigint[], :user_ids::bigint[]) AS k (guild_id, user_id)
LEFT JOIN usage_totals AS m
    ON m.guild_id = k.guild_id AND m.user_id = 0 AND m.period = :month::text
"""
INSERT_RESERVATION = """
INSERT INTO usage_reservations (
    job_key, guild_id, user_id, units, cost_estimate, state, day, month, created_at
) VALUES (
    :job_key, :guild_id, :user_id, :units, :cost_estimate, 'reserved', :day, :month, :created_at
)
"""
SETTLE_RESERVATION = """
UPDATE usage_reservations
SET state = :state, cost_actual = :cost_actual, settled_at = :now,
    job_id = (SELECT id FROM jobs WHERE id = :job_key)
WHERE job_key = :job_key AND state = 'reserved'
"""
SET_JOB_COST_IF_MISSING = "UPDATE jobs SET cost = ? WHERE id = ? AND cost IS NULL"
RECONCILE_COMMIT_COMPLETED = """
UPDATE usage_reservations AS u
SET state = 'committed', job_id = u.job_key, settled_at = :now,
    cost_actual = coalesce(j.cost, u.cost_estimate)
FROM jobs AS j
WHERE u.state = 'reserved' AND j.id = u.job_key AND j.status = 'completed'
RETURNING u.job_key, u.cost_actual
"""
RECONCILE_RELEASE_ORPHANS = """
UPDATE usage_reservations
SET state = 'released', settled_at = :now, cost_actual = NULL,
    job_id = (SELECT id FROM jobs WHERE jobs.id = usage_reservations.job_key)
WHERE state = 'reserved' AND created_at <= :older_than
  AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id = usage_reservations.job_key
                  AND jobs.status IN ('pending', 'queued', 'running'))
"""
SELECT_GUILD_LIMIT = "SELECT value FROM guild_limits WHERE guild_id = ? AND name = ?"
UPSERT_GUILD_LIMIT = """
INSERT INTO guild_limits (guild_id, name, value) VALUES (?, ?, ?)
ON CONFLICT (guild_id, name) DO UPDATE SET value = excluded.value
"""
DELETE_GUILD_LIMIT = "DELETE FROM guild_limits WHERE guild_id = ? AND name = ?"
SELECT_MEMBER_OVERRIDE = "SELECT daily FROM member_overrides WHERE guild_id = ? AND user_id = ?"
UPSERT_MEMBER_OVERRIDE = """
INSERT INTO member_overrides (guild_id, user_id, daily) VALUES (?, ?, ?)
ON CONFLICT (guild_id, user_id) DO UPDATE SET daily = excluded.daily
"""
FORGIVE_DAY_USAGE = """
UPDATE usage_reservations SET forgiven = 1
WHERE guild_id = :guild_id AND day = :day AND state <> 'released' AND forgiven = 0
  AND (:user_id::bigint IS NULL OR user_id = :user_id::bigint)
RETURNING units
"""
INSERT_QUOTA_AUDIT = """
INSERT INTO quota_audit (guild_id, actor_id, action, user_id, old_value, new_value, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
SELECT_RECENT_QUOTA_AUDIT = """
SELECT id, guild_id, actor_id, action, user_id, old_value, new_value, created_at
FROM quota_audit WHERE guild_id = ?
ORDER BY created_at DESC, id DESC
LIMIT ?
"""

# --------------------------------------------------------------------------- job leases

_NOW = "extract(epoch FROM clock_timestamp())"

# (job ids, owner, incarnation, lease seconds): new jobs are leased by the process that
# wrote them (the one whose shard received the command).
INSERT_LEASES = f"""
INSERT INTO job_leases (job_id, owner, incarnation, expires_at)
SELECT id, ?::text, ?::text, {_NOW} + ?::double precision FROM unnest(?::text[]) AS id
ON CONFLICT (job_id) DO NOTHING
"""


def _claim(statuses: str, undelivered_only: bool) -> str:
    """Take the jobs in ``statuses`` that nobody holds: no lease, or an expired one, of
    this process's shards (``:shard_count`` 1 or less: every shard), or of any shard once
    the lease has been expired for ``:grace`` seconds (its process died and no process of
    that shard took it); and this process's own leases from an earlier run of it. Locked
    rows are skipped: two processes claiming at once never take the same job."""
    delivered = "AND j.delivered_at IS NULL" if undelivered_only else ""
    return f"""
WITH candidates AS (
    SELECT j.id
    FROM jobs AS j LEFT JOIN job_leases AS l ON l.job_id = j.id
    WHERE j.status IN ({statuses}) {delivered}
      AND (
        (l.owner = :owner AND l.incarnation <> :incarnation)
        OR ((l.job_id IS NULL OR l.expires_at < {_NOW}) AND (
              :shard_count::integer <= 1
              OR ((coalesce(j.guild_id, 0) >> 22) % :shard_count::integer)
                 = ANY(:shard_ids::integer[])
              OR coalesce(l.expires_at, j.updated_at) < {_NOW} - :grace::double precision)))
    ORDER BY j.created_at, j.id
    FOR UPDATE OF j SKIP LOCKED
)
INSERT INTO job_leases AS l (job_id, owner, incarnation, expires_at)
SELECT id, :owner, :incarnation, {_NOW} + :lease_seconds::double precision FROM candidates
ON CONFLICT (job_id) DO UPDATE SET
    owner = excluded.owner, incarnation = excluded.incarnation, expires_at = excluded.expires_at
RETURNING l.job_id
"""


CLAIM_UNFINISHED_JOBS = _claim("'pending', 'queued', 'running'", undelivered_only=False)
CLAIM_UNDELIVERED_JOBS = _claim("'completed', 'failed', 'cancelled'", undelivered_only=True)
# (job ids)
SELECT_JOBS_BY_IDS = "SELECT * FROM jobs WHERE id = ANY(?::text[]) ORDER BY created_at, id"
# (incarnation, statuses JSON): the jobs this run of the process holds
SELECT_LEASED_JOBS = f"""
SELECT j.* FROM jobs AS j JOIN job_leases AS l ON l.job_id = j.id
WHERE l.incarnation = ? AND j.{_STATUS_IN}
ORDER BY j.created_at, j.id
"""
SELECT_LEASED_UNDELIVERED_JOBS = f"""
SELECT j.* FROM jobs AS j JOIN job_leases AS l ON l.job_id = j.id
WHERE l.incarnation = ? AND j.{_STATUS_IN} AND j.delivered_at IS NULL
ORDER BY j.created_at, j.id
"""
# (incarnation): a delivered job needs no owner any more
DROP_DONE_LEASES = """
DELETE FROM job_leases AS l USING jobs AS j
WHERE l.job_id = j.id AND l.incarnation = ?
  AND j.status IN ('completed', 'failed', 'cancelled') AND j.delivered_at IS NOT NULL
"""
# (lease seconds, incarnation) -> the jobs this run still holds
RENEW_LEASES = f"""
UPDATE job_leases SET expires_at = {_NOW} + ?::double precision
WHERE incarnation = ?
RETURNING job_id
"""

# --------------------------------------------------------------------------- notices

#: The channel every cache change notice goes through (payload: JSON topic, key, origin).
NOTICE_CHANNEL = "bot_cache_changes"
NOTIFY_CHANGE = "SELECT pg_notify(?, ?)"
