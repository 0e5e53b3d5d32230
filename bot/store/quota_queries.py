"""The store's quota queries: snapshots, reservations, limits, overrides and the audit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.store.engine import StoreEngine
from bot.store.records import Row


class QuotaQueries(StoreEngine):
    """The quota tables; the policy that reads them is :mod:`bot.quota`."""

    # The quota service decides; these read and write its tables. Call them inside
    # ``transaction()`` / ``run_transaction()`` where several must agree.

    async def lock_quota_guilds(self, keys: Iterable[tuple[int, str]]) -> None:
        """Hold the (guild, month) usage rows until the transaction ends.

        So that the decisions of other processes about these guilds wait for this one. SQLite's
        ``BEGIN IMMEDIATE`` already holds the whole file: nothing to do.
        """
        return None

    async def quota_snapshot_row(self, params: Mapping[str, Any]) -> Row:
        """Limits and use of a member and guild (:data:`sql.SELECT_QUOTA_SNAPSHOT`)."""
        row = await self._fetchone(self._sql.SELECT_QUOTA_SNAPSHOT, params)
        assert row is not None  # the statement always returns one row
        return row

    async def quota_snapshot_rows(self, keys: Sequence[tuple[int, int]], day: str,
                                  month: str) -> dict[tuple[int, int], Row]:
        """:meth:`quota_snapshot_row` for each (guild, member) of ``keys``."""
        return {(guild_id, user_id): await self.quota_snapshot_row(
                    {"guild_id": guild_id, "user_id": user_id, "day": day, "month": month})
                for guild_id, user_id in keys}

    async def insert_reservations(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Several :data:`INSERT_RESERVATION` rows in one statement."""
        if rows:
            await self._executemany(self._sql.INSERT_RESERVATION, list(rows))

    async def settle_reservation(self, job_key: str, state: str, cost_actual: float | None,
                                 now: float) -> bool:
        """Commit or release a reservation still ``reserved``; False if there was none."""
        # RETURNING, read as a row: one trip to the connection (a row count needs two).
        settled = await self._fetchone(self._sql.SETTLE_RESERVATION, {
            "job_key": job_key, "state": state, "cost_actual": cost_actual, "now": now})
        return settled is not None

    async def set_job_costs_if_missing(self, costs: Sequence[tuple[float, str]]) -> None:
        """(cost, job id) pairs: a job the provider reported no cost for gets this one."""
        if costs:
            await self._executemany(self._sql.SET_JOB_COST_IF_MISSING, list(costs))

    async def reconcile_commit_completed(self, now: float) -> list[Row]:
        """Commit the reservations of completed jobs; rows (job_key, cost_actual)."""
        return await self._fetchall(self._sql.RECONCILE_COMMIT_COMPLETED, {"now": now})

    async def reconcile_release_orphans(self, now: float, older_than: float) -> int:
        """Release the reservations that can no longer become a charge; return how many."""
        return await self._execute(self._sql.RECONCILE_RELEASE_ORPHANS,
                                   {"now": now, "older_than": older_than})

    async def guild_limit(self, guild_id: int, name: str) -> float | None:
        """Return a server's limit called ``name``, or None when it has none."""
        row = await self._fetchone(self._sql.SELECT_GUILD_LIMIT, (guild_id, name))
        return None if row is None else float(row[0])

    async def set_guild_limit(self, guild_id: int, name: str, value: float) -> None:
        """Set a server's limit called ``name``."""
        await self._execute(self._sql.UPSERT_GUILD_LIMIT, (guild_id, name, value))

    async def delete_guild_limit(self, guild_id: int, name: str) -> None:
        """Remove a server's limit called ``name`` (no limit from now on)."""
        await self._execute(self._sql.DELETE_GUILD_LIMIT, (guild_id, name))

    async def member_override(self, guild_id: int, user_id: int) -> int | None:
        """Return a member's own daily limit, or None when the server's applies."""
        row = await self._fetchone(self._sql.SELECT_MEMBER_OVERRIDE, (guild_id, user_id))
        return None if row is None else int(row[0])

    async def set_member_override(self, guild_id: int, user_id: int,
                                  daily: int | None) -> None:
        """Set a member's own daily limit; None removes it (``user_daily`` applies again)."""
        if daily is None:
            await self._execute(self._sql.DELETE_MEMBER_OVERRIDE, (guild_id, user_id))
        else:
            await self._execute(self._sql.UPSERT_MEMBER_OVERRIDE, (guild_id, user_id, daily))

    async def forgive_day_usage(self, guild_id: int, day: str, user_id: int | None) -> int:
        """Forgive a day's use (of one member, or everyone); return the images forgiven."""
        rows = await self._fetchall(self._sql.FORGIVE_DAY_USAGE,
                                    {"guild_id": guild_id, "day": day, "user_id": user_id})
        return sum(int(r[0]) for r in rows)

    async def insert_quota_audit(self, values: Sequence[Any]) -> None:
        """Write one quota audit row.

        ``values``: (guild_id, actor_id, action, user_id, old_value, new_value, created_at).
        """
        await self._execute(self._sql.INSERT_QUOTA_AUDIT, tuple(values))

    async def recent_quota_audit(self, guild_id: int, limit: int) -> list[Row]:
        """Return a server's latest quota audit rows, newest first."""
        return await self._fetchall(self._sql.SELECT_RECENT_QUOTA_AUDIT, (guild_id, limit))
