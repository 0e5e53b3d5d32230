"""Quota: reservations, their settlement and reconciliation, limits and their audit.

The statements whose text differs from SQLite's; the portable ones are imported from
:mod:`bot.store.sql.quota`.
"""

from __future__ import annotations

# Portable: the same text in both dialects.
from bot.store.sql.quota import DELETE_GUILD_LIMIT as DELETE_GUILD_LIMIT
from bot.store.sql.quota import DELETE_MEMBER_OVERRIDE as DELETE_MEMBER_OVERRIDE
from bot.store.sql.quota import INSERT_QUOTA_AUDIT as INSERT_QUOTA_AUDIT
from bot.store.sql.quota import INSERT_RESERVATION as INSERT_RESERVATION
from bot.store.sql.quota import RECONCILE_RELEASE_ORPHANS as RECONCILE_RELEASE_ORPHANS
from bot.store.sql.quota import SELECT_GUILD_LIMIT as SELECT_GUILD_LIMIT
from bot.store.sql.quota import SELECT_MEMBER_OVERRIDE as SELECT_MEMBER_OVERRIDE
from bot.store.sql.quota import SELECT_RECENT_QUOTA_AUDIT as SELECT_RECENT_QUOTA_AUDIT
from bot.store.sql.quota import SET_JOB_COST_IF_MISSING as SET_JOB_COST_IF_MISSING
from bot.store.sql.quota import SETTLE_RESERVATION as SETTLE_RESERVATION
from bot.store.sql.quota import UPSERT_GUILD_LIMIT as UPSERT_GUILD_LIMIT
from bot.store.sql.quota import UPSERT_MEMBER_OVERRIDE as UPSERT_MEMBER_OVERRIDE
from bot.store.sql.quota import select_quota_snapshot

# (guild ids, month): lock the (guild, 0, month) usage rows of the guilds a batch of
# decisions is about, in one order, creating the missing ones. Another process deciding
# for the same guild waits here until this transaction ends, then reads what it wrote.
LOCK_QUOTA_GUILDS = """
INSERT INTO usage_totals AS t (guild_id, user_id, period)
SELECT g, 0, ?::text FROM unnest(?::bigint[]) AS g ORDER BY g
ON CONFLICT (guild_id, user_id, period) DO UPDATE SET units = t.units
"""
SELECT_QUOTA_SNAPSHOT = select_quota_snapshot(
    guild=":guild_id", user=":user_id", day=":day", month=":month", keys="(SELECT 1) AS one")
# :guild_ids, :user_ids (the batch's (guild, member) pairs), :day, :month -> one row of
# SELECT_QUOTA_SNAPSHOT per pair, with its guild_id and user_id: a batch of decisions
# reads all it needs in one round trip.
SELECT_QUOTA_SNAPSHOTS = select_quota_snapshot(
    guild="k.guild_id", user="k.user_id", day=":day::text", month=":month::text",
    keys="unnest(:guild_ids::bigint[], :user_ids::bigint[]) AS k (guild_id, user_id)",
    with_keys=True)
RECONCILE_COMMIT_COMPLETED = """
UPDATE usage_reservations AS u
SET state = 'committed', job_id = u.job_key, settled_at = :now,
    cost_actual = coalesce(j.cost, u.cost_estimate)
FROM jobs AS j
WHERE u.state = 'reserved' AND j.id = u.job_key AND j.status = 'completed'
RETURNING u.job_key, u.cost_actual
"""
FORGIVE_DAY_USAGE = """
UPDATE usage_reservations SET forgiven = 1
WHERE guild_id = :guild_id AND day = :day AND state <> 'released' AND forgiven = 0
  AND (:user_id::bigint IS NULL OR user_id = :user_id::bigint)
RETURNING units
"""
