"""Jobs: writing, reading, the history, the queue and retention.

The statements whose text differs from SQLite's; the portable ones are imported from
:mod:`bot.store.sql.jobs`.
"""

from __future__ import annotations

import functools

# Portable: the same text in both dialects.
from bot.store.sql.jobs import INSERT_JOB as INSERT_JOB
from bot.store.sql.jobs import SELECT_BATCH_JOBS as SELECT_BATCH_JOBS
from bot.store.sql.jobs import SELECT_JOB as SELECT_JOB
from bot.store.sql.jobs import SET_REPLY_MESSAGE as SET_REPLY_MESSAGE
from bot.store.sql.jobs import compare_and_set_job, select_recent_durations


@functools.lru_cache(maxsize=256)
def update_job_columns(columns: tuple[str, ...], *, if_status_in: bool,
                       if_unsent: bool = False) -> str:
    """Return :func:`compare_and_set_job`'s statement, the statuses read from ``jsonb``."""
    return compare_and_set_job(
        columns,
        "status IN (SELECT jsonb_array_elements_text(:expected::jsonb))" if if_status_in
        else None, if_unsent=if_unsent)


_GUILD_IS = "coalesce(guild_id, 0) = coalesce(?::bigint, 0)"
_STATUS_IN = "status IN (SELECT jsonb_array_elements_text(?::jsonb))"

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
# (guild_id, limit, offset); a limit of -1 means no limit.
SELECT_JOBS_FOR_GUILD = f"""
SELECT * FROM jobs
WHERE {_GUILD_IS}
ORDER BY created_at DESC, id DESC
LIMIT nullif(?::bigint, -1) OFFSET ?
"""
SELECT_RECENT_DURATIONS = select_recent_durations("greatest")

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
