"""Quota: reservations, their settlement and reconciliation, limits and their audit.

The first statements here are portable: the PostgreSQL store runs the same text (its
``quota`` module imports them). The rest are SQLite's own.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- portable


def select_quota_snapshot(*, guild: str, user: str, day: str, month: str, keys: str,
                          in_flight_from: str = "usage_reservations",
                          with_keys: bool = False) -> str:
    """Return the statement that reads a quota snapshot: one row per (guild, member).

    The row holds every limit of the guild, the member's daily override and every use
    figure a reservation decision (or /quota show) needs, so a decision is one statement.
    Use = reservations not released (reserved ones count while in flight), read from the
    usage_totals the triggers keep; forgiven use (/quota reset) counts towards the month and
    the spend, not towards the day or the cooldown.

    ``guild``, ``user``, ``day`` ('YYYY-MM-DD', UTC) and ``month`` ('YYYY-MM') are the SQL
    expressions for them (parameters, or columns of ``keys``); ``keys`` is the FROM item
    that gives the rows; ``in_flight_from`` is where the in-flight reservations are counted.
    ``with_keys``: each row starts with its ``guild_id`` and ``user_id`` (several rows).
    """
    key_columns = f"\n    {guild} AS guild_id, {user} AS user_id," if with_keys else ""
    return f"""
SELECT{key_columns}
    (SELECT value FROM guild_limits WHERE guild_id = {guild} AND name = 'user_daily')
        AS user_daily,
    (SELECT value FROM guild_limits WHERE guild_id = {guild} AND name = 'guild_daily')
        AS guild_daily,
    (SELECT value FROM guild_limits WHERE guild_id = {guild} AND name = 'guild_monthly')
        AS guild_monthly,
    (SELECT value FROM guild_limits WHERE guild_id = {guild} AND name = 'cooldown_seconds')
        AS cooldown_seconds,
    (SELECT value FROM guild_limits WHERE guild_id = {guild} AND name = 'max_concurrent')
        AS max_concurrent,
    (SELECT value FROM guild_limits
     WHERE guild_id = {guild} AND name = 'guild_monthly_budget') AS guild_monthly_budget,
    (SELECT daily FROM member_overrides WHERE guild_id = {guild} AND user_id = {user})
        AS member_daily,
    coalesce((SELECT units FROM usage_totals
              WHERE guild_id = {guild} AND user_id = {user} AND period = {day}), 0)
        AS user_day_units,
    coalesce((SELECT units FROM usage_totals
              WHERE guild_id = {guild} AND user_id = 0 AND period = {day}), 0)
        AS guild_day_units,
    coalesce(m.units, 0) AS guild_month_units,
    coalesce(m.spent, 0) AS month_spent,
    coalesce(m.reserved_cost, 0) AS month_reserved_cost,
    (SELECT count(*) FROM {in_flight_from}
     WHERE guild_id = {guild} AND user_id = {user} AND state = 'reserved') AS in_flight,
    (SELECT created_at FROM usage_reservations
     WHERE guild_id = {guild} AND user_id = {user} AND state <> 'released' AND forgiven = 0
     ORDER BY created_at DESC LIMIT 1) AS last_reserved_at
FROM {keys}
LEFT JOIN usage_totals AS m
    ON m.guild_id = {guild} AND m.user_id = 0 AND m.period = {month}
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
RETURNING job_key
"""
# (cost, job id): a completed job the provider reported no cost for costs the price table's.
SET_JOB_COST_IF_MISSING = "UPDATE jobs SET cost = ? WHERE id = ? AND cost IS NULL"

# Start-up reconciliation, in this order (each takes :now).
# 1. RECONCILE_COMMIT_COMPLETED (each dialect's own, below).
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
# (guild_id, user_id)
DELETE_MEMBER_OVERRIDE = "DELETE FROM member_overrides WHERE guild_id = ? AND user_id = ?"
# (guild_id, user_id, daily)
UPSERT_MEMBER_OVERRIDE = """
INSERT INTO member_overrides (guild_id, user_id, daily) VALUES (?, ?, ?)
ON CONFLICT (guild_id, user_id) DO UPDATE SET daily = excluded.daily
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

# --------------------------------------------------------------------------- SQLite's own

# :guild_id, :user_id, :day, :month -> one snapshot row, read inside BEGIN IMMEDIATE; the
# in-flight count is told to use its partial index.
SELECT_QUOTA_SNAPSHOT = select_quota_snapshot(
    guild=":guild_id", user=":user_id", day=":day", month=":month", keys="(SELECT 1) AS one",
    in_flight_from="usage_reservations INDEXED BY idx_usage_in_flight")
# Start-up reconciliation, 1. Completed jobs whose reservation was never settled (the bot
# stopped in between): commit it at the job's cost, else the estimate (-> job_key,
# cost_actual, so that a job without a cost can be given it with SET_JOB_COST_IF_MISSING).
RECONCILE_COMMIT_COMPLETED = """
UPDATE usage_reservations
SET state = 'committed', job_id = job_key, settled_at = :now,
    cost_actual = coalesce((SELECT cost FROM jobs WHERE jobs.id = job_key), cost_estimate)
WHERE state = 'reserved'
  AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = job_key AND jobs.status = 'completed')
RETURNING job_key, cost_actual
"""
# :guild_id, :day, :user_id (NULL: every member) -> the units of each forgiven reservation
FORGIVE_DAY_USAGE = """
UPDATE usage_reservations SET forgiven = 1
WHERE guild_id = :guild_id AND day = :day AND state <> 'released' AND forgiven = 0
  AND (:user_id IS NULL OR user_id = :user_id)
RETURNING units
"""
