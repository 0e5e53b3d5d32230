"""``python -m bot backup PATH``: a consistent copy of the database, while the bot runs.

SQLite's online backup API copies the pages inside one read transaction: in WAL mode the
bot keeps writing meanwhile, and the copy is the database as it was at one instant, recent
writes still in the WAL included (copying the file itself can miss those, or catch a page
half-written). The copy is checked (``PRAGMA integrity_check``), switched to a single
self-contained file (no ``-wal``), written under a temporary name and renamed into place,
so PATH is never a half-written file. It runs in its own process, so nothing here blocks
the bot's event loop.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

BUSY_TIMEOUT_SECONDS = 30.0


class BackupError(Exception):
    """One line for the owner: what went wrong and what to do."""


@dataclass(frozen=True, slots=True)
class BackupReport:
    """What a backup copied, where to, and how long it took."""

    source: Path
    destination: Path
    size_bytes: int
    schema_version: int
    seconds: float

    def describe(self) -> str:
        """One line for the operator: source, destination, size, schema version, time."""
        return (f"Backed up {self.source} to {self.destination} "
                f"({self.size_bytes / 1024:,.0f} KiB, schema version {self.schema_version}, "
                f"{self.seconds:.2f} s).")


def backup_destination(target: Path, *, folder: bool = False,
                       now: dt.datetime | None = None) -> Path:
    """PATH itself, or a new dated file in it when PATH is a folder.

    ``folder``: PATH was given as a folder (``backups/``): it is made if it does not exist
    yet, private to this user like the copies it holds.
    """
    if folder and not target.exists():
        try:
            target.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            raise BackupError(f"cannot make the folder {target}: {exc.strerror or exc}.") from None
    if target.is_dir():
        stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d-%H%M%S")
        candidate, number = target / f"bot-{stamp}.db", 2
        while candidate.exists():  # two backups in the same second
            candidate, number = target / f"bot-{stamp}-{number}.db", number + 1
        return candidate
    return target


def backup_database(source: Path, target: Path, *, folder: bool = False) -> BackupReport:
    """Copy the database at ``source`` to ``target`` (a new file, or a folder).

    ``folder``: ``target`` was given as a folder (see :func:`backup_destination`).
    """
    started = time.perf_counter()
    if not source.is_file():
        raise BackupError(f"there is no database at {source} (DATABASE_URL / DATA_DIR): "
                          "run the bot once, or point DATABASE_URL at the bot's file.")
    destination = backup_destination(target, folder=folder).absolute()
    if destination.exists():
        raise BackupError(f"{destination} already exists: choose a new file name or a folder.")
    if not destination.parent.is_dir():
        raise BackupError(f"the folder {destination.parent} does not exist.")
    partial = destination.with_name(f".{destination.name}.partial-{os.getpid()}")
    try:
        _copy(source, partial)
        version = _check(partial)
        os.replace(partial, destination)
    except sqlite3.Error as exc:
        raise BackupError(f"the backup of {source} failed: {exc}.") from None
    except OSError as exc:
        raise BackupError(f"cannot write {destination}: {exc.strerror or exc}.") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return BackupReport(source=source, destination=destination,
                        size_bytes=destination.stat().st_size, schema_version=version,
                        seconds=time.perf_counter() - started)


def _copy(source: Path, partial: Path) -> None:
    # mode=rw: never create a database where none was.
    src = sqlite3.connect(f"{source.absolute().as_uri()}?mode=rw", uri=True,
                          timeout=BUSY_TIMEOUT_SECONDS)
    try:
        # Created owner-only before SQLite opens it, like the database itself: it holds the
        # same prompts and member ids.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # every page in one step: one consistent snapshot
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            dst.commit()
        finally:
            dst.close()
    finally:
        src.close()
    with partial.open("rb+") as handle:
        os.fsync(handle.fileno())


def _check(path: Path) -> int:
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()
        if result is None or result[0] != "ok":
            raise BackupError(f"the copy failed its integrity check: {result}")
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
