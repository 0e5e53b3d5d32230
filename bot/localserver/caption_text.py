"""Caption text on placeholder pictures: runs of one font each, measured, wrapped, drawn.

A string is split into runs of consecutive characters that one face draws
(:mod:`.glyph_fonts` picks it). A character no available font has becomes a drawn box;
invisible format characters (joiners, variation selectors) that the run's font lacks are
left out. Colour bitmap emoji are drawn at their font's size and scaled to the text's.

Synchronous and CPU-bound, like the rest of the drawing: call it from a worker thread.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageDraw

from bot.localserver.glyph_fonts import FallbackFonts, FontFace, load_font

Color = tuple[int, int, int]

VARIATION_SELECTOR_16: Final = 0xFE0F
ELLIPSIS: Final = " …"
#: A missing glyph's box, as fractions of the text size: advance, box width and height.
BOX_ADVANCE: Final = 0.6
BOX_WIDTH: Final = 0.45
BOX_HEIGHT: Final = 0.7


@dataclass(frozen=True, slots=True)
class TextRun:
    """Characters drawn with one face; ``face`` None: no font has them (drawn as boxes)."""

    text: str
    face: FontFace | None


def _is_invisible(char: str) -> bool:
    """Format characters and variation selectors: they draw nothing on their own."""
    codepoint = ord(char)
    return (unicodedata.category(char) == "Cf" or 0xFE00 <= codepoint <= 0xFE0F
            or 0xE0100 <= codepoint <= 0xE01EF)


def split_runs(text: str, fonts: FallbackFonts) -> list[TextRun]:
    """``text`` as runs of one face each, in order."""
    runs: list[TextRun] = []
    for position, char in enumerate(text):
        codepoint = ord(char)
        last = runs[-1] if runs else None
        if last is not None and last.face is not None and (
            (_is_invisible(char) or unicodedata.combining(char))
            and fonts.covers(last.face, codepoint)
        ):
            runs[-1] = TextRun(last.text + char, last.face)
            continue
        if _is_invisible(char):
            continue
        following = text[position + 1:position + 2]
        face = fonts.face_for(codepoint, prefer_colour=following == chr(VARIATION_SELECTOR_16))
        if last is not None and last.face == face:
            runs[-1] = TextRun(last.text + char, face)
        else:
            runs.append(TextRun(char, face))
    return runs


class CaptionFont:
    """Text of one pixel ``size`` drawn with a chain of fallback fonts."""

    def __init__(self, fonts: FallbackFonts, size: int) -> None:
        self.fonts = fonts
        self.size = size
        ascent, _descent = load_font(fonts.primary, size).getmetrics()
        #: Distance from a line's top to its baseline, from the shipped font.
        self.ascent = ascent

    def _run_width(self, run: TextRun) -> float:
        if run.face is None:
            return len(run.text) * BOX_ADVANCE * self.size
        length = load_font(run.face, self.size).getlength(run.text)
        return length * self._scale(run.face)

    def _scale(self, face: FontFace) -> float:
        return self.size / face.bitmap_size if face.bitmap_size else 1.0

    def width(self, text: str) -> float:
        """How wide ``text`` is drawn, in pixels."""
        return sum(self._run_width(run) for run in split_runs(text, self.fonts))

    def draw(self, image: Image.Image, top_left: tuple[float, float], text: str,
             fill: Color) -> None:
        """Draw ``text`` with its line's top at ``top_left``."""
        draw = ImageDraw.Draw(image, "RGBA")
        x, baseline = top_left[0], top_left[1] + self.ascent
        for run in split_runs(text, self.fonts):
            if run.face is None:
                self._draw_boxes(draw, x, baseline, len(run.text), fill)
            elif run.face.bitmap_size:
                self._paste_bitmap_run(image, x, baseline, run.text, run.face)
            else:
                draw.text((x, baseline), run.text, font=load_font(run.face, self.size),
                          fill=fill, anchor="ls", embedded_color=run.face.colour)
            x += self._run_width(run)

    def _draw_boxes(self, draw: ImageDraw.ImageDraw, x: float, baseline: float, count: int,
                    fill: Color) -> None:
        advance = BOX_ADVANCE * self.size
        inset = (advance - BOX_WIDTH * self.size) / 2
        outline = max(1, self.size // 12)
        for index in range(count):
            left = x + index * advance + inset
            draw.rectangle((left, baseline - BOX_HEIGHT * self.size,
                            left + BOX_WIDTH * self.size, baseline),
                           outline=fill, width=outline)

    def _paste_bitmap_run(self, image: Image.Image, x: float, baseline: float, text: str,
                          face: FontFace) -> None:
        """Colour bitmaps exist at one size only: draw there, scale, paste."""
        font = load_font(face, self.size)
        ascent, descent = font.getmetrics()
        width = max(1, math.ceil(font.getlength(text)))
        layer = Image.new("RGBA", (width, ascent + descent))
        ImageDraw.Draw(layer).text((0, ascent), text, font=font, anchor="ls",
                                   embedded_color=True)
        scale = self._scale(face)
        layer = layer.resize((max(1, round(width * scale)),
                              max(1, round((ascent + descent) * scale))),
                             Image.Resampling.LANCZOS)
        image.paste(layer, (round(x), round(baseline - ascent * scale)), layer)


def _longest_fitting_prefix(word: str, measure: Callable[[str], float], width: float) -> int:
    """How many leading characters of ``word`` fit in ``width`` px.

    Probes double in length first, so a long word costs a few measures of about a line's
    length, never of its whole length.
    """
    fits, fails = 0, len(word) + 1
    probe = 1
    while probe < fails:
        if measure(word[:probe]) <= width:
            fits = probe
            probe = min(probe * 2, len(word)) if probe < len(word) else fails
        else:
            fails = probe
    while fails - fits > 1:
        middle = (fits + fails) // 2
        if measure(word[:middle]) <= width:
            fits = middle
        else:
            fails = middle
    return fits


def wrap_lines(text: str, measure: Callable[[str], float], width: float,
               max_lines: int) -> list[str]:
    """Greedy word wrap to ``width`` px.

    Overlong words (and text without spaces, as in Chinese or Japanese) are cut. At most
    ``max_lines``, the last ending in " …" when text was left out.
    """
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and measure(candidate) <= width:
            lines[-1] = candidate
            continue
        while word and len(lines) <= max_lines:
            cut = _longest_fitting_prefix(word, measure, width)
            if cut == len(word):
                break
            lines.append(word[:max(1, cut)])
            word = word[max(1, cut):]
        if word:
            lines.append(word)
        if len(lines) > max_lines:
            break
    if len(lines) <= max_lines:
        return lines
    last = lines[max_lines - 1]
    kept = _longest_fitting_prefix(last, lambda part: measure(part + ELLIPSIS), width)
    return [*lines[: max_lines - 1], last[:kept].rstrip() + ELLIPSIS]
