"""Finding reframe resolutions from what a user types (autocomplete and lenient parsing)."""

from __future__ import annotations

import re
from typing import Final

from bot.i18n import lazy, pgettext
from bot.inputs import DEFAULT_RESOLUTION, RESOLUTIONS, InvalidInput, resolution_size

MAX_SUGGESTIONS: Final = 25
_RATIO = re.compile(r"^\s*(\d{1,4})\s*[:x×/]\s*(\d{1,4})\s*$")
_WIDE_WORDS = ("wide", "landscape", "horizontal")
_TALL_WORDS = ("tall", "portrait", "vertical")
_SQUARE_WORDS = ("square",)

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


def search(query: str, limit: int = MAX_SUGGESTIONS) -> list[str]:
    """Resolutions matching ``query``, best first, at most ``limit`` (Discord allows 25)."""
    limit = min(limit, MAX_SUGGESTIONS)
    q = query.strip().lower()
    if not q:
        others = [r for r in COMMON_RESOLUTIONS if r != DEFAULT_RESOLUTION]
        return [DEFAULT_RESOLUTION, *others][:limit]
    words = q.split()
    pool = list(RESOLUTIONS)
    if any(w in _WIDE_WORDS for w in words):
        pool = [r for r in pool if _ratio(r) > 1]
    if any(w in _TALL_WORDS for w in words):
        pool = [r for r in pool if _ratio(r) < 1]
    if any(w in _SQUARE_WORDS for w in words):
        pool = sorted((r for r in pool if 0.85 <= _ratio(r) <= 1 / 0.85),
                      key=lambda r: abs(_ratio(r) - 1))
    rest = " ".join(w for w in words if w not in (*_WIDE_WORDS, *_TALL_WORDS, *_SQUARE_WORDS))
    if rest:
        exact = [r for r in pool if rest in r.lower() or rest in label(r).lower()]
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
    raise InvalidInput("resolution", lazy(
        "`{value}` is not a resolution I know: pick one of the suggestions (type 16:9, 1536, "
        "wide, tall or square to narrow them).", value=value[:40]))
