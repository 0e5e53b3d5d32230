"""The store, on both engines (the ``store`` fixture: an SQLite file under tmp_path, or the
session's PostgreSQL database), and the SQLite file's own matters (paths, pragmas,
migrations)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.jobs import UNFINISHED_STATUSES, JobRecord, JobStatus, new_job_id
from bot.store import (
    LATEST_VERSION,
    MIGRATIONS,
    GuildSettings,
    JobNotFoundError,
    Migration,
    Store,
    StoreError,
    parse_database_url,
)
from tests.helpers import store_rows

GUILD = 1001
OTHER_GUILD = 2002
GENERATE = "ideogram/ideogram-v2/generate"
REFRAME = "ideogram/ideogram-v3/reframe"


def make_job(**overrides: Any) -> JobRecord:
    values: dict[str, Any] = {
        "id": new_job_id(),
        "provider": "runcomfy",
        "model": GENERATE,
        "guild_id": GUILD,
        "channel_id": 11,
        "user_id": 42,
        "inputs": {"prompt": "a red fox", "aspect_ratio": "1:1", "seed": 7},
        "seed": 7,
    }
    values.update(overrides)
    return JobRecord(**values)


def file_user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def file_tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def file_columns(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.db"


#: What each engine raises when a row breaks a constraint.
INTEGRITY_ERRORS = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)


@pytest.fixture
async def sqlite_store(db_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(db_path)
    try:
        yield s
    finally:
        await s.close()


# --------------------------------------------------------------------------- urls, opening


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/bot.db", "data/bot.db"),
        ("sqlite:////var/lib/bot/bot.db", "/var/lib/bot/bot.db"),
        ("sqlite+aiosqlite:///data/bot.db", "data/bot.db"),
        ("sqlite:///data/my%20bot.db", "data/my bot.db"),
        ("data/bot.db", "data/bot.db"),
        ("/abs/bot.db", "/abs/bot.db"),
        (":memory:", ":memory:"),
        ("sqlite://", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_parse_database_url(url: str, expected: str) -> None:
    assert parse_database_url(url) == expected


@pytest.mark.parametrize("url", ["", "postgresql://localhost/bot", "sqlite://host/bot.db"])
def test_parse_database_url_refuses(url: str) -> None:
    with pytest.raises(StoreError):
        parse_database_url(url)


async def test_open_url_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "bot.db"
    async with await Store.open(f"sqlite:///{path}") as s:  # absolute: sqlite:////…
        assert s.path == str(path)
        assert s.schema_version == LATEST_VERSION
    assert path.exists()
    assert s.closed


async def test_memory_database() -> None:
    async with await Store.open(":memory:") as s:
        job = await s.insert_job(make_job())
        assert await s.get_job(job.id) == job


async def test_restart_keeps_jobs_and_settings(db_path: Path) -> None:
    job = make_job(status=JobStatus.QUEUED, request_id="req-1", queue_position=3)
    first = await Store.open(f"sqlite:///{db_path}")
    await first.insert_job(job)
    await first.update_guild_settings(GUILD, provider="ideogram", reframe_enabled=False)
    await first.add_allowed_channel(GUILD, 55)
    await first.add_blocked_words(GUILD, ["Spam", "bad words"])
    await first.close()

    second = await Store.open(db_path)
    try:
        assert await second.get_job(job.id) == job
        assert [j.id for j in await second.unfinished_jobs()] == [job.id]
        settings = await second.get_guild_settings(GUILD)
        assert settings.provider == "ideogram"
        assert settings.reframe_enabled is False
        assert settings.ideogram_enabled is True
        assert settings.allowed_channel_ids == frozenset({55})
        assert settings.blocked_words == ("bad words", "spam")
    finally:
        await second.close()


async def test_closed_store_refuses_and_close_is_idempotent(db_path: Path) -> None:
    s = await Store.open(db_path)
    await s.close()
    await s.close()
    with pytest.raises(StoreError, match="closed"):
        await s.get_job("x")


async def test_pragmas_in_effect(sqlite_store: Store) -> None:
    store: Any = sqlite_store
    assert await store.pragma("journal_mode") == "wal"
    assert await store.pragma("foreign_keys") == 1
    assert await store.pragma("user_version") == LATEST_VERSION
    async with store.transaction(immediate=False) as conn:
        busy = await conn.execute_fetchall("PRAGMA busy_timeout")
        sync = await conn.execute_fetchall("PRAGMA synchronous")
    assert next(iter(busy))[0] == 5000
    assert next(iter(sync))[0] == 1  # NORMAL


async def test_foreign_keys_enforced_and_cascade(store: Store) -> None:
    job = await store.insert_job(make_job())
    insert = (
        "INSERT INTO usage_reservations (job_id, guild_id, user_id, units, state, day, month,"
        " created_at) VALUES (?, ?, ?, 1, 'reserved', '2025-01-01', '2025-01', 0)"
    )
    await store_rows(store, insert, job.id, GUILD, 42)
    with pytest.raises(INTEGRITY_ERRORS):
        await store_rows(store, insert, "no-such-job", GUILD, 42)
    await store_rows(store, "DELETE FROM jobs WHERE id = ?", job.id)
    assert await store_rows(store, "SELECT count(*) FROM usage_reservations") == [(0,)]


# --------------------------------------------------------------------------- migrations


async def test_empty_file_migrates_to_latest(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    sqlite3.connect(db_path).close()  # an existing, empty file
    assert file_user_version(db_path) == 0
    async with await Store.open(db_path) as s:
        assert await s.user_version() == LATEST_VERSION == len(MIGRATIONS)
    assert file_user_version(db_path) == LATEST_VERSION
    assert {
        "jobs",
        "guild_settings",
        "guild_allowed_channels",
        "guild_blocked_words",
        "guild_limits",
        "member_overrides",
        "usage_reservations",
        "quota_audit",
    } <= file_tables(db_path)
    assert {"revised_prompt", "deleted_at"} <= file_columns(db_path, "jobs")


async def test_version_1_file_keeps_rows_and_gains_columns(db_path: Path) -> None:
    old = await Store.open(db_path, target_version=1)
    assert old.schema_version == 1
    async with old.transaction() as conn:  # written as the version-1 code would have
        await conn.execute(
            "INSERT INTO jobs (id, provider, model, guild_id, channel_id, user_id, inputs,"
            " seed, status, result_urls, created_at, updated_at)"
            " VALUES ('0123456789abcdef', 'runcomfy', ?, ?, 11, 42, ?, 5, 'completed', ?,"
            " 100.0, 101.0)",
            (GENERATE, GUILD, '{"prompt": "old fox"}', '["https://x/1.png"]'),
        )
    await old.close()
    assert file_user_version(db_path) == 1
    assert "revised_prompt" not in file_columns(db_path, "jobs")

    async with await Store.open(db_path) as s:
        assert s.schema_version == LATEST_VERSION
        job = await s.get_job("0123456789abcdef")
        assert job is not None
        assert job.inputs == {"prompt": "old fox"}
        assert job.result_urls == ["https://x/1.png"]
        assert job.status is JobStatus.COMPLETED
        assert job.revised_prompt is None and job.deleted_at is None
        updated = await s.update_job(job.id, revised_prompt="an old fox", deleted_at=200.0)
        assert (updated.revised_prompt, updated.deleted_at) == ("an old fox", 200.0)
        assert await s.get_job(job.id) == updated
    assert {"revised_prompt", "deleted_at"} <= file_columns(db_path, "jobs")


async def test_newer_file_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(StoreError, match="newer release"):
        await Store.open(db_path)
    assert file_user_version(db_path) == LATEST_VERSION + 1


async def test_failing_migration_rolls_back(db_path: Path) -> None:
    async with await Store.open(db_path) as s:
        await s.insert_job(make_job(id="kept"))
    broken = Migration(
        version=LATEST_VERSION + 1,
        name="broken",
        statements=(
            "CREATE TABLE extra (a INTEGER)",
            "INSERT INTO no_such_table VALUES (1)",
            f"PRAGMA user_version = {LATEST_VERSION + 1}",
        ),
    )
    with pytest.raises(StoreError, match="broken"):
        await Store.open(db_path, migrations=(*MIGRATIONS, broken))
    assert file_user_version(db_path) == LATEST_VERSION
    assert "extra" not in file_tables(db_path)
    async with await Store.open(db_path) as s:  # still usable
        assert await s.get_job("kept") is not None


async def test_failing_migration_on_fresh_file_applies_none(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    broken = Migration(LATEST_VERSION + 1, "broken", ("SELECT * FROM no_such_table",))
    with pytest.raises(StoreError):
        await Store.open(path, migrations=(*MIGRATIONS, broken))
    assert file_user_version(path) == 0
    assert "jobs" not in file_tables(path)


async def test_migration_must_set_its_version(tmp_path: Path) -> None:
    forgetful = Migration(LATEST_VERSION + 1, "forgetful", ("CREATE TABLE extra (a)",))
    with pytest.raises(StoreError, match="user_version"):
        await Store.open(tmp_path / "x.db", migrations=(*MIGRATIONS, forgetful))
    assert file_user_version(tmp_path / "x.db") == 0


async def test_migration_list_must_be_contiguous(tmp_path: Path) -> None:
    gap = Migration(LATEST_VERSION + 2, "gap", ("SELECT 1",))
    with pytest.raises(ValueError, match="without gaps"):
        await Store.open(tmp_path / "x.db", migrations=(*MIGRATIONS, gap))


# --------------------------------------------------------------------------- jobs


async def test_every_status_is_accepted_and_others_are_not(store: Store) -> None:
    for status in JobStatus:
        job = await store.insert_job(make_job(status=status))
        got = await store.get_job(job.id)
        assert got is not None and got.status is status
    with pytest.raises(ValueError):
        await store.insert_job(make_job(status="bogus"))  # type: ignore[arg-type]
    with pytest.raises(INTEGRITY_ERRORS, match=r"(?i)check"):  # the table checks it too
        await store_rows(store, "UPDATE jobs SET status = 'bogus'")


async def test_json_fields_round_trip(store: Store) -> None:
    prompt = "A \"quoted\" sign\nthat says 'héllo' — 日本語 🦊 \\ back\\slash\t{}[]"
    job = make_job(
        inputs={"prompt": prompt, "negative_prompt": "no\r\nblur", "nested": {"x": [1, 2.5]}},
        result_urls=['https://cdn.example/a b.png?sig=1&x="2"', "https://cdn.example/ü.png"],
        cost=0.08,
    )
    await store.insert_job(job)
    got = await store.get_job(job.id)
    assert got == job
    assert got is not None and got.inputs["prompt"] == prompt


async def test_get_missing_job(store: Store) -> None:
    assert await store.get_job("nope") is None


async def test_insert_duplicate_id_fails(store: Store) -> None:
    job = await store.insert_job(make_job())
    with pytest.raises(INTEGRITY_ERRORS):
        await store.insert_job(job)


async def test_update_job(store: Store) -> None:
    job = await store.insert_job(make_job(updated_at=1.0))
    updated = await store.update_job(
        job.id, status="queued", request_id="r1", queue_position=2, result_urls=("u",)
    )
    assert updated.status is JobStatus.QUEUED
    assert updated.request_id == "r1" and updated.queue_position == 2
    assert updated.result_urls == ["u"]
    assert updated.updated_at > 1.0
    assert await store.get_job(job.id) == updated

    with pytest.raises(ValueError, match="colour"):
        await store.update_job(job.id, colour="red")
    with pytest.raises(ValueError, match="id"):
        await store.update_job(job.id, id="other")
    with pytest.raises(ValueError):
        await store.update_job(job.id, status="exploded")
    with pytest.raises(JobNotFoundError):
        await store.update_job("missing", error="x")
    assert await store.get_job(job.id) == updated


async def test_transition_job_compare_and_set(store: Store) -> None:
    job = await store.insert_job(make_job())
    queued = await store.transition_job(job.id, [JobStatus.PENDING], status=JobStatus.QUEUED)
    assert queued is not None and queued.status is JobStatus.QUEUED
    # a single JobStatus (a str) is accepted as "one expected status"
    assert await store.transition_job(job.id, JobStatus.PENDING, status="running") is None

    now = time.time()
    done = await store.transition_job(
        job.id, UNFINISHED_STATUSES, status=JobStatus.COMPLETED, finished_at=now
    )
    assert done is not None and done.status is JobStatus.COMPLETED
    again = await store.transition_job(
        job.id, UNFINISHED_STATUSES, status=JobStatus.FAILED, error="late"
    )
    assert again is None
    stored = await store.get_job(job.id)
    assert stored == done
    assert stored is not None and stored.error is None

    assert await store.transition_job("missing", UNFINISHED_STATUSES, error="x") is None
    with pytest.raises(ValueError):
        await store.transition_job(job.id, [JobStatus.COMPLETED], nonsense=1)


async def test_concurrent_terminal_transitions_write_once(store: Store) -> None:
    job = await store.insert_job(make_job(status=JobStatus.RUNNING))
    outcomes = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED] * 20
    results = await asyncio.gather(
        *(
            store.transition_job(job.id, UNFINISHED_STATUSES, status=s, error=f"#{i}")
            for i, s in enumerate(outcomes)
        )
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert await store.get_job(job.id) == winners[0]


async def test_unfinished_and_undelivered(store: Store) -> None:
    t = 1000.0
    jobs = {
        s: await store.insert_job(make_job(status=s, created_at=t + i))
        for i, s in enumerate(JobStatus)
    }
    delivered = await store.insert_job(
        make_job(status=JobStatus.COMPLETED, created_at=t + 50, delivered_at=t + 60)
    )
    unfinished = await store.unfinished_jobs()
    assert [j.status for j in unfinished] == [
        JobStatus.PENDING,
        JobStatus.QUEUED,
        JobStatus.RUNNING,
    ]
    undelivered = await store.undelivered_finished_jobs()
    assert [j.id for j in undelivered] == [
        jobs[JobStatus.COMPLETED].id,
        jobs[JobStatus.FAILED].id,
        jobs[JobStatus.CANCELLED].id,
    ]
    assert delivered.id not in {j.id for j in undelivered}
    await store.update_job(jobs[JobStatus.FAILED].id, delivered_at=t + 70)
    assert len(await store.undelivered_finished_jobs()) == 2


async def test_find_job_by_prefix(store: Store) -> None:
    here = await store.insert_job(make_job(id="abcdef0123456789", guild_id=GUILD))
    await store.insert_job(make_job(id="feedface00000000", guild_id=OTHER_GUILD))
    dm = await store.insert_job(make_job(id="dddddddd11111111", guild_id=None))

    assert await store.find_job_by_prefix(GUILD, here.short_id) == here
    assert await store.find_job_by_prefix(GUILD, " ABCDEF01 ") == here
    assert await store.find_job_by_prefix(GUILD, here.id) == here
    assert await store.find_job_by_prefix(GUILD, "feedface") is None  # other guild's job
    assert await store.find_job_by_prefix(OTHER_GUILD, "abcdef01") is None
    assert await store.find_job_by_prefix(None, "dddddddd") == dm
    assert await store.find_job_by_prefix(GUILD, "") is None
    assert await store.find_job_by_prefix(GUILD, "%") is None
    assert await store.find_job_by_prefix(GUILD, "zzzz") is None

    await store.insert_job(make_job(id="abcdef01ffffffff", guild_id=GUILD))
    assert await store.find_job_by_prefix(GUILD, "abcdef01") is None  # ambiguous
    assert await store.find_job_by_prefix(GUILD, "abcdef012") == here


async def test_history_queries(store: Store) -> None:
    mine = [await store.insert_job(make_job(user_id=42, created_at=100.0 + i)) for i in range(5)]
    await store.insert_job(make_job(user_id=43, created_at=200.0))
    await store.insert_job(make_job(user_id=42, guild_id=OTHER_GUILD, created_at=300.0))

    assert await store.count_jobs_for_user(GUILD, 42) == 5
    assert await store.count_jobs_for_user(GUILD, 99) == 0
    page1 = await store.jobs_for_user(GUILD, 42, limit=2, offset=0)
    page3 = await store.jobs_for_user(GUILD, 42, limit=2, offset=4)
    assert [j.id for j in page1] == [mine[4].id, mine[3].id]
    assert [j.id for j in page3] == [mine[0].id]

    assert len(await store.jobs_for_guild(GUILD, limit=3)) == 3
    everything = await store.jobs_for_guild(GUILD, limit=None)
    assert len(everything) == 6
    assert [j.created_at for j in everything] == sorted(
        (j.created_at for j in everything), reverse=True
    )


async def test_recent_durations(store: Store) -> None:
    for i in range(5):
        base = 1000.0 + 100 * i
        await store.insert_job(
            make_job(
                status=JobStatus.COMPLETED,
                submitted_at=base,
                started_at=base + i,  # queue i seconds
                finished_at=base + i + 10 + i,  # run 10 + i seconds
            )
        )
    await store.insert_job(
        make_job(status=JobStatus.FAILED, submitted_at=1.0, started_at=2.0, finished_at=3.0)
    )
    await store.insert_job(make_job(status=JobStatus.COMPLETED, submitted_at=1.0))  # partial
    await store.insert_job(
        make_job(
            model=REFRAME,
            status=JobStatus.COMPLETED,
            submitted_at=1.0,
            started_at=2.0,
            finished_at=3.0,
        )
    )
    durations = await store.recent_durations(GENERATE)
    assert durations == [(4.0, 14.0), (3.0, 13.0), (2.0, 12.0), (1.0, 11.0), (0.0, 10.0)]
    assert await store.recent_durations(GENERATE, limit=2) == durations[:2]
    assert await store.recent_durations(REFRAME) == [(1.0, 1.0)]
    assert await store.recent_durations("unknown/model") == []


# --------------------------------------------------------------------------- guild settings


async def test_guild_settings_defaults_and_updates(store: Store) -> None:
    assert await store.get_guild_settings(GUILD) == GuildSettings(guild_id=GUILD)
    defaults = await store.get_guild_settings(GUILD)
    assert defaults.provider is None and defaults.log_channel_id is None
    assert defaults.ideogram_enabled and defaults.reframe_enabled
    assert defaults.channel_allowed(123)

    s = await store.update_guild_settings(GUILD, ideogram_enabled=False, log_channel_id=77)
    assert (s.ideogram_enabled, s.reframe_enabled, s.log_channel_id) == (False, True, 77)
    assert s.updated_at is not None
    s = await store.update_guild_settings(GUILD, log_channel_id=None, provider="runcomfy")
    assert (s.ideogram_enabled, s.log_channel_id, s.provider) == (False, None, "runcomfy")
    assert await store.get_guild_settings(GUILD) == s
    assert await store.get_guild_settings(OTHER_GUILD) == GuildSettings(guild_id=OTHER_GUILD)
    with pytest.raises(ValueError, match="colour"):
        await store.update_guild_settings(GUILD, colour="red")


async def test_allowed_channels(store: Store) -> None:
    assert await store.add_allowed_channel(GUILD, 5) is True
    assert await store.add_allowed_channel(GUILD, 5) is False
    assert await store.add_allowed_channel(GUILD, 6) is True
    await store.add_allowed_channel(OTHER_GUILD, 7)
    s = await store.get_guild_settings(GUILD)
    assert s.allowed_channel_ids == frozenset({5, 6})
    assert s.channel_allowed(5) and not s.channel_allowed(7)
    assert await store.remove_allowed_channel(GUILD, 5) is True
    assert await store.remove_allowed_channel(GUILD, 5) is False
    assert (await store.get_guild_settings(GUILD)).allowed_channel_ids == frozenset({6})


async def test_blocked_words(store: Store) -> None:
    added = await store.add_blocked_words(GUILD, ["Spam", "  very   BAD  words ", "spam", ""])
    assert added == ("spam", "very bad words")
    assert await store.add_blocked_words(GUILD, ["SPAM", "Ünïcode"]) == ("ünïcode",)
    assert (await store.get_guild_settings(GUILD)).blocked_words == (
        "spam",
        "very bad words",
        "ünïcode",
    )
    assert (await store.get_guild_settings(OTHER_GUILD)).blocked_words == ()
    assert await store.remove_blocked_words(GUILD, ["Very Bad Words", "absent"]) == (
        "very bad words",
    )
    assert (await store.get_guild_settings(GUILD)).blocked_words == ("spam", "ünïcode")


# --------------------------------------------------------------------------- transactions


async def test_transaction_commits_and_rolls_back(store: Store) -> None:
    job = await store.insert_job(make_job())
    with pytest.raises(RuntimeError):
        async with store.transaction():
            await store.update_job(job.id, error="inside")
            raise RuntimeError("boom")
    got = await store.get_job(job.id)
    assert got is not None and got.error is None

    async with store.transaction():
        await store.update_job(job.id, error="committed")
        rows = await store_rows(store, "SELECT error FROM jobs WHERE id = ?", job.id)
        assert rows == [("committed",)]
    got = await store.get_job(job.id)
    assert got is not None and got.error == "committed"


async def test_nested_transaction_is_a_savepoint(store: Store) -> None:
    job = await store.insert_job(make_job())
    async with store.transaction():
        await store.update_job(job.id, queue_position=1)
        with pytest.raises(RuntimeError):
            async with store.transaction():
                await store.update_job(job.id, queue_position=2)
                raise RuntimeError("inner")
        got = await store.get_job(job.id)
        assert got is not None and got.queue_position == 1
    got = await store.get_job(job.id)
    assert got is not None and got.queue_position == 1


async def test_cancelled_transaction_rolls_back_and_frees_connection(store: Store) -> None:
    job = await store.insert_job(make_job())
    entered = asyncio.Event()

    async def slow_writer() -> None:
        async with store.transaction():
            await store.update_job(job.id, error="never committed")
            entered.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(slow_writer())
    await entered.wait()
    waiting = asyncio.create_task(store.update_job(job.id, queue_position=9))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # the transaction holds the connection
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    updated = await waiting
    assert updated.error is None and updated.queue_position == 9
    assert await store.get_job(job.id) == updated


async def test_concurrent_use_does_not_corrupt(sqlite_store: Store) -> None:
    """SQLite: a write transaction holds the file, so read-check-write bodies never
    interleave (PostgreSQL reads anew at each statement: its writers lock rows)."""
    store: Any = sqlite_store
    job = await store.insert_job(make_job(queue_position=0))
    others = [await store.insert_job(make_job()) for _ in range(10)]

    async def increment() -> None:
        async with store.transaction(immediate=True):
            current = await store.get_job(job.id)
            assert current is not None and current.queue_position is not None
            await asyncio.sleep(0)  # give other coroutines a chance to interleave
            await store.update_job(job.id, queue_position=current.queue_position + 1)

    async def touch(i: int) -> None:
        target = others[i % len(others)]
        await store.update_job(target.id, error=f"touch {i}", cost=float(i))

    async def read(i: int) -> None:
        assert await store.get_job(others[i % len(others)].id) is not None
        await store.get_guild_settings(GUILD)

    tasks = [increment() for _ in range(200)]
    tasks += [touch(i) for i in range(200)]
    tasks += [read(i) for i in range(100)]
    tasks += [store.add_blocked_words(GUILD, [f"w{i}"]) for i in range(50)]
    await asyncio.gather(*tasks)

    final = await store.get_job(job.id)
    assert final is not None and final.queue_position == 200
    assert len((await store.get_guild_settings(GUILD)).blocked_words) == 50
    async with store.transaction(immediate=False) as conn:
        check = await conn.execute_fetchall("PRAGMA integrity_check")
    assert next(iter(check))[0] == "ok"


# ---------------------------------------------------------------- presets, languages, batches


async def test_presets_by_name_whatever_the_case_within_the_limit(store: Store) -> None:
    from bot.presets import Preset
    from bot.store import PresetLimitError

    kit = Preset(name="Brand Kit", style="design", magic_prompt=False, prompt_suffix="navy",
                 created_by=42, updated_at=1.0)
    assert await store.save_preset(GUILD, kit, actor_id=42, limit=2) is None
    newer = Preset(name="brand kit", aspect_ratio="16:9", created_by=43, updated_at=2.0)
    assert await store.save_preset(GUILD, newer, actor_id=43, limit=2) == kit  # replaced
    await store.save_preset(GUILD, Preset(name="Alpha", created_by=1, updated_at=3.0),
                            actor_id=1, limit=2)
    with pytest.raises(PresetLimitError):
        await store.save_preset(GUILD, Preset(name="Zeta", updated_at=4.0), actor_id=1, limit=2)
    assert [p.name for p in await store.guild_presets(GUILD)] == ["Alpha", "brand kit"]
    assert (await store.all_presets())[GUILD][1] == newer
    assert await store.delete_preset(GUILD, "BRAND KIT", actor_id=42) == newer
    assert await store.delete_preset(GUILD, "brand kit", actor_id=42) is None
    assert [p.name for p in await store.guild_presets(GUILD)] == ["Alpha"]
    assert await store_rows(store, "SELECT action FROM settings_audit ORDER BY id") == [
        ("preset:save",), ("preset:replace",), ("preset:save",), ("preset:delete",)]


async def test_language_and_batches(store: Store) -> None:
    settings = await store.update_guild_settings(GUILD, language="pt-BR")
    assert settings.language == "pt-BR" and settings.provider is None
    assert (await store.all_guild_settings())[GUILD].language == "pt-BR"
    batch = [make_job(batch_id="b1", batch_index=i, batch_size=3, locale="it") for i in (2, 0, 1)]
    for job in batch:
        await store.insert_job(job)
    found = await store.batch_jobs("b1")
    assert [j.batch_index for j in found] == [0, 1, 2] and found[0].locale == "it"
