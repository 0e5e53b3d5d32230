"""From the store's ``?`` and ``:name`` placeholders to PostgreSQL's ``$1``, ``$2``, …."""

from __future__ import annotations

import functools
import re

_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


@functools.lru_cache(maxsize=512)
def compile_statement(statement: str) -> tuple[str, tuple[str, ...] | None]:
    """Return a statement with ``$n`` placeholders, and its parameter names.

    ``(text with $n placeholders, the parameter names in order)``; the names are None
    for a statement with ``?`` placeholders (positional parameters).
    """
    if _NAMED.search(statement):
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        return _NAMED.sub(number, statement), tuple(names)
    parts = statement.split("?")
    text = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))
    return text, None
