"""Jobs: writing, reading, the history, the queue and retention."""

from __future__ import annotations

import functools
import re

_COLUMN = re.compile(r"^[a-z_][a-z0-9_]*$")

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
    """Return the compare-and-set ``UPDATE`` of the given job columns.

    ``UPDATE jobs SET <column> = :<column>, … WHERE id = :id [AND status IN :expected]
    RETURNING *``: one statement, so a compare-and-set is atomic without a transaction.
    Only checked column *names* go into the text; every value is a parameter.
    """
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
