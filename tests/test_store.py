"""Opening the store, its migrations and its transactions, on both engines (the ``store``
fixture: an SQLite file under tmp_path, or the session's PostgreSQL database), and the
SQLite file's own matters (paths, pragmas). The queries: ``test_store_queries.py``."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.jobs import JobStatus
from bot.store import (
    LATEST_VERSION,
    MIGRATIONS,
    Migration,
    Store,
    StoreError,
    parse_database_url,
)
from tests.helpers import store_rows
from tests.store_records import GENERATE, GUILD, INTEGRITY_ERRORS, make_job


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
    async with await Store.open(f"sqlite:///{db_path}") as first:
        await first.insert_job(job)
        await first.update_guild_settings(GUILD, provider="ideogram", reframe_enabled=False)
        await first.add_allowed_channel(GUILD, 55)
        await first.add_blocked_words(GUILD, ["Spam", "bad words"])

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
    async with await Store.open(db_path, target_version=1) as old:
        assert old.schema_version == 1
        async with old.transaction() as conn:  # written as the version-1 code would have
            await conn.execute(
                "INSERT INTO jobs (id, provider, model, guild_id, channel_id, user_id, inputs,"
                " seed, status, result_urls, created_at, updated_at)"
                " VALUES ('0123456789abcdef', 'runcomfy', ?, ?, 11, 42, ?, 5, 'completed', ?,"
                " 100.0, 101.0)",
                (GENERATE, GUILD, '{"prompt": "old fox"}', '["https://x/1.png"]'),
            )
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
