"""Which font draws each character of a placeholder picture's caption.

The shipped font comes first: Noto Sans, installed with the bot by the ``fontpkg-noto-sans``
package (Latin, Greek, Cyrillic, Vietnamese). For a character it lacks, the fonts found on
the system are tried in turn, wide-coverage families first (Noto CJK, Noto Color Emoji,
DejaVu Sans; Debian's ``fonts-noto-cjk`` and ``fonts-noto-color-emoji`` install the first
two). Nothing is ever downloaded. Each font's coverage is read from its ``cmap`` with
fontTools, once per process and only when a character needs it.

The functions here read files: call them from a worker thread, never on the event loop.
FreeType faces are not safe to share between threads, so :func:`load_font` keeps one per
thread.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import fontpkg
from fontTools.ttLib import TTFont, TTLibError
from PIL import ImageFont

logger = logging.getLogger(__name__)

SHIPPED_FAMILY: Final = "Noto Sans"
SYSTEM_FONT_DIRS: Final[tuple[Path, ...]] = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local/share/fonts",
    Path.home() / ".fonts",
)
FONT_SUFFIXES: Final = frozenset({".ttf", ".otf", ".ttc"})
#: System fonts tried before any other, in this order (file names).
PREFERRED_FALLBACKS: Final[tuple[str, ...]] = (
    "NotoSansCJK-Regular.ttc",
    "NotoColorEmoji.ttf",
    "DejaVuSans.ttf",
    "NotoSansSymbols2-Regular.ttf",
    "NotoSansSymbols-Regular.ttf",
    "NotoSansMath-Regular.ttf",
)
#: Words in the file name of a styled face; such faces are tried after the plain ones.
STYLE_WORDS: Final[tuple[str, ...]] = (
    "bold", "italic", "oblique", "light", "thin", "medium", "black", "heavy", "condensed",
    "mono", "serif",
)
OUTLINE_TABLES: Final = ("glyf", "CFF ", "CFF2")
COLOUR_TABLES: Final = ("CBDT", "COLR", "sbix", "SVG ")


@dataclass(frozen=True, slots=True)
class FontFace:
    """One face of a font file."""

    path: Path
    #: The face's number within a collection (``.ttc``); 0 for a single font.
    index: int = 0
    #: The one pixel size a bitmap-only font (colour emoji) has; None for outline fonts.
    bitmap_size: int | None = None
    #: Glyphs carry their own colours (draw them with ``embedded_color``).
    colour: bool = False


def shipped_font_path() -> Path:
    """The font file installed with the bot (Noto Sans, regular)."""
    return Path(fontpkg.path(SHIPPED_FAMILY))


def _is_styled(path: Path) -> bool:
    name = path.stem.lower()
    return any(word in name for word in STYLE_WORDS)


def system_font_files(dirs: Iterable[Path] = SYSTEM_FONT_DIRS) -> list[Path]:
    """The font files under ``dirs``: preferred ones first, then plain faces, then styled."""
    found: dict[str, Path] = {}
    for root in dirs:
        for folder, _subdirs, files in os.walk(root):
            for name in sorted(files):
                path = Path(folder, name)
                if path.suffix.lower() in FONT_SUFFIXES:
                    found.setdefault(str(path), path)
    preferred = {name: rank for rank, name in enumerate(PREFERRED_FALLBACKS)}

    def order(path: Path) -> tuple[int, int, str]:
        rank = preferred.get(path.name, len(preferred))
        return rank, int(_is_styled(path)), str(path)

    return sorted(found.values(), key=order)


def read_face(path: Path) -> tuple[FontFace, frozenset[int]] | None:
    """The first face of ``path`` and the characters it maps.

    None when Pillow could not draw it: unreadable, or a bitmap font without colour
    bitmaps.
    """
    try:
        with TTFont(path, fontNumber=0, lazy=True) as font:
            cmap = font.getBestCmap() or {}
            colour = any(tag in font for tag in COLOUR_TABLES)
            bitmap_size: int | None = None
            if not any(tag in font for tag in OUTLINE_TABLES):
                if "CBLC" not in font:
                    return None
                bitmap_size = int(font["CBLC"].strikes[0].bitmapSizeTable.ppemY)
    except (OSError, TTLibError, AssertionError, KeyError, IndexError, ValueError) as exc:
        logger.debug("font %s skipped: %s", path, exc)
        return None
    return FontFace(path, 0, bitmap_size, colour), frozenset(cmap)


class FallbackFonts:
    """The shipped font, then system fonts: which face draws a character. Thread-safe."""

    def __init__(self, primary: Path, fallbacks: Sequence[Path]) -> None:
        face = read_face(primary)
        if face is None:
            raise ValueError(f"the shipped font {primary} cannot be read")
        self.primary: FontFace = face[0]
        self._coverage: dict[FontFace, frozenset[int]] = {face[0]: face[1]}
        self._unread = list(fallbacks)
        self._faces: list[FontFace] = [face[0]]
        self._choices: dict[tuple[int, bool], FontFace | None] = {}
        self._lock = threading.Lock()

    def covers(self, face: FontFace, codepoint: int) -> bool:
        """True when ``face`` (one this object returned) has a glyph for ``codepoint``."""
        return codepoint in self._coverage.get(face, frozenset())

    def face_for(self, codepoint: int, *, prefer_colour: bool = False) -> FontFace | None:
        """The first face with a glyph for ``codepoint``, or None when no font has one.

        With ``prefer_colour`` (an emoji asking for colour), a colour face comes first.
        """
        if not prefer_colour and codepoint in self._coverage[self.primary]:
            return self.primary
        key = (codepoint, prefer_colour)
        if key in self._choices:
            return self._choices[key]
        with self._lock:
            if key not in self._choices:
                self._choices[key] = self._search(codepoint, prefer_colour)
            return self._choices[key]

    def _search(self, codepoint: int, prefer_colour: bool) -> FontFace | None:
        if prefer_colour:
            colour = self._first_covering(codepoint, colour_only=True)
            if colour is not None:
                return colour
        return self._first_covering(codepoint, colour_only=False)

    def _first_covering(self, codepoint: int, *, colour_only: bool) -> FontFace | None:
        """The first face that maps ``codepoint``, reading more fonts until one does."""
        for face in self._faces:
            if (face.colour or not colour_only) and codepoint in self._coverage[face]:
                return face
        while self._unread:
            read = self._read_next()
            if read is not None and (read.colour or not colour_only) and (
                codepoint in self._coverage[read]
            ):
                return read
        return None

    def _read_next(self) -> FontFace | None:
        read = read_face(self._unread.pop(0))
        if read is None or read[0] in self._coverage:
            return None
        face, coverage = read
        self._coverage[face] = coverage
        self._faces.append(face)
        return face


_default: FallbackFonts | None = None
_default_lock = threading.Lock()


def default_fonts() -> FallbackFonts:
    """The process-wide chain: the shipped font, then the system's fonts."""
    global _default
    with _default_lock:
        if _default is None:
            _default = FallbackFonts(shipped_font_path(), system_font_files())
        return _default


_thread_fonts = threading.local()


def load_font(face: FontFace, size: int) -> ImageFont.FreeTypeFont:
    """``face`` at ``size`` px (a bitmap face at its own size), one instance per thread."""
    pixel_size = face.bitmap_size or size
    cache: dict[tuple[FontFace, int], ImageFont.FreeTypeFont] = _thread_fonts.__dict__.setdefault(
        "cache", {}
    )
    key = (face, pixel_size)
    if key not in cache:
        cache[key] = ImageFont.truetype(str(face.path), pixel_size, index=face.index)
    return cache[key]
