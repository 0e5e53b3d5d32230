"""DATABASE_URL on PostgreSQL and the shard settings: accepted forms, and one clear line
for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import _secrets
from bot.config import ConfigError, load_settings
from bot.leases import lease_config
from bot.logging_setup import Redactor


@pytest.mark.parametrize("url", ["postgresql://bot:pw@db:5432/bot", "postgres://db/bot",
                                 "postgresql+asyncpg://bot@127.0.0.1/bot"])
def test_postgres_urls_are_accepted(url: str) -> None:
    settings = load_settings(None, DATABASE_URL=url)
    assert settings.uses_postgres and settings.runs_every_shard


def test_every_credential_is_a_secret_for_the_logs() -> None:
    settings = load_settings(None, DATABASE_URL="postgresql://bot:s3cret-pw@db/bot",
                             DISCORD_TOKEN="discord.tok.en", RUNCOMFY_API_TOKEN="rc-secret",
                             IDEOGRAM_API_KEY="ideo-secret",
                             IDEOGRAM_BASE_URL="https://ideogram.example")
    assert set(_secrets(settings)) == {"s3cret-pw", "discord.tok.en", "rc-secret",
                                       "ideo-secret"}
    assert not any("pw" in s for s in _secrets(load_settings(None)))


def test_a_percent_encoded_password_is_blanked_as_written_too() -> None:
    url = "postgresql://bot:s%40cret%2Fpw@db/bot"
    secrets = _secrets(load_settings(None, DATABASE_URL=url))
    assert set(secrets) == {"s@cret/pw", "s%40cret%2Fpw"}
    redact = Redactor(secrets)
    assert "cret" not in redact(f"connecting to {url} as bot:s@cret/pw")


@pytest.mark.parametrize(("values", "message"), [
    ({"SHARD_IDS": "0"}, "SHARD_COUNT is missing"),
    ({"SHARD_COUNT": "2", "SHARD_IDS": "0,2"}, "SHARD_IDS is invalid"),
    ({"SHARD_COUNT": "2", "SHARD_IDS": "zero"}, "SHARD_IDS is invalid"),
    ({"SHARD_COUNT": "0"}, "SHARD_COUNT is invalid"),
    ({"SHARD_COUNT": "2", "SHARD_IDS": "1"}, "DATABASE_URL is invalid"),  # SQLite
    ({"JOB_LEASE_SECONDS": "1"}, "JOB_LEASE_SECONDS is invalid"),
])
def test_shard_mistakes_name_the_variable(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, **values)


def test_shards_split_across_processes_on_postgres() -> None:
    settings = load_settings(None, SHARD_COUNT="4", SHARD_IDS=" 3, 2 ",
                             DATABASE_URL="postgresql://db/bot")
    assert settings.SHARD_IDS == (2, 3) and not settings.runs_every_shard
    config = lease_config(settings.SHARD_IDS, settings.SHARD_COUNT, 20.0)
    assert config.shard_ids == (2, 3) and config.shard_count == 4
    assert config.owns_guild(2 << 22) and not config.owns_guild(1 << 22)
    assert config.owner.endswith("/shards-2,3-of-4")
    # Every shard in one process is fine on SQLite too.
    assert load_settings(None, SHARD_COUNT="2", SHARD_IDS="0,1").runs_every_shard
    assert lease_config(None, None, 20.0).owns_guild(12345)


@pytest.mark.parametrize("url", ["postgresql://bot:pw@db:99999/bot",
                                 "postgresql://bot:p#w@db/bot",
                                 "postgresql://bot@[::1/bot"])
def test_a_malformed_postgres_url_is_one_line_without_its_password(url: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL is invalid") as raised:
        load_settings(None, DATABASE_URL=url)
    assert "pw" not in str(raised.value) and "p#w" not in str(raised.value)


def test_an_empty_shard_count_is_its_default() -> None:
    assert load_settings(None, SHARD_COUNT="").SHARD_COUNT is None  # as .env.example shows it


@pytest.mark.parametrize("name", ["JOB_QUEUE_TIMEOUT_SECONDS", "JOB_RUN_TIMEOUT_SECONDS",
                                  "LOCAL_PROVIDER_QUEUE_SECONDS", "LOCAL_PROVIDER_RUN_SECONDS"])
def test_a_time_limit_cannot_be_infinite(name: str) -> None:
    for value in ("inf", "nan", "1e9"):
        with pytest.raises(ConfigError, match=f"{name} is invalid"):
            load_settings(None, **{name: value})


async def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    from bot.config import Settings
    from cogs.core.services import build_services

    broken = tmp_path / "bot.db"
    broken.write_bytes(b"garbage, not SQLite" * 100)
    settings = load_settings(None, DISCORD_TOKEN="x.y.z", DATABASE_URL=f"sqlite:///{broken}")
    assert isinstance(settings, Settings)
    with pytest.raises(ConfigError) as raised:
        await build_services(settings)
    message = str(raised.value)
    assert "\n" not in message and "not a database" in message
    assert "section 'Backup and restore'" in message


async def test_a_database_another_program_holds_is_not_called_damaged(tmp_path: Path) -> None:
    import sqlite3

    from cogs.core.services import build_services

    path = tmp_path / "bot.db"
    sqlite3.connect(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # e.g. a second bot, or a tool, in a long write
    try:
        settings = load_settings(None, DISCORD_TOKEN="x.y.z", DATABASE_URL=f"sqlite:///{path}")
        with pytest.raises(ConfigError) as raised:
            await build_services(settings)
    finally:
        holder.close()
    message = str(raised.value)
    assert "another program holds it" in message and "Backup and restore" not in message
