"""Several processes: which process owns which job (leases), and change notices."""

from __future__ import annotations

from bot.store.postgres.sql.jobs import _STATUS_IN

_NOW = "extract(epoch FROM clock_timestamp())"

# (job ids, owner, incarnation, lease seconds): new jobs are leased by the process that
# wrote them (the one whose shard received the command).
INSERT_LEASES = f"""
INSERT INTO job_leases (job_id, owner, incarnation, expires_at)
SELECT id, ?::text, ?::text, {_NOW} + ?::double precision FROM unnest(?::text[]) AS id
ON CONFLICT (job_id) DO NOTHING
"""


def _claim(statuses: str, undelivered_only: bool) -> str:
    """Return the statement that leases the jobs in ``statuses`` that nobody holds.

    Take the jobs in ``statuses`` that nobody holds: no lease, or an expired one, of
    this process's shards (``:shard_count`` 1 or less: every shard), or of any shard once
    the lease has been expired for ``:grace`` seconds (its process died and no process of
    that shard took it); and this process's own leases from an earlier run of it.

    Two processes claiming at once never take the same job: locked job rows are skipped,
    and a lease row is taken over only if it is still expired (or this owner's earlier
    run's) when the write meets it. The candidates come from the statement's snapshot, so
    without that last check a lease another process wrote a moment ago would be
    overwritten and the job returned to both.
    """
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
WHERE l.expires_at < {_NOW}
   OR (l.owner = excluded.owner AND l.incarnation <> excluded.incarnation)
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
