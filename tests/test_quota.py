"""bot/quota.py on real databases (SQLite files; PostgreSQL too where the ``store``
fixture runs): the policy, concurrency, windows and administration."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.inputs import ReframeInputs
from bot.jobs import JobRecord, JobStatus
from bot.pricing import PriceTable
from bot.quota import (
    LIMIT_NAMES,
    Allowance,
    Limits,
    QuotaDenied,
    QuotaValueError,
    Reservation,
    Window,
    validate_limit,
    validate_member_daily,
)
from bot.quota_admin import QuotaAdmin
from bot.quota_service import QuotaService
from bot.store import Store
from tests.helpers import db_rows, make_job, store_rows

GUILD = 1
MOD = 99


class Clock:
    def __init__(self, when: datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when.timestamp()


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def clocked_quota(store: Store, *when: int) -> tuple[Clock, QuotaService, QuotaAdmin]:
    """The quota service and its moderators' side, on a clock that starts at ``utc(*when)``
    and moves when the test says."""
    clock = Clock(utc(*when))
    return clock, QuotaService(store, clock=clock), QuotaAdmin(store, clock=clock)


def job(user_id: int = 3, guild_id: int = GUILD, prompt: str = "a lighthouse") -> JobRecord:
    return make_job(prompt, seed=1, guild_id=guild_id, user_id=user_id)


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(("name", "value"), [
    ("user_daily", -1), ("user_daily", True), ("user_daily", "5"), ("user_daily", 2.5),
    ("user_daily", 1_000_001), ("cooldown_seconds", 7 * 86_400 + 1), ("max_concurrent", None),
    ("guild_monthly_budget", -0.01), ("guild_monthly_budget", math.nan),
    ("guild_monthly_budget", math.inf), ("guild_monthly_budget", "10"),
    ("guild_monthly_budget", False), ("nonsense", 1),
])
def test_bad_values_are_refused_with_what_is_allowed(name: str, value: object) -> None:
    with pytest.raises(QuotaValueError) as info:
        validate_limit(name, value)
    assert info.value.message.endswith(".")


def test_good_values() -> None:
    assert validate_limit("user_daily", 0) == 0
    assert validate_limit("guild_monthly", 5.0) == 5  # an integral float is a whole number
    assert validate_limit("guild_monthly_budget", 25) == 25.0
    assert validate_member_daily(7) == 7
    with pytest.raises(QuotaValueError):
        validate_member_daily(-3)


def test_limits_read_from_a_row_by_their_names() -> None:
    # Limits.from_row reads each limit from the column of its name.
    assert [f.name for f in dataclasses.fields(Limits)] == list(LIMIT_NAMES)
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    columns = ", ".join(f"{value} AS {name}" for name, value in
                        zip(LIMIT_NAMES, ("10", "NULL", "300", "0", "2", "12.5"), strict=True))
    row = conn.execute(f"SELECT {columns}").fetchone()
    assert Limits.from_row(row) == Limits(user_daily=10, guild_monthly=300, cooldown_seconds=0,
                                          max_concurrent=2, guild_monthly_budget=12.5)
    conn.close()


def test_windows_are_utc_days_and_months() -> None:
    w = Window.at(utc(2024, 2, 29, 23, 59, 59).timestamp())
    assert (w.day, w.month) == ("2024-02-29", "2024-02")
    assert w.day_end == utc(2024, 3, 1).timestamp() == w.month_end
    w = Window.at(utc(2024, 12, 31, 12).timestamp())
    assert w.month_end == utc(2025, 1, 1).timestamp()


def test_prices_come_from_the_settings() -> None:
    from bot.config import ConfigError, load_settings

    prices = PriceTable.from_settings(load_settings(None, PRICE_REFRAME_TURBO=0.05))
    assert prices.reframe["TURBO"] == 0.05 and prices.generate == 0.08
    with pytest.raises(ConfigError, match="PRICE_GENERATE is invalid"):
        load_settings(None, PRICE_GENERATE=-1)


def test_price_table() -> None:
    prices = PriceTable()
    assert prices.estimate(job().model, {}) == 0.08
    for speed, price in (("TURBO", 0.03), ("BALANCED", 0.06), ("QUALITY", 0.09)):
        inputs = ReframeInputs(image_url="https://x/y.png", rendering_speed=speed, seed=1)
        assert prices.estimate(inputs.model, inputs.to_payload()) == price


# --------------------------------------------------------------------------- concurrency


@pytest.mark.parametrize("limit", ["guild_daily", "max_concurrent", "guild_monthly_budget"])
async def test_500_concurrent_reservations_grant_exactly_50(database_url: str, limit: str) -> None:
    async with await Store.open(database_url) as store:  # closed also when a check fails
        quota, admin = QuotaService(store), QuotaAdmin(store)
        value = 4.0 if limit == "guild_monthly_budget" else 50  # 50 × $0.08 = $4.00
        await admin.set_limits(GUILD, MOD, {limit: value})
        one_member = limit == "max_concurrent"
        jobs = [job(user_id=7 if one_member else 1000 + i) for i in range(500)]
        results = await asyncio.gather(*(quota.reserve(j) for j in jobs),
                                       return_exceptions=True)
        granted = [r for r in results if not isinstance(r, BaseException)]
        denied = [r for r in results if isinstance(r, QuotaDenied)]
        assert len(granted) == 50 and len(denied) == 450
        assert {d.kind for d in denied} == {limit}

    reopened = await Store.open(database_url)  # a restart: the database agrees
    try:
        assert await store_rows(reopened, "SELECT count(*), sum(units) FROM usage_reservations "
                                          "WHERE state = 'reserved'") == [(50, 50)]
        snapshot = await QuotaService(reopened).snapshot(GUILD, 7)
        assert snapshot.usage.guild_day == 50 and snapshot.usage.guild_month == 50
        assert snapshot.usage.month_reserved == pytest.approx(4.0)
        with pytest.raises(QuotaDenied):
            await QuotaService(reopened).reserve(job(user_id=7))
    finally:
        await reopened.close()


# --------------------------------------------------------------------------- windows


async def test_daily_limit_rolls_at_midnight_utc(store: Store) -> None:
    clock, quota, admin = clocked_quota(store, 2024, 1, 31, 23, 59, 59)
    await admin.set_limits(GUILD, MOD, {"user_daily": 1, "guild_daily": 5})
    await quota.reserve(job())
    with pytest.raises(QuotaDenied) as info:
        await quota.reserve(job())
    midnight = int(utc(2024, 2, 1).timestamp())
    assert info.value.message == f"Daily limit for you (1) reached — resets <t:{midnight}:R>"
    assert info.value.retry_at == midnight
    await quota.reserve(job(user_id=4))  # someone else still may
    clock.set(utc(2024, 2, 1, 0, 0, 0))
    await quota.reserve(job())  # a new day
    assert (await quota.allowance(GUILD, 3)).footer_text() == "0 images left today"
    assert (await quota.allowance(GUILD, 5)).footer_text() == "1 image left today"


async def test_monthly_limit_and_budget_roll_at_month_end(store: Store) -> None:
    clock, quota, admin = clocked_quota(store, 2024, 12, 31, 23, 59, 59)
    await admin.set_limits(GUILD, MOD, {"guild_monthly": 1})
    await quota.reserve(job())
    with pytest.raises(QuotaDenied) as info:
        await quota.reserve(job(user_id=4))
    new_year = int(utc(2025, 1, 1).timestamp())
    assert info.value.message == (
        f"Monthly limit for this server (1) reached — resets <t:{new_year}:R>")
    clock.set(utc(2025, 1, 1))
    await quota.reserve(job(user_id=4))

    await admin.clear_limit(GUILD, MOD, "guild_monthly")
    await admin.set_limits(GUILD, MOD, {"guild_monthly_budget": 0.10})
    with pytest.raises(QuotaDenied) as info:
        await quota.reserve(job())  # $0.08 in flight + $0.08 > $0.10
    assert info.value.kind == "guild_monthly_budget" and "$0.10" in info.value.message
    clock.set(utc(2025, 2, 1))
    await quota.reserve(job())


async def test_cooldown_and_concurrency_messages(store: Store) -> None:
    clock, quota, admin = clocked_quota(store, 2024, 5, 5, 12)
    await admin.set_limits(GUILD, MOD, {"cooldown_seconds": 30, "max_concurrent": 2})
    first = job()
    await quota.reserve(first)
    with pytest.raises(QuotaDenied) as info:
        await quota.reserve(job())
    assert info.value.message == f"Cooldown: try again <t:{int(clock.now) + 30}:R>"
    clock.now += 30
    await quota.reserve(job())
    clock.now += 30
    with pytest.raises(QuotaDenied) as info:
        await quota.reserve(job())
    assert info.value.message == ("You already have 2 images in progress (limit 2) — "
                                  "try again when one finishes.")
    assert await quota.release(first.id)
    await quota.reserve(job())  # the released one no longer counts


async def test_a_limit_of_zero_stops_generation(store: Store) -> None:
    quota, admin = QuotaService(store), QuotaAdmin(store)
    await admin.set_member_daily(GUILD, MOD, 3, 0)
    with pytest.raises(QuotaDenied, match="your daily limit is 0"):
        await quota.reserve(job(user_id=3))
    await quota.reserve(job(user_id=4))
    await admin.set_limits(GUILD, MOD, {"guild_monthly_budget": 0})
    with pytest.raises(QuotaDenied, match=r"turned off on this server \(monthly budget \$0\)"):
        await quota.reserve(job(user_id=4))


async def test_no_limit_means_unlimited_and_use_is_still_recorded(store: Store) -> None:
    quota = QuotaService(store)
    for _ in range(20):
        await quota.reserve(job())
    snapshot = await quota.snapshot(GUILD, 3)
    assert snapshot.usage.user_day == 20 and Allowance.of(snapshot).footer_text() is None


# --------------------------------------------------------------------------- moderators


async def test_changes_are_audited_old_to_new(store: Store) -> None:
    clock, quota, admin = clocked_quota(store, 2024, 3, 3, 3)
    changes = await admin.set_limits(GUILD, MOD, {"user_daily": 10, "guild_monthly_budget": 5})
    assert [c.describe() for c in changes] == ["user_daily: unlimited → 10",
                                               "guild_monthly_budget: unlimited → $5.00"]
    assert await admin.set_limits(GUILD, MOD, {"user_daily": 10}) == []  # unchanged: no audit
    clock.now += 1
    await admin.set_limits(GUILD, MOD + 1, {"user_daily": 5})
    assert (await admin.clear_limit(GUILD, MOD, "guild_monthly_budget")) is not None
    assert await admin.clear_limit(GUILD, MOD, "guild_monthly_budget") is None
    await admin.set_member_daily(GUILD, MOD, 3, 20)
    with pytest.raises(QuotaValueError):
        await admin.set_limits(GUILD, MOD, {"guild_daily": 3, "user_daily": -1})
    recent = await admin.recent_changes(GUILD)
    assert [(e.actor_id, e.change.audit_action, e.change.old, e.change.new) for e in recent] == [
        (MOD, "member:daily", None, 20),
        (MOD, "clear:guild_monthly_budget", 5.0, None),
        (MOD + 1, "set:user_daily", 10, 5),
        (MOD, "set:guild_monthly_budget", None, 5.0),
        (MOD, "set:user_daily", None, 10),
    ]
    snapshot = await quota.snapshot(GUILD, 3)
    assert snapshot.limits.guild_daily is None  # the bad batch changed nothing
    assert snapshot.user_daily == 20 and snapshot.limits.user_daily == 5


async def test_a_members_own_daily_limit_is_cleared_audited(store: Store) -> None:
    _, quota, admin = clocked_quota(store, 2024, 3, 3, 3)
    await admin.set_limits(GUILD, MOD, {"user_daily": 5})
    await admin.set_member_daily(GUILD, MOD, 3, 20)
    await admin.set_member_daily(GUILD, MOD, 4, 1)
    change = await admin.clear_member_daily(GUILD, MOD + 1, 3)
    assert change is not None and (change.old, change.new, change.user_id) == (20, None, 3)
    assert await admin.clear_member_daily(GUILD, MOD, 3) is None  # nothing left: no audit
    [latest] = await admin.recent_changes(GUILD, limit=1)
    assert (latest.actor_id, latest.change.audit_action, latest.change.old,
            latest.change.new, latest.change.user_id) == (MOD + 1, "member:daily", 20, None, 3)
    assert (await quota.snapshot(GUILD, 3)).user_daily == 5  # the server's limit again
    assert (await quota.snapshot(GUILD, 4)).user_daily == 1  # another member's stays


async def test_reset_forgives_today_not_the_month_or_the_spend(store: Store) -> None:
    _, quota, admin = clocked_quota(store, 2024, 6, 1, 10)
    await admin.set_limits(GUILD, MOD, {"user_daily": 2, "cooldown_seconds": 3600})
    done = job()
    await quota.reserve(done)
    await quota.commit(done.evolve(cost=0.08))
    with pytest.raises(QuotaDenied, match="Cooldown"):
        await quota.reserve(job())
    await quota.reserve(job(user_id=4))
    change = await admin.reset(GUILD, MOD, 3)
    assert change.old == 1 and change.user_id == 3
    snapshot = await quota.snapshot(GUILD, 3)
    assert snapshot.usage.user_day == 0 and snapshot.usage.guild_day == 1  # bob's still counts
    assert snapshot.usage.guild_month == 2 and snapshot.usage.month_spent == pytest.approx(0.08)
    await quota.reserve(job())  # no cooldown any more
    everyone = await admin.reset(GUILD, MOD, None)
    assert everyone.old == 2
    assert (await admin.recent_changes(GUILD))[0].change.audit_action == "reset"


# --------------------------------------------------------------------------- the service


async def test_requests_are_decided_in_arrival_order(store: Store) -> None:
    quota = QuotaService(store, max_group=16)
    await QuotaAdmin(store).set_limits(GUILD, MOD, {"guild_daily": 50})
    jobs = [job(user_id=1000 + i) for i in range(200)]
    results = await asyncio.gather(*(quota.reserve(j) for j in jobs), return_exceptions=True)
    assert [not isinstance(r, BaseException) for r in results] == [True] * 50 + [False] * 150


async def test_callers_that_give_up_leave_nothing_reserved(store: Store) -> None:
    tasks: dict[str, asyncio.Task[Reservation]] = {}

    class GivingUp(QuotaService):
        """Every third caller gives up just after its reservation was written, before the
        batch commits: the reservation must not stay."""

        async def _decide(self, request: Any, *when: Any) -> Any:
            outcome = await super()._decide(request, *when)
            job_id = request.job.id
            if list(tasks).index(job_id) % 3 == 0:
                tasks[job_id].cancel()
            return outcome

    quota = GivingUp(store, max_group=8)
    for i in range(90):
        j = job(user_id=1000 + i)
        tasks[j.id] = asyncio.create_task(quota.reserve(j))
    await asyncio.sleep(0)
    for task in list(tasks.values())[1::3]:  # others give up before their turn
        task.cancel()
    done = await asyncio.gather(*tasks.values(), return_exceptions=True)
    granted = [r for r in done if isinstance(r, Reservation)]
    assert len(granted) == 30
    reserved = await store_rows(store, "SELECT job_key FROM usage_reservations "
                                       "WHERE state = 'reserved'")
    assert sorted(k for (k,) in reserved) == sorted(r.job_key for r in granted)
    assert await store_rows(store, "SELECT count(*) FROM usage_reservations "
                                   "WHERE state = 'released'") == [(30,)]


async def test_a_store_failure_fails_the_batch_and_records_nothing(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "gone.db")
    quota = QuotaService(store)
    await store.close()
    results = await asyncio.gather(*(quota.reserve(job()) for _ in range(5)),
                                   return_exceptions=True)
    assert all(type(r).__name__ == "StoreError" for r in results)


def _rounded(rows: list[tuple[Any, ...]]) -> set[tuple[object, ...]]:
    return {(int(g), int(u), str(p), int(n), round(float(a), 6), round(float(b), 6))
            for g, u, p, n, a, b in rows}


_TOTALS_FROM_ROWS = (
    "SELECT guild_id, user_id, day, sum(CASE WHEN state <> 'released' AND forgiven = 0 "
    "THEN units ELSE 0 END), 0.0, 0.0 FROM usage_reservations GROUP BY guild_id, user_id, day",
    "SELECT guild_id, 0, day, sum(CASE WHEN state <> 'released' AND forgiven = 0 THEN units "
    "ELSE 0 END), 0.0, 0.0 FROM usage_reservations GROUP BY guild_id, day",
    "SELECT guild_id, 0, month, sum(CASE WHEN state <> 'released' THEN units ELSE 0 END), "
    "sum(CASE WHEN state = 'committed' THEN cost_actual ELSE 0 END), "
    "sum(CASE WHEN state = 'reserved' THEN cost_estimate ELSE 0 END) "
    "FROM usage_reservations GROUP BY guild_id, month",
)
_TOTALS = "SELECT guild_id, user_id, period, units, spent, reserved_cost FROM usage_totals"


def _totals_from_rows(path: Path) -> set[tuple[object, ...]]:
    """usage_totals recomputed from the reservations (rounded money)."""
    return _rounded([r for query in _TOTALS_FROM_ROWS for r in db_rows(path, query)])


def _totals(path: Path) -> set[tuple[object, ...]]:
    return _rounded(db_rows(path, _TOTALS))


async def _store_totals_from_rows(store: Store) -> set[tuple[object, ...]]:
    return _rounded([r for query in _TOTALS_FROM_ROWS for r in await store_rows(store, query)])


async def _store_totals(store: Store) -> set[tuple[object, ...]]:
    return _rounded(await store_rows(store, _TOTALS))


async def test_running_totals_always_match_the_reservations(store: Store) -> None:
    clock, quota, admin = clocked_quota(store, 2024, 7, 31, 23, 59)
    jobs = [job(user_id=3 + i % 3) for i in range(12)]
    for i, j in enumerate(jobs):
        if i == 6:
            clock.set(utc(2024, 8, 1, 0, 1))  # a new day and month half-way
        await quota.reserve(j)
    await quota.commit(jobs[0].evolve(cost=0.05))
    await quota.commit(jobs[7])  # no provider cost: the estimate
    await quota.release(jobs[1].id)
    await quota.release(jobs[8].id)
    await admin.reset(GUILD, MOD, 4)
    await store.insert_job(jobs[2])  # a job row that then goes away with its reservation
    await quota.settle(jobs[2].evolve(status=JobStatus.COMPLETED, cost=0.07))
    await store_rows(store, "DELETE FROM jobs WHERE id = ?", jobs[2].id)
    await quota.reconcile()  # releases the rest: no job rows
    assert await _store_totals(store) == await _store_totals_from_rows(store)


async def test_migration_3_fills_the_totals_from_existing_reservations(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = await Store.open(path, target_version=2)
    await old.close()
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO usage_reservations (guild_id, user_id, units, cost_estimate, "
            "cost_actual, state, day, month, created_at) VALUES (1, ?, 1, 0.08, ?, ?, ?, ?, 0)",
            [(3, 0.08, "committed", "2024-05-01", "2024-05"),
             (3, None, "reserved", "2024-05-02", "2024-05"),
             (4, None, "released", "2024-05-02", "2024-05")])
    async with await Store.open(path) as store:
        assert store.schema_version >= 3
    assert _totals(path) == _totals_from_rows(path)


@pytest.mark.parametrize("seed", [1, 2, 3, "budget"])
async def test_a_batch_decides_exactly_as_one_decision_at_a_time(
        store: Store, tmp_path: Path, seed: int | str) -> None:
    """Many members of two servers, every limit set (or the budget alone binding), a
    member's override, earlier use and a settled reservation: one batch of 120 decides as
    120 single decisions do."""
    rng = random.Random(seed)
    limits: dict[str, float] = {
        "user_daily": rng.randint(2, 6), "guild_daily": rng.randint(20, 60),
        "guild_monthly": rng.randint(30, 90), "max_concurrent": rng.randint(1, 4),
        "guild_monthly_budget": round(rng.uniform(1.0, 4.0), 2),
        "cooldown_seconds": rng.choice([0, 30])}
    if seed == "budget":
        limits = {"guild_monthly_budget": 1.3, "user_daily": 50}
    requests = [job(user_id=rng.randint(3, 12), guild_id=rng.choice([GUILD, GUILD + 1]))
                for _ in range(120)]

    async def decisions(target: Store, max_group: int) -> list[str]:
        clock = Clock(utc(2025, 3, 14, 12))
        quota = QuotaService(target, clock=clock, max_group=max_group)
        admin = QuotaAdmin(target, clock=clock)
        earlier = [job(user_id=u) for u in (3, 4, 4)]
        for j in earlier:
            await quota.reserve(j)
        await quota.commit(earlier[0].evolve(cost=0.5))
        for guild in (GUILD, GUILD + 1):
            await admin.set_limits(guild, MOD, limits)
            await admin.set_member_daily(guild, MOD, 5, 9)
        clock.now += 60
        results = await asyncio.gather(
            *(quota.reserve(j.evolve(id=f"{i:032x}")) for i, j in enumerate(requests)),
            return_exceptions=True)
        return [r.kind if isinstance(r, QuotaDenied) else "granted" for r in results]

    async with await Store.open(tmp_path / "one-at-a-time.db") as reference:
        expected = await decisions(reference, max_group=1)
    assert await decisions(store, max_group=128) == expected
    assert 0 < expected.count("granted") < len(expected)
