"""The languages the bot speaks, and which of them a Discord locale means.

Codes are Discord's own (``en``, ``pt-BR``, ``it``): they are what ``/settings language``
takes, what the store keeps, and what the context variable holds. Babel and gettext spell
them with an underscore (``pt_BR``); :func:`babel_locale` and :func:`catalog_name` convert.
"""

from __future__ import annotations

import functools
from typing import Final

from babel import Locale

ENGLISH: Final = "en"
PORTUGUESE_BR: Final = "pt-BR"
ITALIAN: Final = "it"
#: Every language the bot speaks, English (the source language) first.
LOCALES: Final[tuple[str, ...]] = (ENGLISH, PORTUGUESE_BR, ITALIAN)
#: The languages that have a catalog (English is the source text itself).
TRANSLATED_LOCALES: Final[tuple[str, ...]] = (PORTUGUESE_BR, ITALIAN)
DEFAULT_LOCALE: Final = ENGLISH
#: Each language's name in itself, as a language picker shows it.
LOCALE_NAMES: Final[dict[str, str]] = {
    ENGLISH: "English", PORTUGUESE_BR: "Português (Brasil)", ITALIAN: "Italiano",
}


def supported_locale(code: object) -> str | None:
    """Return the bot's language for a Discord locale, or None.

    The bot's language for a Discord locale (``en-US``, ``en-GB`` → ``en``; ``pt-BR``;
    ``it``), or None when the bot does not speak it (``pt-PT`` included: it is not
    Brazilian Portuguese). Anything that is not a locale code is None too.
    """
    if not isinstance(code, str):
        code = getattr(code, "value", None)
        if not isinstance(code, str):
            return None
    text = code.strip().replace("_", "-")
    lowered = text.lower()
    if lowered == "en" or lowered.startswith("en-"):
        return ENGLISH
    if lowered == "pt-br":
        return PORTUGUESE_BR
    if lowered == "it" or lowered.startswith("it-"):
        return ITALIAN
    return None


def reader_locale(code: object) -> str:
    """Return the language to answer a reader in (English by default).

    The language to answer a reader whose Discord locale is ``code``: the one the bot
    speaks, else English.
    """
    return supported_locale(code) or DEFAULT_LOCALE


def catalog_name(locale: str) -> str:
    """The folder name of a language's catalog (gettext's spelling: ``pt_BR``)."""
    return locale.replace("-", "_")


@functools.cache
def babel_locale(locale: str) -> Locale:
    """Babel's :class:`~babel.Locale` for one of :data:`LOCALES` (numbers, currencies)."""
    return Locale.parse(catalog_name(locale))
