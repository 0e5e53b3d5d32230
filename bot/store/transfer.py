"""Copying a bot's SQLite file into an empty PostgreSQL database.

``python -m bot migrate-to-postgres SQLITE_PATH POSTGRES_URL`` runs it.

Both databases are first brought to the latest schema by the store itself (so the SQLite
file is migrated too, as the bot's next start would do), then every table is copied in
one PostgreSQL transaction: all of it or nothing. The usage totals are not copied but
rebuilt by PostgreSQL's own trigger as the reservations arrive, and identity counters
continue after the copied ids. Copied jobs carry no lease: the first process to start
claims the unfinished ones of its shards. The bot must be stopped meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bot.store.base import StoreError
from bot.store.postgres import PostgresStore, redact_url
from bot.store.store import SqliteStore

log = logging.getLogger(__name__)

#: Tables in an order that satisfies the foreign keys; (table, identity column or None).
TABLES: tuple[tuple[str, str | None], ...] = (
    ("jobs", None),
    ("guild_settings", None),
    ("guild_allowed_channels", None),
    ("guild_blocked_words", None),
    ("guild_limits", None),
    ("member_overrides", None),
    ("usage_reservations", "id"),
    ("quota_audit", "id"),
    ("presets", None),
    ("settings_audit", "id"),
)
BATCH_ROWS = 5000
USAGE = "usage: python -m bot migrate-to-postgres SQLITE_PATH POSTGRES_URL"


@dataclass(frozen=True, slots=True)
class TransferReport:
    """How many rows of each table a migration to PostgreSQL copied."""

    rows: dict[str, int]

    def lines(self) -> list[str]:
        """Return one aligned line per table, for the operator."""
        width = max(len(t) for t in self.rows)
        return [f"  {table:<{width}}  {count:>9,}" for table, count in self.rows.items()]


async def _columns(target: PostgresStore, table: str) -> list[str]:
    rows = await target._fetchall(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
        (table,))
    return [str(r[0]) for r in rows]


def _cell(column: str, value: Any) -> Any:
    if column in ("inputs", "result_urls") and value is None:
        return "{}" if column == "inputs" else "[]"
    return value


async def copy_sqlite_to_postgres(sqlite_path: str | os.PathLike[str],
                                  postgres_url: str) -> TransferReport:
    """Copy every row of the SQLite file into the (empty) PostgreSQL database."""
    path = Path(sqlite_path)
    if not await asyncio.to_thread(path.is_file):
        raise StoreError(f"{path} is not a file: give the path of the bot's SQLite database "
                         "(DATABASE_URL=sqlite:///PATH)")
    source = await SqliteStore.open(path)
    try:
        target = await PostgresStore.open(postgres_url)
        try:
            if source.schema_version != target.schema_version:
                raise StoreError(f"schema versions differ (SQLite {source.schema_version}, "
                                 f"PostgreSQL {target.schema_version}): use the same release "
                                 "of the bot for both")
            for table, _ in TABLES:
                row = await target._fetchone(f"SELECT count(*) FROM {table}")
                if row is not None and int(row[0]):
                    raise StoreError(f"{redact_url(postgres_url)} already holds data "
                                     f"({table}): copy into an empty database only")
            return await _copy(source, target)
        finally:
            await target.close()
    finally:
        await source.close()


async def _copy(source: SqliteStore, target: PostgresStore) -> TransferReport:
    counts: dict[str, int] = {}
    async with target.transaction() as conn:
        for table, identity in TABLES:
            columns = await _columns(target, table)
            copied = 0
            last = 0
            # Table and column names come from TABLES and PostgreSQL's own catalogue.
            select = (f"SELECT rowid, {', '.join(columns)} FROM {table} "
                      "WHERE rowid > ? ORDER BY rowid LIMIT ?")
            while True:
                batch = await source._fetchall(select, (last, BATCH_ROWS))
                if not batch:
                    break
                last = int(batch[-1][0])
                records = [tuple(_cell(c, row[i + 1]) for i, c in enumerate(columns))
                           for row in batch]
                try:
                    await conn.copy_records_to_table(table, records=records, columns=columns)
                except (asyncpg.PostgresError, ValueError) as exc:
                    raise StoreError(f"a row of {table} cannot be stored in PostgreSQL "
                                     f"({str(exc)[:200]}); nothing was copied") from None
                copied += len(records)
            if identity is not None:
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{identity}'), "
                    f"coalesce((SELECT max({identity}) FROM {table}), 0) + 1, false)")
            counts[table] = copied
            log.info("Copied %d row(s) of %s", copied, table)
        totals = await conn.fetchval("SELECT count(*) FROM usage_totals")
        counts["usage_totals (rebuilt)"] = int(totals)
    return TransferReport(counts)


async def migrate_command(args: list[str]) -> int:
    """The command's body: 0 on success, 2 with one line on stderr otherwise."""
    import sys

    if len(args) != 2 or args[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if len(args) != 1 else sys.stdout)
        print("Copies the bot's SQLite database into an empty PostgreSQL database; stop the "
              "bot first, then start it with DATABASE_URL=POSTGRES_URL.",
              file=sys.stderr if len(args) != 1 else sys.stdout)
        return 0 if args and args[0] in ("-h", "--help") else 2
    sqlite_arg, postgres_url = args
    sqlite_path = sqlite_arg.removeprefix("sqlite:///")
    if not postgres_url.startswith(("postgresql://", "postgres://")):
        print(f"Cannot copy: {redact_url(postgres_url)} is not a postgresql:// URL. "
              f"{USAGE}", file=sys.stderr)
        return 2
    try:
        report = await copy_sqlite_to_postgres(sqlite_path, postgres_url)
    except StoreError as exc:
        print(f"Cannot copy: {exc}", file=sys.stderr)
        return 2
    print(f"Copied {sqlite_path} into {redact_url(postgres_url)}:")
    for line in report.lines():
        print(line)
    print(f"Now start the bot with DATABASE_URL={redact_url(postgres_url)} (and its password).")
    return 0
