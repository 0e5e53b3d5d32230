"""What the languages cost: a translated message, a plural, a cost and a lazy text per call,
and the commands' registration payload in each locale (time to build, largest command
against Discord's 4,000 characters, longest description against its 100).

    .venv/bin/python -m bench.i18n
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import discord
from discord.ext import commands

from bot.i18n import _, format_cost, lazy, ngettext, use_locale
from bot.i18n.catalogs import extract, messages
from cogs.core.bot import EXTENSIONS
from cogs.core.translator import CommandTranslator

CALLS = 20_000
LOCALES = ("en-US", "pt-BR", "it")


def per_call_us(work: Callable[[], object], calls: int = CALLS) -> float:
    start = time.perf_counter()
    for _i in range(calls):
        work()
    return (time.perf_counter() - start) / calls * 1e6


def texts(node: Mapping[str, Any], locale: str) -> Iterator[tuple[str, str]]:
    """(kind, text) of everything Discord counts, as ``locale`` sees it."""
    for key in ("name", "description"):
        if node.get(key):
            yield key, (node.get(f"{key}_localizations") or {}).get(locale, node[key])
    for choice in node.get("choices") or []:
        yield "choice", (choice.get("name_localizations") or {}).get(locale, choice["name"])
        yield "value", str(choice["value"])
    for option in node.get("options") or []:
        yield from texts(option, locale)


async def registration() -> tuple[float, list[dict[str, Any]]]:
    bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
    for extension in EXTENSIONS:
        await bot.load_extension(extension)
    translator = CommandTranslator()
    start = time.perf_counter()
    payloads = [await command.get_translated_payload(bot.tree, translator)
                for command in bot.tree.get_commands()]
    return time.perf_counter() - start, payloads


def main() -> None:
    print(f"{len(messages(extract().catalog))} messages in the catalogs\n")
    print(f"{'locale':8} {'_() µs':>8} {'ngettext µs':>12} {'format_cost µs':>15} "
          f"{'lazy µs':>8}")
    refusal = lazy("Daily limit for you ({limit}) reached — resets {when}", limit=10,
                   when="<t:1:R>")
    for locale in LOCALES:
        with use_locale(locale):
            row = (per_call_us(lambda: _("Removed {channel}.", channel="<#1>")),
                   per_call_us(lambda: ngettext("{n} image left today",
                                                "{n} images left today", 3)),
                   per_call_us(lambda: format_cost(0.08)),
                   per_call_us(lambda: str(refusal)))
        print(f"{locale:8} {row[0]:8.2f} {row[1]:12.2f} {row[2]:15.2f} {row[3]:8.2f}")

    seconds, payloads = asyncio.run(registration())
    print(f"\nregistration payload of {len(payloads)} commands, every Discord locale: "
          f"{seconds * 1000:.1f} ms")
    print(f"{'locale':8} {'largest command':>16} {'(of 4000)':>10} {'longest description':>20}")
    for locale in LOCALES:
        sizes = {p["name"]: sum(len(t) for _k, t in texts(p, locale)) for p in payloads}
        biggest = max(sizes, key=lambda name: sizes[name])
        longest = max(len(t) for p in payloads for k, t in texts(p, locale)
                      if k == "description")
        print(f"{locale:8} {biggest:>16} {sizes[biggest]:>10} {longest:>20}")


if __name__ == "__main__":
    main()
