"""Where the database lives: DATA_DIR, relative and absolute DATABASE_URL, the old layout,
and an unwritable location stopping the start with one line (a real ``python -m bot``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings
from bot.database_location import check_database_location, resolve_database_path

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)


def test_relative_paths_live_in_the_data_directory(tmp_path: Path) -> None:
    assert load_settings(None).database_path == Path("data/bot.db")
    assert load_settings(None, DATABASE_URL="sqlite:///prod.db").database_path == \
        Path("data/prod.db")
    in_image = load_settings(None, DATA_DIR="/data", DATABASE_URL="sqlite:///x/prod.db")
    assert in_image.database_path == Path("/data/x/prod.db")
    absolute = tmp_path / "abs.db"
    assert load_settings(None, DATA_DIR="/data",
                         DATABASE_URL=f"sqlite:///{absolute}").database_path == absolute
    assert load_settings(None, DATABASE_URL="  ").DATABASE_URL is None
    with pytest.raises(ConfigError, match=r"^DATABASE_URL is invalid"):
        load_settings(None, DATABASE_URL="sqlite:///:memory:")


def test_an_old_relative_database_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """Before DATA_DIR, sqlite:///data/bot.db meant ./data/bot.db: an upgrade keeps using
    that file (with a warning) rather than starting on an empty database."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, DATABASE_URL="sqlite:///data/bot.db")
    assert resolve_database_path(settings) == tmp_path / "data" / "data" / "bot.db"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "bot.db").write_bytes(b"")
    assert resolve_database_path(settings) == tmp_path / "data" / "bot.db"
    assert "relative paths now live in DATA_DIR" in caplog.text
    (tmp_path / "data" / "data").mkdir()
    (tmp_path / "data" / "data" / "bot.db").write_bytes(b"")
    assert resolve_database_path(settings) == tmp_path / "data" / "data" / "bot.db"


def test_check_creates_the_folder_and_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    check_database_location(tmp_path / "new" / "deeper" / "bot.db")
    assert (tmp_path / "new" / "deeper").is_dir()
    assert list((tmp_path / "new" / "deeper").iterdir()) == []
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(ConfigError) as info:
        check_database_location(tmp_path / "afile" / "bot.db")
    text = str(info.value)
    assert text.startswith("DATABASE_URL points to") and str(tmp_path / "afile") in text
    assert "\n" not in text


def _as_unprivileged() -> list[str] | None:
    """A command prefix under which a folder with mode 555 is really not writable."""
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    probe = subprocess.run([unshare, "--user", "true"], capture_output=True, check=False)
    return [unshare, "--user"] if probe.returncode == 0 else None


def _run_bot(cwd: Path, env_extra: dict[str, str],
             prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env |= {"PYTHONPATH": str(REPO), "DISCORD_TOKEN": "test-token-not-used", **env_extra}
    return subprocess.run([*(prefix or []), sys.executable, "-m", "bot"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_unwritable_location_stops_the_start_with_one_line(tmp_path: Path) -> None:
    prefix = _as_unprivileged()
    if prefix is None:
        pytest.skip("cannot drop root's file permissions here (no unshare --user)")
    app = tmp_path / "app"  # like the image's /app: owned by someone else, read-only
    app.mkdir()
    app.chmod(0o555)
    try:
        # The old .env.example's relative URL, with no DATA_DIR: data/ under /app.
        proc = _run_bot(app, {"DATABASE_URL": "sqlite:///data/bot.db", "DATA_DIR": "."},
                        prefix)
    finally:
        app.chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert " CRITICAL bot: Cannot start: DATABASE_URL points to " in lines[0]  # a log line
    assert f"cannot write to the folder {app / 'data'}" in lines[0] or \
        f"cannot write to the folder {app}" in lines[0]
    assert "Traceback" not in proc.stderr and "test-token-not-used" not in proc.stderr


def test_a_file_in_the_way_stops_the_start_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    proc = _run_bot(tmp_path, {"DATABASE_URL": f"sqlite:///{tmp_path}/blocker/bot.db"})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0] and str(tmp_path / "blocker") in lines[0]
