"""What PostgreSQL adds to the store: its schema history, several processes at once (job
leases, quota decisions, change notices) and the urgent pool. Against the real server;
see tests/postgres.py for when these skip."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.jobs import JobRecord, JobStatus
from bot.presets import Preset
from bot.quota import QuotaDenied
from bot.quota_admin import QuotaAdmin
from bot.quota_service import QuotaService
from bot.settings_cache import GuildSettingsCache
from bot.store import LeaseConfig, Store, StoreBusyError, StoreError
from bot.store import migrations as sqlite_migrations
from bot.store.migrations import Migration
from bot.store.postgres import PostgresStore
from bot.store.postgres import migrations as pg_migrations
from tests import postgres
from tests.harness import eventually
from tests.helpers import make_job, store_rows

MOD = 99
#: Guild ids on shard 0 and shard 1 of 2 (Discord: (guild_id >> 22) % shard_count).
SHARD0_GUILD = 4 << 22
SHARD1_GUILD = (5 << 22) + 7


def two_shards(shard: int, lease_seconds: float = 0.6) -> LeaseConfig:
    return LeaseConfig(owner=f"test-host/shard-{shard}", shard_ids=(shard,), shard_count=2,
                       lease_seconds=lease_seconds)


def one_shard_each(pair: tuple[Store, Store],
                   lease_seconds: float = 0.6) -> tuple[Store, Store]:
    """The pair as the two processes of a two-shard bot: the first runs shard 0, the second
    shard 1."""
    first, second = pair
    first.configure_leases(two_shards(0, lease_seconds))
    second.configure_leases(two_shards(1, lease_seconds))
    return first, second


@pytest.fixture
def fresh_url() -> Iterator[str]:
    """A database of its own, never migrated."""
    yield from postgres.temporary_database("bot_fresh")


@pytest.fixture
async def pair(pg_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database, as two processes would have."""
    first, second = await Store.open(pg_url), await Store.open(pg_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


# --------------------------------------------------------------------------- schema


def test_both_engines_have_the_same_migrations() -> None:
    """Version n means the same tables and columns on either engine."""
    assert [(m.version, m.name) for m in pg_migrations.MIGRATIONS] == [
        (m.version, m.name) for m in sqlite_migrations.MIGRATIONS]


async def test_a_failing_migration_applies_none(fresh_url: str) -> None:
    broken = Migration(pg_migrations.LATEST_VERSION + 1, "broken",
                       ("CREATE TABLE extra (a integer)", "SELECT * FROM no_such_table"))
    with pytest.raises(StoreError, match=r"migration \d+ \(broken\) failed.*left at version 0"):
        await Store.open(fresh_url, migrations=(*pg_migrations.MIGRATIONS, broken))
    async with await Store.open(fresh_url, target_version=0) as store:
        assert await store_rows(store, "SELECT to_regclass('jobs'), to_regclass('extra')") == [
            (None, None)]


async def test_a_migration_must_record_its_version(fresh_url: str) -> None:
    forgetful = Migration(pg_migrations.LATEST_VERSION + 1, "forgetful",
                          ("CREATE TABLE extra (a integer)",))
    with pytest.raises(StoreError, match=r"store_schema\.version"):
        await Store.open(fresh_url, migrations=(*pg_migrations.MIGRATIONS, forgetful))


async def test_fresh_database_migrates_once_even_from_two_processes_at_once(
        fresh_url: str) -> None:
    stores = await asyncio.gather(Store.open(fresh_url), Store.open(fresh_url))
    try:
        assert all(isinstance(s, PostgresStore) for s in stores)
        assert [s.schema_version for s in stores] == [pg_migrations.LATEST_VERSION] * 2
        first = stores[0]
        assert isinstance(first, PostgresStore)
        assert await first.user_version() == pg_migrations.LATEST_VERSION
    finally:
        for store in stores:
            await store.close()


async def test_migration_3_fills_the_totals_from_existing_reservations(fresh_url: str) -> None:
    old = await Store.open(fresh_url, target_version=2)
    for user, cost, state, day in ((3, 0.08, "committed", "2024-05-01"),
                                   (3, None, "reserved", "2024-05-02"),
                                   (4, None, "released", "2024-05-02")):
        await store_rows(old, "INSERT INTO usage_reservations (guild_id, user_id, units, "
                              "cost_estimate, cost_actual, state, day, month, created_at) "
                              "VALUES (1, ?, 1, 0.08, ?, ?, ?, '2024-05', 0)",
                         user, cost, state, day)
    await old.close()
    async with await Store.open(fresh_url) as store:
        totals = {(g, u, p): (n, round(s, 6), round(r, 6)) for g, u, p, n, s, r in
                  await store_rows(store, "SELECT guild_id, user_id, period, units, spent, "
                                          "reserved_cost FROM usage_totals")}
    assert totals == {
        (1, 3, "2024-05-01"): (1, 0, 0), (1, 0, "2024-05-01"): (1, 0, 0),
        (1, 3, "2024-05-02"): (1, 0, 0), (1, 4, "2024-05-02"): (0, 0, 0),
        (1, 0, "2024-05-02"): (1, 0, 0), (1, 0, "2024-05"): (2, 0.08, 0.08)}


def test_a_newer_database_is_refused(pg_url: str) -> None:
    postgres.set_schema_version(pg_url, 99)
    try:
        with pytest.raises(StoreError, match="newer release"):
            asyncio.run(Store.open(pg_url))
    finally:
        postgres.set_schema_version(pg_url, pg_migrations.LATEST_VERSION)


async def test_an_unreachable_server_is_one_clear_error() -> None:
    with pytest.raises(Exception, match=r"cannot connect to PostgreSQL at "
                                        r"postgresql://bot@127\.0\.0\.1:1/x") as failed:
        await Store.open("postgresql://bot:hunter2@127.0.0.1:1/x", connect_timeout=2)
    assert "hunter2" not in str(failed.value)


# --------------------------------------------------------------------------- quota


@pytest.mark.parametrize("limit", ["guild_daily", "guild_monthly_budget"])
def test_500_decisions_from_two_processes_never_overspend(pg_url: str, limit: str) -> None:
    """Two event loops in two threads, each with its own store (its own connections),
    as two processes: 250 requests each for one server, all at once."""
    value = 4.0 if limit == "guild_monthly_budget" else 50  # 50 images × $0.08
    asyncio.run(_set_limit(pg_url, limit, value))
    start = threading.Barrier(2)
    outcomes: list[list[object]] = [[], []]

    def process(index: int) -> None:
        async def run() -> None:
            async with await Store.open(pg_url) as store:
                quota = QuotaService(store, max_group=16)
                jobs = [make_job(user_id=1000 + index * 1000 + i) for i in range(250)]
                start.wait()
                outcomes[index] = await asyncio.gather(
                    *(quota.admit(j) for j in jobs), return_exceptions=True)
        asyncio.run(run())

    threads = [threading.Thread(target=process, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    results = outcomes[0] + outcomes[1]
    assert len(results) == 500
    errors = [r for r in results if isinstance(r, BaseException)
              and not isinstance(r, QuotaDenied)]
    assert not errors
    granted = [r for r in results if not isinstance(r, BaseException)]
    assert len(granted) == 50, "exactly the limit, never more"
    assert all(len([r for r in part if not isinstance(r, BaseException)]) > 0
               for part in outcomes), "both processes were served"
    rows = asyncio.run(_rows(pg_url, "SELECT count(*), sum(units) FROM usage_reservations "
                                     "WHERE state = 'reserved'"))
    assert rows == [(50, 50)]


async def _set_limit(url: str, limit: str, value: float) -> None:
    async with await Store.open(url) as store:
        await QuotaAdmin(store).set_limits(1, MOD, {limit: value})


async def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    async with await Store.open(url) as store:
        return await store_rows(store, query)


async def test_admissions_do_not_wait_for_a_busy_main_pool(pg_url: str) -> None:
    async with await Store.open(pg_url, pool_size=2) as store:
        release = asyncio.Event()
        holding = asyncio.Event()
        held = 0

        async def hold() -> None:
            nonlocal held
            async with store.transaction():
                held += 1
                if held == 2:
                    holding.set()
                await release.wait()

        holders = [asyncio.create_task(hold()) for _ in range(2)]
        await holding.wait()
        try:
            async with asyncio.timeout(5):
                reservation = await QuotaService(store).admit(make_job())
            assert reservation.units == 1
        finally:
            release.set()
            await asyncio.gather(*holders)


# --------------------------------------------------------------------------- leases


async def test_a_process_claims_only_its_own_shards_and_nothing_held(
        pair: tuple[Store, Store]) -> None:
    first, second = one_shard_each(pair)
    mine = await first.insert_job(make_job(guild_id=SHARD0_GUILD))
    theirs = await first.insert_job(make_job(guild_id=SHARD1_GUILD))  # written by the first
    assert await second.claim_unfinished_jobs() == []  # the first holds both
    assert {j.id for j in await first.owned_unfinished_jobs()} == {mine.id, theirs.id}
    assert await second.owned_unfinished_jobs() == []
    assert (await first.renew_leases()) == {mine.id, theirs.id}


async def test_a_dead_processs_jobs_move_own_shard_first_then_anyone(
        pair: tuple[Store, Store]) -> None:
    # The grace (a third of the lease: 0.6 s) leaves a loaded machine room to make the
    # first claims after the leases ran out but before the grace did.
    first, second = one_shard_each(pair, lease_seconds=1.8)
    on_shard0 = await first.insert_job(make_job(guild_id=SHARD0_GUILD))
    on_shard1 = await first.insert_job(make_job(guild_id=SHARD1_GUILD))
    done = await first.insert_job(make_job(guild_id=SHARD1_GUILD))
    await first.update_job(done.id, status=JobStatus.COMPLETED, finished_at=time.time())
    # The first process dies: it renews nothing any more.
    await asyncio.sleep(1.85)
    assert [j.id for j in await second.claim_unfinished_jobs()] == [on_shard1.id]
    assert [j.id for j in await second.claim_undelivered_jobs()] == [done.id]
    await asyncio.sleep(0.65)  # past the grace: the other shard's job too
    assert [j.id for j in await second.claim_unfinished_jobs()] == [on_shard0.id]
    assert await second.claim_unfinished_jobs() == []  # claimed once
    assert await first.renew_leases() == set()  # the first lost them all
    assert {j.id for j in await second.owned_unfinished_jobs()} == {on_shard0.id, on_shard1.id}


async def test_claims_at_once_never_share_a_job(pg_url: str) -> None:
    # The race (a lease written by one claim while another's snapshot still saw none) hit
    # about one round in seven before it was closed: sixteen rounds make it show.
    for _ in range(16):
        async with await Store.open(pg_url) as writer:
            await store_rows(writer, "DELETE FROM job_leases")
            await store_rows(writer, "DELETE FROM jobs")
            jobs = [make_job(guild_id=SHARD0_GUILD + i) for i in range(60)]
            await writer.insert_jobs(jobs)
            await store_rows(writer, "DELETE FROM job_leases")  # e.g. copied from SQLite
        stores = [await Store.open(pg_url) for _ in range(3)]
        try:
            for i, store in enumerate(stores):
                store.configure_leases(LeaseConfig(owner=f"p{i}", lease_seconds=30))
            claims = await asyncio.gather(*(s.claim_unfinished_jobs() for s in stores))
        finally:
            for store in stores:
                await store.close()
        ids = [j.id for claim in claims for j in claim]
        assert sorted(ids) == sorted(j.id for j in jobs)  # every job, each once


async def test_a_restart_takes_its_own_leases_back_at_once(pg_url: str) -> None:
    config = two_shards(0, lease_seconds=60)
    async with await Store.open(pg_url) as before:
        before.configure_leases(config)
        job = await before.insert_job(make_job(guild_id=SHARD0_GUILD))
    async with await Store.open(pg_url) as other:  # another process may not take it
        other.configure_leases(two_shards(1, lease_seconds=60))
        assert await other.take_unfinished_jobs() == []
    async with await Store.open(pg_url) as after:  # same owner, a new run of it
        after.configure_leases(config)
        assert [j.id for j in await after.take_unfinished_jobs()] == [job.id]


async def test_delivered_jobs_give_their_lease_up(pg_url: str) -> None:
    async with await Store.open(pg_url) as store:
        job = await store.insert_job(make_job())
        await store.update_job(job.id, status=JobStatus.COMPLETED, delivered_at=time.time())
        assert await store.renew_leases() == set()
        assert await store_rows(store, "SELECT count(*) FROM job_leases") == [(0,)]


# --------------------------------------------------------------------------- notices


async def test_a_settings_or_preset_change_reaches_the_other_process_within_moments(
        pair: tuple[Store, Store]) -> None:
    first, second = pair
    here, there = GuildSettingsCache(first), GuildSettingsCache(second)
    for cache in (here, there):
        await cache.load()
        await cache.follow_changes()
    await here.add_blocked_words(SHARD0_GUILD, ["forbidden"])
    await here.update(SHARD0_GUILD, reframe_enabled=False)
    await here.add_allowed_channel(SHARD0_GUILD, 77)
    await here.save_preset(SHARD0_GUILD, Preset(name="Kit", style="design", updated_at=1.0),
                           actor_id=MOD)
    await eventually(lambda: there.get(SHARD0_GUILD) == here.get(SHARD0_GUILD)
                     and there.preset(SHARD0_GUILD, "kit") is not None, timeout=5,
                     what="the other cache follows")
    seen = there.get(SHARD0_GUILD)
    assert seen.blocked_words == ("forbidden",) and not seen.reframe_enabled
    assert seen.allowed_channel_ids == frozenset({77})


# --------------------------------------------------------------------------- the test server


def test_no_server_skips_with_a_reason_unless_it_is_required(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres, "ADMIN_URL", "postgresql://postgres@127.0.0.1:1/test")
    monkeypatch.delenv("REQUIRE_POSTGRES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no PostgreSQL server answers"):
        postgres.server_or_skip()
    monkeypatch.setenv("REQUIRE_POSTGRES", "1")
    with pytest.raises(pytest.fail.Exception, match="REQUIRE_POSTGRES=1"):
        postgres.server_or_skip()


async def test_settings_changed_at_once_from_two_processes_keep_both_changes(
        pair: tuple[Store, Store]) -> None:
    first, second = pair
    for round_ in range(10):
        guild = SHARD0_GUILD + round_
        await asyncio.gather(first.update_guild_settings(guild, provider="ideogram"),
                             second.update_guild_settings(guild, log_channel_id=55),
                             first.update_guild_settings(guild, reframe_enabled=False))
        settled = await second.get_guild_settings(guild)
        assert (settled.provider, settled.log_channel_id, settled.reframe_enabled) == (
            "ideogram", 55, False)


# --------------------------------------------------------------------------- operations


async def test_health_probe_stop_and_sql_log(pg_url: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncpg.sql")
    async with await Store.open(pg_url) as store:
        await store.probe_write()
        assert await store.checkpoint() is True
        await store.get_job("not-there")
    assert any("FROM jobs WHERE id = $1" in r.getMessage() for r in caplog.records
               if r.name == "asyncpg.sql")
    closed = await Store.open(pg_url)
    await closed.close()
    with pytest.raises(StoreError, match="closed"):
        await closed.probe_write()


class TrackerStub:
    """What the lease keeper asks of the tracker, recorded."""

    def __init__(self, polled: set[str] | None = None) -> None:
        self.polled = polled or set()
        self.let_go_of: set[str] = set()
        self.taken: list[str] = []
        self.tasks: list[asyncio.Task[Any]] = []

    def polled_ids(self) -> set[str]:
        return set(self.polled)

    def let_go(self, job_ids: set[str]) -> None:
        self.let_go_of |= job_ids
        self.polled -= job_ids

    async def take_over(self, job: JobRecord) -> None:
        self.taken.append(job.id)

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.append(task)
        return task


async def test_the_lease_keeper_hands_jobs_over_and_lets_lost_ones_go(
        pair: tuple[Store, Store]) -> None:
    from bot.leases import LeaseKeeper

    first, second = one_shard_each(pair)
    job = await first.insert_job(make_job(guild_id=SHARD1_GUILD))
    stalled, survivor = TrackerStub({job.id}), TrackerStub()
    first_keeper = LeaseKeeper(first, stalled)  # type: ignore[arg-type]  # a stub tracker
    second_keeper = LeaseKeeper(second, survivor)  # type: ignore[arg-type]  # a stub tracker
    assert await first_keeper.run_once() == 0 and not stalled.let_go_of  # renewed, kept
    assert await second_keeper.run_once() == 0  # held by a live process
    await asyncio.sleep(0.65)  # the first stalls past its lease
    assert await second_keeper.run_once() == 1
    await asyncio.gather(*survivor.tasks)  # taken over in a task, not in the renewal round
    assert survivor.taken == [job.id]
    await first_keeper.run_once()  # back: the job is the other's now
    assert stalled.let_go_of == {job.id} and not stalled.polled


async def test_leases_are_renewed_while_the_start_adopts_its_jobs(
        pair: tuple[Store, Store]) -> None:
    from bot.leases import LeaseKeeper

    first, second = one_shard_each(pair)
    await first.insert_job(make_job(guild_id=SHARD1_GUILD))
    starting = LeaseKeeper(first, TrackerStub(), interval=0.2)  # type: ignore[arg-type]  # a stub tracker
    other = LeaseKeeper(second, TrackerStub())  # type: ignore[arg-type]  # a stub tracker

    async def a_slow_start() -> str:  # asking Discord about many replies, say
        await asyncio.sleep(1.2)
        return "started"

    async def the_other_tries_to_claim() -> int:
        await asyncio.sleep(0.9)  # past the lease, had it not been renewed
        return await other.run_once()

    started, claimed = await asyncio.gather(starting.renewing_while(a_slow_start()),
                                            the_other_tries_to_claim())
    assert started == "started" and claimed == 0


async def test_sqlite_needs_no_lease_keeper(tmp_path: Path) -> None:
    from bot.leases import LeaseKeeper

    async with await Store.open(tmp_path / "one.db") as store:
        assert not store.leases_enabled
        stub = TrackerStub({"x"})
        assert await LeaseKeeper(store, stub).run_once() == 0  # type: ignore[arg-type]  # a stub tracker
        assert stub.polled == {"x"} and await store.claim_unfinished_jobs() == []


async def test_the_store_survives_the_server_dropping_its_connections(pg_url: str) -> None:
    async with await Store.open(pg_url, pool_size=1) as store:
        job = await store.insert_job(make_job())
        admin = await asyncpg.connect(pg_url)
        try:  # the server drops every connection the store holds (a restart, a failover)
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        finally:
            await admin.close()
        # A failure on the way is one the tracker retries (busy), never a crash.
        for _ in range(3):
            try:
                assert await store.get_job(job.id) == job
                break
            except StoreBusyError:
                continue
        else:
            raise AssertionError("the pool never came back")
