"""Finding reframe resolutions from what a user types (autocomplete and lenient parsing)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Final

from bot.i18n import ENGLISH, ITALIAN, PORTUGUESE_BR, lazy, pgettext
from bot.inputs import DEFAULT_RESOLUTION, RESOLUTIONS, InvalidInput, resolution_size

MAX_SUGGESTIONS: Final = 25
_RATIO = re.compile(r"^\s*(\d{1,4})\s*[:x×/]\s*(\d{1,4})\s*$")

#: The words that narrow the suggestions to one shape, in each language the bot speaks.
#: Every language's words work for everyone, without regard to case or accents, and from
#: their first :data:`SHAPE_PREFIX` letters on (autocomplete asks as the member types).
SHAPE_WORDS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "wide": {ENGLISH: ("wide", "landscape", "horizontal"),
             PORTUGUESE_BR: ("paisagem", "horizontal"),
             ITALIAN: ("orizzontale", "paesaggio")},
    "tall": {ENGLISH: ("tall", "portrait", "vertical"),
             PORTUGUESE_BR: ("retrato", "vertical"),
             ITALIAN: ("verticale", "ritratto")},
    "square": {ENGLISH: ("square",),
               PORTUGUESE_BR: ("quadrado", "quadrada"),
               ITALIAN: ("quadrato", "quadrata")},
}
SHAPE_PREFIX: Final = 3

#: Common choices for select menus: the default first, then a spread of shapes (≤ 25).
COMMON_RESOLUTIONS: Final = (
    DEFAULT_RESOLUTION, "1024:1024 (1:1)", "1344:768 (7:4)", "1312:736 (41:23)",
    "1280:800 (8:5)", "1248:832 (3:2)", "1120:896 (5:4)", "1408:704 (2:1)",
    "1536:640 (12:5)", "1536:512 (3:1)", "864:1152 (3:4)", "896:1120 (4:5)",
    "832:1248 (2:3)", "800:1280 (5:8)", "736:1312 (23:41)", "768:1344 (4:7)",
    "704:1408 (1:2)", "640:1536 (5:12)", "512:1536 (1:3)",
)


def label(resolution: str) -> str:
    """Describe a resolution: ``"1152:864 (4:3)"`` → ``"1152 × 864 (4:3) · landscape"``.

    The shape word is in the reader's language.
    """
    w, h = resolution_size(resolution)
    if w == h:
        shape = pgettext("image shape", "square")
    else:
        shape = (pgettext("image shape", "landscape") if w > h
                 else pgettext("image shape", "portrait"))
    ratio = resolution.split(" ", 1)[1]
    return f"{w} × {h} {ratio} · {shape}"


def _ratio(resolution: str) -> float:
    w, h = resolution_size(resolution)
    return w / h


def _plain(text: str) -> str:
    """``text`` without case or accents: ``"Orizzontale"`` and ``"orizzontalé"`` alike."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


#: Every shape word without case or accents, and its shape (made once, not per keystroke).
_PLAIN_SHAPE_WORDS: Final = tuple((_plain(w), shape) for shape, by_language in SHAPE_WORDS.items()
                                  for words in by_language.values() for w in words)


def shape_of(word: str) -> str | None:
    """The shape (a key of :data:`SHAPE_WORDS`) a typed word names, or None."""
    word = _plain(word)
    for known, shape in _PLAIN_SHAPE_WORDS:
        if word == known or (len(word) >= SHAPE_PREFIX and known.startswith(word)):
            return shape
    return None


#: How each shape narrows the pool.
_NARROW: Final[dict[str, Callable[[list[str]], list[str]]]] = {
    "wide": lambda pool: [r for r in pool if _ratio(r) > 1],
    "tall": lambda pool: [r for r in pool if _ratio(r) < 1],
    "square": lambda pool: sorted((r for r in pool if 0.85 <= _ratio(r) <= 1 / 0.85),
                                  key=lambda r: abs(_ratio(r) - 1)),
}


def search(query: str, limit: int = MAX_SUGGESTIONS) -> list[str]:
    """Resolutions matching ``query``, best first, at most ``limit`` (Discord allows 25)."""
    limit = min(limit, MAX_SUGGESTIONS)
    q = _plain(query.strip())
    if not q:
        others = [r for r in COMMON_RESOLUTIONS if r != DEFAULT_RESOLUTION]
        return [DEFAULT_RESOLUTION, *others][:limit]
    words = q.split()
    shapes = {word: shape_of(word) for word in words}
    pool = list(RESOLUTIONS)
    for shape, narrow in _NARROW.items():
        if shape in shapes.values():
            pool = narrow(pool)
    rest = " ".join(w for w in words if shapes[w] is None)
    if rest:
        exact = [r for r in pool if rest in r.lower() or rest in _plain(label(r))]
        match = _RATIO.match(rest)
        if match and int(match[1]) and int(match[2]):
            target = int(match[1]) / int(match[2])
            close = sorted((r for r in pool if abs(_ratio(r) / target - 1) <= 0.06),
                           key=lambda r: abs(_ratio(r) / target - 1))
            exact += [r for r in close if r not in exact]
        pool = exact
    return pool[:limit]


def parse(value: str) -> str:
    """The exact resolution a user meant, or :class:`InvalidInput`.

    Accepts the exact value, ``"1152:864"`` / ``"1152x864"`` or a ratio naming one
    resolution (``"4:3"``). Anything else is refused: autocomplete is only a suggestion.
    """
    value = value.strip()
    if value in RESOLUTIONS:
        return value
    match = _RATIO.match(value)
    if match:
        w, h = int(match[1]), int(match[2])
        for r in RESOLUTIONS:
            if resolution_size(r) == (w, h):
                return r
        named = [r for r in RESOLUTIONS if r.endswith(f"({w}:{h})")]
        if len(named) == 1:
            return named[0]
    # Translators: use your language's words of SHAPE_WORDS above.
    raise InvalidInput("resolution", lazy(
        "`{value}` is not a resolution I know: pick one of the suggestions (type 16:9, 1536, "
        "wide, tall or square to narrow them).", value=value[:40]))
