"""``python -m bot migrate-to-postgres``: a bot's populated SQLite file is copied into an
empty PostgreSQL database, row for row, and the bot then runs on it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.localserver.app import LocalRunComfyServer
from bot.store import Store
from tests import postgres
from tests.harness import BotProcess, FakeDiscord, bot_process_env, chat_input, dispatch, ids
from tests.harness.process import REPO_ROOT
from tests.helpers import ideogram_bot, store_rows, wait_delivered

TABLES = ("jobs", "guild_settings", "guild_allowed_channels", "guild_blocked_words",
          "guild_limits", "member_overrides", "usage_reservations", "quota_audit", "presets",
          "settings_audit")


@pytest.fixture
def target() -> Iterator[str]:
    yield from postgres.temporary_database("bot_migrated")


async def run_command(*args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "migrate-to-postgres", *args, cwd=REPO_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    return int(process.returncode or 0), output.decode()


async def table_rows(store: Store, table: str) -> list[tuple[object, ...]]:
    columns = [c for c in ("id", "job_key", "guild_id", "user_id", "channel_id", "phrase",
                           "name", "value", "daily", "state", "units", "cost_actual",
                           "provider", "log_channel_id", "ideogram_enabled", "action",
                           "old_value", "new_value", "created_at", "status", "inputs")
               if c in {str(r[0]) for r in await _column_names(store, table)}]
    rows = await store_rows(store, f"SELECT {', '.join(columns)} FROM {table}")
    return sorted((tuple(json.loads(str(v)) if k == "inputs" else v
                         for k, v in zip(columns, row, strict=True)) for row in rows), key=repr)


async def _column_names(store: Store, table: str) -> list[tuple[object, ...]]:
    if store.engine == "sqlite":
        return [(r[1],) for r in await store_rows(store, f"PRAGMA table_info({table})")]
    return await store_rows(store, "SELECT column_name FROM information_schema.columns "
                                   "WHERE table_name = ?", table)


async def test_a_populated_file_is_copied_and_the_bot_runs_on_it(
        fake: FakeDiscord, local_server: LocalRunComfyServer, db: Path, target: str,
        tmp_path: Path) -> None:
    # A bot's life on SQLite: limits, a blocked word, two images.
    async with ideogram_bot(fake, local_server, db) as bot:
        await bot.quota_admin.set_limits(ids.GUILD_ID, ids.MOD_USER_ID, {"user_daily": 3})
        await bot.guild_settings.add_blocked_words(ids.GUILD_ID, ["zorblax"])
        for seed in (1, 2):
            await dispatch(bot, chat_input("ideogram", {"prompt": f"fox {seed}", "seed": seed}))
            await wait_delivered(bot, newest_only=True)

    code, output = await run_command(str(db), target)
    assert code == 0, output
    assert re.search(r"jobs\s+2\b", output) and "usage_reservations" in output

    async with await Store.open(db) as source, await Store.open(target) as copied:
        for table in TABLES:
            assert await table_rows(copied, table) == await table_rows(source, table), table
        for job in await source.jobs_for_guild(ids.GUILD_ID, limit=None):
            assert await copied.get_job(job.id) == job
        assert await copied.all_guild_settings() == await source.all_guild_settings()
        totals = "SELECT guild_id, user_id, period, units FROM usage_totals WHERE units <> 0"
        assert sorted(await store_rows(copied, totals)) == sorted(
            await store_rows(source, totals))

    again, output = await run_command(str(db), target)
    assert again == 2 and "already holds data" in output  # never over existing data

    # The bot on PostgreSQL: the copied quota and settings are in force.
    env = bot_process_env(fake, db, provider=local_server) | {"DATABASE_URL": target}
    async with BotProcess(fake, env, shards=(0,), workdir=tmp_path) as process:
        third = await process.send(chat_input("ideogram", {"prompt": "fox 3", "seed": 3}))
        await fake.wait_for(lambda r: bool(r.files), method="PATCH",
                            path=rf"/{third.token}/messages/", timeout=15)
        fourth = await process.send(chat_input("ideogram", {"prompt": "fox 4", "seed": 4}))
        refused = await fake.wait_for(method="POST", path=rf"^/interactions/{fourth.id}/",
                                      timeout=10)
        assert refused.json["data"]["flags"] & 64
        assert "Daily limit for you (3) reached" in refused.json["data"]["content"]
        word = await process.send(chat_input("ideogram", {"prompt": "a zorblax", "seed": 5}))
        blocked = await fake.wait_for(method="POST", path=rf"^/interactions/{word.id}/",
                                      timeout=10)
        assert "doesn't allow" in blocked.json["data"]["content"]
    assert len(local_server.state.jobs) == 3


async def test_mistakes_are_one_line_each(tmp_path: Path) -> None:
    code, output = await run_command(str(tmp_path / "missing.db"),
                                     "postgresql://nobody@127.0.0.1:1/x")
    assert code == 2 and "is not a file" in output and "Traceback" not in output
    code, output = await run_command("only-one-argument")
    assert code == 2 and "usage: python -m bot migrate-to-postgres" in output
    code, output = await run_command(str(tmp_path / "x.db"), "mysql://db/x")
    assert code == 2 and "not a postgresql:// URL" in output


async def test_a_row_postgresql_refuses_is_one_line_and_nothing_is_copied(
        tmp_path: Path, target: str) -> None:
    from tests.helpers import make_job

    source = tmp_path / "bot.db"
    async with await Store.open(source) as store:
        await store.insert_job(make_job("fine"))
        bad = make_job("fine too")
        await store.insert_job(bad)
        await store.update_job(bad.id, revised_prompt="a NUL \x00 here")  # SQLite keeps it
    code, output = await run_command(str(source), target)
    assert code == 2 and "Traceback" not in output, output
    assert "a row of jobs cannot be stored in PostgreSQL" in output
    async with await Store.open(target) as copied:
        assert await store_rows(copied, "SELECT count(*) FROM jobs") == [(0,)]
