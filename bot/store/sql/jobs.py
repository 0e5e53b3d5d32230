"""Jobs: writing, reading, the history, the queue and retention.

The first statements here are portable: the PostgreSQL store runs the same text (its
``jobs`` module imports them). The rest are SQLite's own.
"""

from __future__ import annotations

import functools
import re

_COLUMN = re.compile(r"^[a-z_][a-z0-9_]*$")

# --------------------------------------------------------------------------- portable

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
SELECT_JOB = "SELECT * FROM jobs WHERE id = ?"
# (batch_id): every job of a batch, in its order
SELECT_BATCH_JOBS = "SELECT * FROM jobs WHERE batch_id = ? ORDER BY batch_index ASC"
# (message_id, id): the reply of an answered command, written once
SET_REPLY_MESSAGE = "UPDATE jobs SET message_id = ? WHERE id = ? AND message_id IS NULL"


def compare_and_set_job(columns: tuple[str, ...], status_in_expected: str | None, *,
                        if_unsent: bool = False) -> str:
    """Return the compare-and-set ``UPDATE`` of the given job columns, in either dialect.

    ``UPDATE jobs SET <column> = :<column>, … WHERE id = :id [AND <status_in_expected>]
    RETURNING *``: one statement, so a compare-and-set is atomic without a transaction.
    ``status_in_expected`` is the dialect's test of ``status`` against the JSON array
    ``:expected``, or None for an unconditional update; ``if_unsent`` also requires that no
    send was started (``submitting_at`` unset).

    Only column *names* are put into the text (the store passes ``JobRecord`` field names,
    checked against that fixed list); every value is bound as a parameter.
    """
    if not columns or not all(_COLUMN.match(c) for c in columns):
        raise ValueError(f"bad job column list: {columns!r}")
    sets = ", ".join(f"{c} = :{c}" for c in columns)
    where = "id = :id"
    if status_in_expected is not None:
        where += f" AND {status_in_expected}"
    if if_unsent:
        where += " AND submitting_at IS NULL"
    return f"UPDATE jobs SET {sets} WHERE {where} RETURNING *"


def select_recent_durations(larger_of: str) -> str:
    """Return the statement that reads a model's recent queue and run times.

    ``(model, completed status, limit) -> (queue_seconds, run_seconds)``, newest first.
    ``larger_of`` is the dialect's function for the larger of two values (a clock step
    back never gives a negative time).
    """
    return f"""
SELECT {larger_of}(0.0, started_at - submitted_at) AS queue_seconds,
       {larger_of}(0.0, finished_at - started_at) AS run_seconds
FROM jobs
WHERE model = ? AND status = ?
  AND submitted_at IS NOT NULL AND started_at IS NOT NULL AND finished_at IS NOT NULL
ORDER BY finished_at DESC, id DESC
LIMIT ?
"""


# --------------------------------------------------------------------------- SQLite's own


@functools.lru_cache(maxsize=256)
def update_job_columns(columns: tuple[str, ...], *, if_status_in: bool,
                       if_unsent: bool = False) -> str:
    """Return :func:`compare_and_set_job`'s statement, the statuses read with ``json_each``."""
    return compare_and_set_job(
        columns,
        "status IN (SELECT value FROM json_each(:expected))" if if_status_in else None,
        if_unsent=if_unsent)


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
# (guild_id, limit, offset); a limit of -1 means no limit.
SELECT_JOBS_FOR_GUILD = """
SELECT * FROM jobs
WHERE guild_id IS ?
ORDER BY created_at DESC, id DESC
LIMIT ? OFFSET ?
"""
SELECT_RECENT_DURATIONS = select_recent_durations("max")

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
