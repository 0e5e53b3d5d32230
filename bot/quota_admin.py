"""Moderators' quota changes: limits, one member's daily limit, forgiving a day's use.

Each change is validated first (nothing changes if a value is bad), then applied and
audited in one transaction; :meth:`QuotaAdmin.recent_changes` reads the audit back for
``/quota show``. The policy is :mod:`bot.quota`; admitting and settling requests is
:mod:`bot.quota_service`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from bot.i18n import lazy
from bot.quota import (
    GUILD_MONTHLY_BUDGET,
    LIMIT_NAMES,
    RECENT_CHANGES,
    AuditEntry,
    Change,
    QuotaValueError,
    Window,
    validate_limit,
    validate_member_daily,
)
from bot.store import Store


class QuotaAdmin:
    """What moderators change in a server's quota, each change audited."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    async def recent_changes(self, guild_id: int,
                             limit: int = RECENT_CHANGES) -> list[AuditEntry]:
        """Return the server's latest quota changes, newest first."""
        rows = await self._store.recent_quota_audit(guild_id, limit)
        return [AuditEntry.from_row(row) for row in rows]

    async def set_limits(self, guild_id: int, actor_id: int,
                         values: Mapping[str, object]) -> list[Change]:
        """Set a server's limits, audited, in one transaction.

        Validate every value first (nothing changes if one is bad), then set them and
        audit each actual change, in one transaction. Returns the changes.
        """
        clean = {name: validate_limit(name, value) for name, value in values.items()}

        async def set_limits() -> list[Change]:
            changes: list[Change] = []
            for name, new in clean.items():
                old = await self._limit(guild_id, name)
                if old == new:
                    continue
                await self._store.set_guild_limit(guild_id, name, new)
                changes.append(Change("set", name, old, new))
            await self._audit(guild_id, actor_id, changes)
            return changes

        return await self._store.run_transaction(set_limits)

    async def clear_limit(self, guild_id: int, actor_id: int, name: str) -> Change | None:
        """Remove one limit (it becomes unlimited). None if it was not set."""
        if name not in LIMIT_NAMES:
            raise QuotaValueError(lazy("Unknown limit {name}: use one of {names}.",
                                       name=repr(str(name)[:40]),
                                       names=", ".join(LIMIT_NAMES)))

        async def clear() -> Change | None:
            old = await self._limit(guild_id, name)
            if old is None:
                return None
            await self._store.delete_guild_limit(guild_id, name)
            change = Change("clear", name, old, None)
            await self._audit(guild_id, actor_id, [change])
            return change

        return await self._store.run_transaction(clear)

    async def set_member_daily(self, guild_id: int, actor_id: int, user_id: int,
                               daily: object) -> Change | None:
        """Give one member their own daily limit (instead of ``user_daily``).

        None if they had that limit already.
        """
        return await self._member_daily(guild_id, actor_id, user_id,
                                        validate_member_daily(daily))

    async def clear_member_daily(self, guild_id: int, actor_id: int,
                                 user_id: int) -> Change | None:
        """Remove one member's own daily limit (``user_daily`` applies to them again).

        None if they had none.
        """
        return await self._member_daily(guild_id, actor_id, user_id, None)

    async def _member_daily(self, guild_id: int, actor_id: int, user_id: int,
                            new: int | None) -> Change | None:
        """Set (or with None remove) a member's own daily limit, audited; None if unchanged."""

        async def change_member() -> Change | None:
            old = await self._store.member_override(guild_id, user_id)
            if old == new:
                return None
            await self._store.set_member_override(guild_id, user_id, new)
            change = Change("member", "daily", old, new, user_id=user_id)
            await self._audit(guild_id, actor_id, [change])
            return change

        return await self._store.run_transaction(change_member)

    async def reset(self, guild_id: int, actor_id: int, user_id: int | None) -> Change:
        """Forgive today's use of one member, or of everyone.

        It stops counting towards the daily limits and the cooldown; the month's count and the spend
        keep it.
        """
        day = Window.at(self._clock()).day

        async def reset() -> Change:
            forgiven = await self._store.forgive_day_usage(guild_id, day, user_id)
            change = Change("reset", "reset", float(forgiven), 0.0, user_id=user_id)
            await self._audit(guild_id, actor_id, [change])
            return change

        return await self._store.run_transaction(reset)

    async def _limit(self, guild_id: int, name: str) -> int | float | None:
        value = await self._store.guild_limit(guild_id, name)
        if value is None:
            return None
        return value if name == GUILD_MONTHLY_BUDGET else int(value)

    async def _audit(self, guild_id: int, actor_id: int, changes: list[Change]) -> None:
        now = self._clock()
        for change in changes:
            await self._store.insert_quota_audit((
                guild_id, actor_id, change.audit_action, change.user_id, change.old,
                change.new, now))
