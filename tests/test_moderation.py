"""Blocked-word parsing and matching (bot/moderation.py)."""

from __future__ import annotations

import pytest

from bot.moderation import (
    MAX_PHRASE_LENGTH,
    MAX_PHRASES_PER_CHANGE,
    InvalidPhrases,
    blocked_pattern,
    find_blocked,
    parse_phrases,
)


def test_parse_phrases_normalizes_and_deduplicates() -> None:
    assert parse_phrases("  Cat , red   FOX,cat,, \n dog ;") == ["cat", "red fox", "dog"]


@pytest.mark.parametrize("text", ["", " , ,", "\n"])
def test_parse_phrases_needs_one(text: str) -> None:
    with pytest.raises(InvalidPhrases, match="at least one"):
        parse_phrases(text)


def test_parse_phrases_limits() -> None:
    with pytest.raises(InvalidPhrases, match="limit"):
        parse_phrases("x" * (MAX_PHRASE_LENGTH + 1))
    with pytest.raises(InvalidPhrases, match="at most"):
        parse_phrases(",".join(f"w{i}" for i in range(MAX_PHRASES_PER_CHANGE + 1)))
    with pytest.raises(InvalidPhrases, match="control"):
        parse_phrases("bad\x07word")


@pytest.mark.parametrize(("text", "expected"), [
    ("a Cat on a mat", "cat"),
    ("CAT!", "cat"),
    ("concatenate", None),
    ("cats", None),
    ("a red\n  Fox", "red fox"),
    ("a redfox", None),
    ("a red dog and a fox", None),
    ("price is $5 today", "$5"),
    ("price is $50 today", None),
    ("c++ rocks", "c++"),
    ("what a.b.c", None),
    ("see a*b here", "a*b"),
])
def test_find_blocked_whole_words_and_phrases(text: str, expected: str | None) -> None:
    assert find_blocked([text], ["cat", "red fox", "$5", "c++", "a*b"]) == expected


def test_find_blocked_checks_every_text_and_empty_lists() -> None:
    assert find_blocked(["fine", None, "", "no Cat please"], ["cat"]) == "cat"
    assert find_blocked(["cat"], []) is None
    assert blocked_pattern(()) is None


def test_regex_metacharacters_are_escaped() -> None:
    # "a.c" must not match "abc"; "(x" must not break the pattern.
    assert find_blocked(["abc"], ["a.c", "(x"]) is None
    assert find_blocked(["so (x it"], ["a.c", "(x"]) == "(x"
