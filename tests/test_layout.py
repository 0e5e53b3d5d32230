"""The house rules the layout promises: bot/ works without Discord; cogs/ holds only
extensions."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import bot
import cogs
from cogs.core.bot import EXTENSIONS

ROOT = Path(__file__).resolve().parents[1]


def test_every_bot_module_imports_without_discord() -> None:
    names = sorted(m.name for m in pkgutil.walk_packages(bot.__path__, "bot."))
    assert "bot.tracker.core" in names and "bot.store.store" in names
    script = (
        "import sys, importlib\n"
        "class NoDiscord:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'discord' or name.startswith('discord.'):\n"
        "            raise ImportError('bot/ must not import discord: ' + name)\n"
        "sys.meta_path.insert(0, NoDiscord())\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "assert 'discord' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_cogs_top_level_holds_exactly_the_extensions() -> None:
    top = sorted(m.name for m in pkgutil.iter_modules(cogs.__path__, "cogs.")
                 if m.name != "cogs.core")
    assert sorted(EXTENSIONS) == top
    for name in top:
        assert callable(getattr(importlib.import_module(name), "setup", None)), name
    machinery = [m.name for m in pkgutil.iter_modules([str(ROOT / "cogs" / "core")])]
    for name in machinery:
        module = importlib.import_module(f"cogs.core.{name}")
        assert not hasattr(module, "setup"), f"cogs.core.{name} looks like an extension"


def test_readme_layout_names_every_extension() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    bullet = re.search(r"^- `cogs/` —(.*?)^- ", readme, re.MULTILINE | re.DOTALL)
    assert bullet is not None, "README's Layout has no `cogs/` entry"
    named = set(re.findall(r"`(\w+)`", bullet.group(1)))
    assert {name.removeprefix("cogs.") for name in EXTENSIONS} <= named
