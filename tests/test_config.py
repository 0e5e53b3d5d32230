"""Configuration: typed, validated at start, one clear line per problem, secrets hidden."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, ProviderName, Settings, load_settings, require_discord_token

REPO = Path(__file__).resolve().parents[1]
VARS = tuple(Settings.model_fields)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARS:
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    s = load_settings(None)
    assert s.DISCORD_TOKEN is None
    assert s.RUNCOMFY_BASE_URL == "https://model-api.runcomfy.net"
    assert s.DATABASE_URL is None and Path("data") == s.DATA_DIR
    assert s.database_path == Path("data/bot.db")
    assert s.METRICS_PORT is None and s.METRICS_HOST == "127.0.0.1"
    assert s.LOG_FORMAT == "text" and not s.LOG_SQL and s.SHUTDOWN_GRACE_SECONDS == 8
    assert s.PROVIDER is ProviderName.RUNCOMFY
    assert s.uses_local_provider
    assert s.DISCORD_GUILD_IDS == ()


def test_env_file_is_read_and_environment_wins(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("DISCORD_TOKEN=from-file-token\nLOG_LEVEL=debug\nDISCORD_GUILD_IDS=1,2\n")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    s = load_settings(env)
    assert require_discord_token(s) == "from-file-token"
    assert s.LOG_LEVEL == "WARNING"
    assert s.DISCORD_GUILD_IDS == (1, 2)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DISCORD_GUILD_IDS", "12,abc", "DISCORD_GUILD_IDS is invalid"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL is invalid"),
        ("RUNCOMFY_BASE_URL", "ftp://x", "RUNCOMFY_BASE_URL is invalid"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL is invalid"),
        ("DATABASE_URL", "postgresql:///no-host", "DATABASE_URL is invalid"),
        ("PROVIDER", "midjourney", "PROVIDER is invalid"),
        ("IDEOGRAM_AUTH", "cookie", "IDEOGRAM_AUTH is invalid"),
        ("DISCORD_TOKEN", "two words", "DISCORD_TOKEN is invalid"),
    ],
)
def test_malformed_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str,
                                            value: str, expected: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    text = str(info.value)
    assert text.startswith(expected)
    assert "README" in text and "\n" not in text
    assert value not in text or name in ("PROVIDER", "IDEOGRAM_AUTH")


def test_secrets_do_not_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "discord-secret-abc123")
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", "runcomfy-secret-xyz789")
    s = load_settings(None)
    assert "discord-secret-abc123" not in repr(s) and "discord-secret-abc123" not in str(s)
    assert "runcomfy-secret-xyz789" not in repr(s)
    assert not s.uses_local_provider


def test_missing_token_message() -> None:
    with pytest.raises(ConfigError, match=r"^DISCORD_TOKEN is missing: .*README"):
        require_discord_token(load_settings(None))


def test_python_m_bot_without_token_exits_nonzero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in VARS}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "DISCORD_TOKEN is missing" in lines[0]
    assert "discord.com/developers/applications" in lines[0]
    assert "README.md" in lines[0]
    assert not (tmp_path / "data").exists()


def test_ideogram_provider_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(None)
    assert s.IDEOGRAM_GENERATE_PATH == "/ideogram/generate"
    assert s.IDEOGRAM_TIMEOUT_SECONDS == 120 and not s.ideogram_configured
    monkeypatch.setenv("PROVIDER", "ideogram")
    with pytest.raises(ConfigError) as info:
        load_settings(None)
    assert str(info.value).startswith("IDEOGRAM_BASE_URL is missing (PROVIDER=ideogram needs")
    assert "\n" not in str(info.value) and "README" in str(info.value)
    monkeypatch.setenv("IDEOGRAM_BASE_URL", "https://api.ideogram.ai")
    with pytest.raises(ConfigError, match=r"^IDEOGRAM_API_KEY is missing"):
        load_settings(None)
    monkeypatch.setenv("IDEOGRAM_API_KEY", "ig-secret-key-123")
    monkeypatch.setenv("IDEOGRAM_GENERATE_PATH", "/generate")
    monkeypatch.setenv("IDEOGRAM_TIMEOUT_SECONDS", "90")
    s = load_settings(None)
    assert s.PROVIDER is ProviderName.IDEOGRAM and s.ideogram_configured
    assert not s.uses_local_provider  # no RunComfy token: /reframe is off, no preview server
    assert s.IDEOGRAM_GENERATE_PATH == "/generate" and s.IDEOGRAM_TIMEOUT_SECONDS == 90
    assert "ig-secret-key-123" not in repr(s)
    # Half a configuration is a mistake whatever PROVIDER says.
    monkeypatch.setenv("PROVIDER", "runcomfy")
    monkeypatch.delenv("IDEOGRAM_BASE_URL")
    with pytest.raises(ConfigError, match=r"^IDEOGRAM_BASE_URL is missing"):
        load_settings(None)


@pytest.mark.parametrize(("name", "value"), [
    ("IDEOGRAM_GENERATE_PATH", "generate"), ("IDEOGRAM_GENERATE_PATH", "/a b"),
    ("IDEOGRAM_TIMEOUT_SECONDS", "0"), ("IDEOGRAM_TIMEOUT_SECONDS", "soon"),
])
def test_malformed_ideogram_values(monkeypatch: pytest.MonkeyPatch, name: str,
                                   value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=rf"^{name} is invalid"):
        load_settings(None)
