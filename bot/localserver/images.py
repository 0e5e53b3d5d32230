"""Placeholder PNGs for the local server, drawn with Pillow.

The functions here are synchronous and CPU-bound: call them through
``asyncio.to_thread``, never on the event loop. The pictures are deterministic for a
given set of inputs on a given machine (colours come from a CRC of the prompt and seed;
characters the shipped font lacks are drawn with the system's fonts, see
:mod:`.glyph_fonts`). They hold no words of their own, only the prompt, the model,
numbers and symbols, as whoever sees them may read any language: the result's footer
says, in the server's language, that they come from the local preview provider.
"""

from __future__ import annotations

import io
import logging
import zlib
from typing import Final

from PIL import Image, ImageChops, ImageDraw, ImageOps

from bot.localserver.caption_text import CaptionFont, Color, wrap_lines
from bot.localserver.glyph_fonts import default_fonts

logger = logging.getLogger(__name__)

#: Refuse to decode input images larger than this many pixels (decompression bombs).
MAX_INPUT_PIXELS: Final = 40_000_000
#: Most lines of wrapped text drawn on an image.
MAX_TEXT_LINES: Final = 8


def _palette(key: str) -> tuple[Color, Color, Color]:
    """Three colours derived from ``key``: gradient start, gradient end and accent."""
    digest = zlib.crc32(key.encode("utf-8", "replace"))
    start = (digest & 0x7F, (digest >> 7) & 0x7F, (digest >> 14) & 0x7F)
    end = (255 - start[2] // 2, 255 - start[1] // 2, 255 - start[0] // 2)
    accent = ((digest >> 3) & 0xFF, (digest >> 11) & 0xFF, (digest >> 19) & 0xFF)
    return start, end, accent


def _gradient(size: tuple[int, int], start: Color, end: Color) -> Image.Image:
    """A diagonal-ish gradient from ``start`` (top left) to ``end`` (bottom right)."""
    vertical = Image.linear_gradient("L")
    mask = ImageChops.add(vertical, vertical.transpose(Image.Transpose.ROTATE_90), scale=2.0)
    mask = mask.resize(size, Image.Resampling.BILINEAR)
    return Image.composite(Image.new("RGB", size, end), Image.new("RGB", size, start), mask)


def _draw_caption(image: Image.Image, text: str, detail: str) -> None:
    """Wrapped ``text`` and a ``detail`` line on a dark band at the bottom."""
    width, height = image.size
    big = max(12, min(width, height) // 22)
    small = max(10, big * 2 // 3)
    margin = big
    fonts = default_fonts()
    title, note = CaptionFont(fonts, big), CaptionFont(fonts, small)
    lines = wrap_lines(text, title.width, width - 2 * margin, MAX_TEXT_LINES)
    band = len(lines) * (big + big // 3) + (small + small // 3) + 2 * margin
    top = max(0, height - band)
    ImageDraw.Draw(image, "RGBA").rectangle((0, top, width, height), fill=(0, 0, 0, 150))
    y = top + margin
    for line in lines:
        title.draw(image, (margin, y), line, (255, 255, 255))
        y += big + big // 3
    note.draw(image, (margin, y), detail, (220, 220, 220))


def _draw_missing_picture(image: Image.Image) -> None:
    """Where a reframe's source would be, in the middle: an empty frame, crossed out."""
    width, height = image.size
    half = max(4, min(width, height) // 6)
    box = (width // 2 - half, height // 2 - half, width // 2 + half, height // 2 + half)
    line = max(2, half // 12)
    draw = ImageDraw.Draw(image, "RGBA")
    draw.rectangle(box, outline=(255, 255, 255, 230), width=line)
    draw.line(box, fill=(255, 255, 255, 230), width=line)
    draw.line((box[0], box[3], box[2], box[1]), fill=(255, 255, 255, 230), width=line)


def _decorate(image: Image.Image, accent: Color, key: str) -> None:
    """A few translucent circles, placed from a CRC of ``key``."""
    width, height = image.size
    draw = ImageDraw.Draw(image, "RGBA")
    value = zlib.crc32(key.encode("utf-8", "replace")) or 1
    for _ in range(4):
        value = (value * 1103515245 + 12345) & 0x7FFFFFFF
        cx, cy = value % width, (value >> 8) % height
        radius = max(8, (value >> 4) % max(9, min(width, height) // 3))
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius),
                     fill=(*accent, 90))


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes, fast rather than small (``compress_level=1``)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def render_generate(
    prompt: str, size: tuple[int, int], *, seed: int = 0, style: str = "auto"
) -> bytes:
    """The PNG of an ``ideogram-v2/generate`` job.

    A gradient, shapes, the prompt, the size and the seed (not ``style``: a word).
    """
    key = f"{seed}:{prompt}"
    start, end, accent = _palette(key)
    image = _gradient(size, start, end)
    _decorate(image, accent, key)
    width, height = size
    _draw_caption(image, prompt, f"ideogram-v2 · {width}×{height} · #{seed}")
    return encode_png(image)


#: The formats a reframe's source is decoded as (what ``/reframe`` accepts).
SOURCE_FORMATS: Final = ("PNG", "JPEG", "WEBP")


def decode_source(data: bytes | None) -> Image.Image | None:
    """``data`` as an RGB image, or None when it is missing or not a sane image."""
    if not data:
        return None
    try:
        # Only what /reframe accepts: no other decoder (EPS would start Ghostscript).
        with Image.open(io.BytesIO(data), formats=SOURCE_FORMATS) as probe:
            if probe.width * probe.height > MAX_INPUT_PIXELS:
                logger.info("input image too large: %sx%s", probe.width, probe.height)
                return None
            probe.load()
            return probe.convert("RGB")
    except Exception as exc:  # Pillow raises many kinds on a broken file (SyntaxError too)
        logger.info("input image does not decode: %r", exc)
        return None


def render_reframe(
    source: bytes | None, size: tuple[int, int], *, resolution: str, seed: int = 0
) -> bytes:
    """The PNG of an ``ideogram-v3/reframe`` job.

    ``source`` scaled to fit and centred on a gradient, or a crossed-out frame when
    ``source`` is missing or does not decode; the new resolution and the seed below.
    """
    key = f"{seed}:{resolution}"
    start, end, _accent = _palette(key)
    image = _gradient(size, start, end)
    picture = decode_source(source)
    if picture is not None:
        fitted = ImageOps.contain(picture, size, Image.Resampling.BILINEAR)
        image.paste(fitted, ((size[0] - fitted.width) // 2, (size[1] - fitted.height) // 2))
    else:
        _draw_missing_picture(image)
    _draw_caption(image, resolution, f"ideogram-v3 · #{seed}")
    return encode_png(image)
