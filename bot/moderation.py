"""Blocked words: parsing a moderator's list and matching it against prompts.

A phrase matches as a whole word or phrase, case-insensitively: ``cat`` matches "a Cat."
but not "concatenate"; ``red fox`` matches "red  fox" (any whitespace between the words).
Phrases are escaped, never interpreted as regular expressions. Nothing here imports Discord.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Final

from bot.i18n import LocalizedError, LocalNumber, lazy

#: Longest phrase, most phrases per server, most phrases per add/remove command.
MAX_PHRASE_LENGTH: Final = 100
MAX_PHRASES_PER_GUILD: Final = 500
MAX_PHRASES_PER_CHANGE: Final = 50
_SEPARATORS: Final = re.compile(r"[,\n;]")


class InvalidPhrases(LocalizedError, ValueError):
    """A blocked-words list that cannot be used as given.

    ``str(exc)`` tells the moderator what to change, in the language of whoever reads it.
    """


def normalize_phrase(phrase: str) -> str:
    """Whitespace collapsed and lowercased: the form the store keeps (and compares)."""
    return " ".join(phrase.split()).lower()


def parse_phrases(text: str) -> list[str]:
    """Split a comma-separated list into normalized, de-duplicated phrases (order kept).

    Raises :class:`InvalidPhrases` when nothing is left, a phrase is too long or contains
    a control character, or there are too many phrases at once.
    """
    phrases: list[str] = []
    for raw in _SEPARATORS.split(text):
        phrase = normalize_phrase(raw)
        if not phrase:
            continue
        if any(ord(c) < 32 or c == "\x7f" for c in phrase):
            raise InvalidPhrases(lazy("A word contains a control character; type plain "
                                      "text."))
        if len(phrase) > MAX_PHRASE_LENGTH:
            raise InvalidPhrases(lazy("A word or phrase is {length} characters long; the "
                                      "limit is {limit}.", length=LocalNumber(len(phrase)),
                                      limit=LocalNumber(MAX_PHRASE_LENGTH)))
        if phrase not in phrases:
            phrases.append(phrase)
    if not phrases:
        raise InvalidPhrases(lazy("Give at least one word, e.g. `word one, some phrase`."))
    if len(phrases) > MAX_PHRASES_PER_CHANGE:
        raise InvalidPhrases(lazy("That is {count} words; change at most {limit} at a time.",
                                  count=LocalNumber(len(phrases)),
                                  limit=LocalNumber(MAX_PHRASES_PER_CHANGE)))
    return phrases


def _phrase_regex(phrase: str) -> str:
    words = phrase.split()
    return r"\s+".join(re.escape(word) for word in words)


@functools.lru_cache(maxsize=256)
def blocked_pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    r"""One compiled pattern for a server's list (cached), or None for an empty list.

    ``(?<!\w)`` / ``(?!\w)`` are word boundaries that also work for phrases that start or
    end with punctuation (where ``\b`` would never match). Longer phrases come first so the
    reported match is the most specific one.
    """
    parts = sorted({_phrase_regex(p) for p in phrases if p.strip()}, key=len, reverse=True)
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def find_blocked(texts: Iterable[str | None], phrases: Sequence[str]) -> str | None:
    """The first blocked phrase found in any of ``texts`` (normalized), or None."""
    pattern = blocked_pattern(tuple(phrases))
    if pattern is None:
        return None
    for text in texts:
        if not text:
            continue
        match = pattern.search(text)
        if match is not None:
            return normalize_phrase(match.group(0))
    return None


__all__ = [
    "MAX_PHRASES_PER_CHANGE",
    "MAX_PHRASES_PER_GUILD",
    "MAX_PHRASE_LENGTH",
    "InvalidPhrases",
    "blocked_pattern",
    "find_blocked",
    "normalize_phrase",
    "parse_phrases",
]
