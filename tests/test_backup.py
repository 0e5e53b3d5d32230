"""``python -m bot backup PATH``: a consistent copy while the bot keeps writing."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.backup import BackupError, BackupReport, backup_database
from bot.config import Settings
from bot.jobs import JobRecord, new_job_id
from bot.store import Store

REPO = Path(__file__).resolve().parents[1]


def _job(n: int) -> JobRecord:
    return JobRecord(id=new_job_id(), provider="runcomfy", model="ideogram/ideogram-v2/generate",
                     channel_id=1, user_id=2, guild_id=3, inputs={"prompt": f"job {n}"}, seed=n,
                     created_at=1_000_000 + n)


class Writer:
    """Inserts jobs through the bot's own connection until stopped."""

    def __init__(self, store: Store, warm_up: int) -> None:
        self.written: list[str] = []
        self.warmed_up = asyncio.Event()
        self._stop = asyncio.Event()
        self._warm_up = warm_up
        self._task = asyncio.create_task(self._run(store))

    async def _run(self, store: Store) -> None:
        n = 0
        while not self._stop.is_set():
            job = _job(n)
            await store.insert_job(job)
            self.written.append(job.id)
            n += 1
            if n >= self._warm_up:
                self.warmed_up.set()
            await asyncio.sleep(0)

    async def stop(self) -> None:
        self._stop.set()
        await self._task


def _copied_ids(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT id FROM jobs ORDER BY created_at")]
    finally:
        conn.close()


def _check_copies(copies: list[BackupReport], written: list[str]) -> None:
    counts = []
    for report in copies:
        ids = _copied_ids(report.destination)
        assert ids == written[:len(ids)], "a copy is the database at one instant"
        counts.append(len(ids))
        assert report.schema_version >= 1 and report.size_bytes > 0
        assert not Path(f"{report.destination}-wal").exists()
        conn = sqlite3.connect(report.destination)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        conn.close()
    assert counts == sorted(counts) and counts[0] >= 50 and counts[-1] < len(written)


async def test_backups_while_writes_go_on_are_consistent_snapshots(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "bot.db")
    writer = Writer(store, warm_up=50)
    copies = []
    try:
        await asyncio.wait_for(writer.warmed_up.wait(), 10)
        for i in range(3):
            copies.append(await asyncio.to_thread(backup_database, tmp_path / "bot.db",
                                                  tmp_path / f"copy-{i}.db"))
            await asyncio.sleep(0.02)
    finally:
        await writer.stop()
        await store.close()
    written = writer.written
    _check_copies(copies, written)
    # Restored, the copy opens as the bot's database again.
    async with await Store.open(copies[-1].destination) as restored:
        assert await restored.pragma("journal_mode") == "wal"
        assert (await restored.get_job(written[0])) is not None


def test_refuses_to_overwrite_and_needs_a_database(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="there is no database at"):
        backup_database(tmp_path / "missing.db", tmp_path / "out.db")
    sqlite3.connect(tmp_path / "bot.db").close()
    (tmp_path / "out.db").write_bytes(b"keep me")
    with pytest.raises(BackupError, match="already exists"):
        backup_database(tmp_path / "bot.db", tmp_path / "out.db")
    assert (tmp_path / "out.db").read_bytes() == b"keep me"
    folder = tmp_path / "backups"
    folder.mkdir()
    report = backup_database(tmp_path / "bot.db", folder)
    assert report.destination.parent == folder and report.destination.name.startswith("bot-")
    assert [p.name for p in folder.iterdir()] == [report.destination.name]
    # Owner-only, like the database: the copy holds the same prompts and member ids.
    assert report.destination.stat().st_mode & 0o777 == 0o600


def test_a_folder_given_as_one_is_made_and_dated_names_never_collide(tmp_path: Path) -> None:
    import datetime as dt

    from bot.backup import backup_destination

    sqlite3.connect(tmp_path / "bot.db").close()
    folder = tmp_path / "new" / "backups"  # "backups/" on the command line, not there yet
    first = backup_database(tmp_path / "bot.db", folder, folder=True)
    assert folder.is_dir() and first.destination.parent == folder
    assert folder.stat().st_mode & 0o777 == 0o700
    second = backup_database(tmp_path / "bot.db", folder, folder=True)  # the same second
    assert second.destination != first.destination and len(list(folder.iterdir())) == 2
    noon = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    (folder / "bot-20261201-120000.db").touch()
    assert backup_destination(folder, now=noon).name == "bot-20261201-120000-2.db"


async def test_the_command_backs_up_the_running_bots_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = await Store.open(data / "bot.db")
    writer = Writer(store, warm_up=20)
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env |= {"PYTHONPATH": str(REPO), "DATA_DIR": str(data)}
    try:
        await asyncio.wait_for(writer.warmed_up.wait(), 10)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "backup", str(tmp_path / "copy.db"), cwd=tmp_path,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        again = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "backup", str(tmp_path / "copy.db"), cwd=tmp_path,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        _, again_err = await asyncio.wait_for(again.communicate(), 60)
    finally:
        await writer.stop()
        await store.close()
    written = writer.written
    assert proc.returncode == 0, err.decode()
    assert out.decode().startswith(f"Backed up {data / 'bot.db'} to {tmp_path / 'copy.db'}")
    ids = _copied_ids(tmp_path / "copy.db")
    assert len(ids) >= 20 and ids == written[:len(ids)]
    assert again.returncode == 1
    assert again_err.decode().strip().splitlines() == [
        f"Backup failed: {tmp_path / 'copy.db'} already exists: choose a new file name or a "
        "folder."]
