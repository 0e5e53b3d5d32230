"""Quota: reservations, their settlement and reconciliation, limits and their audit."""

from __future__ import annotations

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
