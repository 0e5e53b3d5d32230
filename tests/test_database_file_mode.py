"""The SQLite file and its -wal/-shm are readable by their owner only, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.jobs import JobRecord, new_job_id
from bot.store import Store


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("permissive_umask")
async def test_database_wal_and_shm_are_created_0600(tmp_path: Path) -> None:
    db = tmp_path / "data" / "bot.db"
    async with await Store.open(db) as store:
        await store.insert_job(JobRecord(id=new_job_id(), provider="runcomfy",
                                         model="ideogram/ideogram-v2/generate", guild_id=1,
                                         channel_id=2, user_id=3, inputs={"prompt": "x"},
                                         seed=1))
        files = [db, db.with_name("bot.db-wal"), db.with_name("bot.db-shm")]
        assert all(f.exists() for f in files)
        assert [oct(mode(f)) for f in files] == [oct(0o600)] * 3


@pytest.mark.usefixtures("permissive_umask")
async def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    async with await Store.open(db):
        pass
    os.chmod(db, 0o644)
    async with await Store.open(db):
        assert mode(db) == 0o600
