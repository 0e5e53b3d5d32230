"""The declared minimum versions are ones without known CVEs and with the APIs the code uses,
and nothing unused is declared."""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import aiohttp

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
#: The lowest acceptable minimum for each, and why.
FLOORS: dict[str, tuple[tuple[int, ...], str]] = {
    "aiohttp": ((3, 14, 4), "ConnectionTimeoutError/SocketTimeoutError (3.10), socket_factory "
                            "(3.12), zip-bomb and request-smuggling fixes up to 3.14.4"),
    "pillow": ((13, 0), "heap overflow fixes of 12.3.0 and 13.0.0"),
    "discord.py": ((2, 7), "the interaction payload fields and setup_hook behaviour relied on"),
    "httpx": ((0, 28, 1), "the transport API the provider clients use"),
    "pydantic": ((2, 6), "past CVE-2024-3772 (2.4.0)"),
}


def minimums() -> dict[str, tuple[int, ...]]:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    found: dict[str, tuple[int, ...]] = {}
    for requirement in declared:
        match = re.match(r"^([A-Za-z0-9_.\-]+)\s*>=\s*([0-9.]+)", requirement)
        assert match, f"{requirement!r} has no minimum version"
        found[match[1].lower()] = tuple(int(p) for p in match[2].split("."))
    return found


def test_minimum_versions_are_past_known_cves_and_have_the_apis() -> None:
    declared = minimums()
    for name, (floor, why) in FLOORS.items():
        assert declared[name] >= floor, f"{name} must be >= {floor}: {why}"


def test_sniffio_is_not_declared() -> None:
    assert "sniffio" not in minimums()


def test_the_installed_aiohttp_has_what_the_code_uses() -> None:
    assert issubclass(aiohttp.ConnectionTimeoutError, TimeoutError)
    assert issubclass(aiohttp.SocketTimeoutError, TimeoutError)
    assert "socket_factory" in inspect.signature(aiohttp.TCPConnector).parameters
