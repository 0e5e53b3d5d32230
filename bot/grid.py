"""One picture for a batch: its images side by side (2 or 3) or two by two (4).

Each tile is scaled down to fit ``TILE_BOX`` (the buttons under the grid post every image
full size), tiles are separated by thin gutters and numbered like those buttons, and a
failed image is a grey tile that says so. The grid is encoded as WebP and as PNG and the
smaller wins; over the upload limit it is scaled down until it fits. Pure Pillow, meant to
run in a worker thread (:func:`compose_grid` blocks). Nothing here imports Discord.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageDraw, ImageFont

from bot.images import MAX_PIXELS, RESULT_FORMATS

#: Largest tile (width, height): four tiles make at most a 1544 × 1544 grid.
TILE_BOX: Final = (768, 768)
GUTTER: Final = 8
BACKGROUND: Final = (24, 25, 28)
FAILED_FILL: Final = (88, 90, 96)
FAILED_TEXT: Final = (230, 230, 230)
BADGE_FILL: Final = (0, 0, 0)
BADGE_TEXT: Final = (255, 255, 255)
#: A tile is decoded only if it has at most this many pixels (as any result image).
MAX_TILE_PIXELS: Final = MAX_PIXELS
#: The formats a tile is decoded as (those of a result image).
TILE_FORMATS: Final = RESULT_FORMATS
#: Tiles decoded at once: two keep both cores busy, and bound what a grid holds in memory
#: to two full-size decodes.
DECODERS: Final = 2
WEBP_QUALITY: Final = 88
WEBP_METHOD: Final = 2  # 0 (fast) to 6 (small): 2 is a third of 4's time for ~5% more bytes
PNG_LEVEL: Final = 3
SHRINK_STEP: Final = 0.75


class GridError(Exception):
    """The grid cannot be made within the limits (``str`` is for the log)."""


@dataclass(frozen=True, slots=True)
class GridImage:
    """An encoded grid picture and its size."""

    data: bytes
    format: str  # "WEBP" or "PNG"
    width: int
    height: int

    @property
    def extension(self) -> str:
        """The file extension of its format (``webp`` or ``png``)."""
        return "webp" if self.format == "WEBP" else "png"


def layout(count: int) -> tuple[int, int]:
    """(columns, rows) of a grid of ``count`` tiles: 2×2 for 4, one row for 1 to 3."""
    if not 1 <= count <= 4:
        raise ValueError(f"a grid holds 1 to 4 images, not {count}")
    return (2, 2) if count == 4 else (count, 1)


def _decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data), formats=TILE_FORMATS) as probe:
        if probe.width * probe.height > MAX_TILE_PIXELS:
            raise GridError(f"a tile of {probe.width}x{probe.height} is too large")
        probe.draft("RGB", TILE_BOX)  # JPEG: decode at a reduced size when it can
        factor = min(probe.width // TILE_BOX[0], probe.height // TILE_BOX[1])
        if factor > 1 and probe.mode in ("RGB", "RGBA", "L", "LA"):
            shrunk = probe.reduce(factor)  # before converting: no full-size copy
            image = shrunk.convert("RGB")
        else:
            image = probe.convert("RGB")
    image.thumbnail(TILE_BOX, Image.Resampling.BICUBIC, reducing_gap=3.0)
    return image


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _failed_tile(size: tuple[int, int], label: str) -> Image.Image:
    tile = Image.new("RGB", size, FAILED_FILL)
    draw = ImageDraw.Draw(tile)
    font = _font(max(14, min(size) // 8))
    box = draw.textbbox((0, 0), label, font=font)
    x = (size[0] - (box[2] - box[0])) // 2 - box[0]
    y = (size[1] - (box[3] - box[1])) // 2 - box[1]
    draw.text((x, y), label, fill=FAILED_TEXT, font=font)
    return tile


def _badge(grid: Image.Image, origin: tuple[int, int], number: int, tile_height: int) -> None:
    draw = ImageDraw.Draw(grid)
    font = _font(max(12, tile_height // 14))
    text = str(number)
    box = draw.textbbox((0, 0), text, font=font)
    pad = max(4, (box[3] - box[1]) // 3)
    width, height = box[2] - box[0] + 2 * pad, box[3] - box[1] + 2 * pad
    x, y = origin[0] + pad, origin[1] + pad
    draw.rounded_rectangle((x, y, x + width, y + height), radius=pad, fill=BADGE_FILL)
    draw.text((x + pad - box[0], y + pad - box[1]), text, fill=BADGE_TEXT, font=font)


def _assemble(tiles: Sequence[bytes | None], failed_label: str,
              labels: Sequence[str | None]) -> Image.Image:
    # Pillow lets go of the GIL while it decodes and scales: the tiles are read side by side.
    with ThreadPoolExecutor(max_workers=DECODERS) as pool:
        images = list(pool.map(lambda data: None if data is None else _decode(data), tiles))
    decoded = [image for image in images if image is not None]
    if decoded:
        cell = (max(i.width for i in decoded), max(i.height for i in decoded))
    else:
        cell = (TILE_BOX[0] // 2, TILE_BOX[1] // 2)
    columns, rows = layout(len(tiles))
    grid = Image.new("RGB", (columns * cell[0] + (columns - 1) * GUTTER,
                             rows * cell[1] + (rows - 1) * GUTTER), BACKGROUND)
    for index, image in enumerate(images):
        column, row = index % columns, index // columns
        left, top = column * (cell[0] + GUTTER), row * (cell[1] + GUTTER)
        tile = image if image is not None else _failed_tile(cell,
                                                            labels[index] or failed_label)
        grid.paste(tile, (left + (cell[0] - tile.width) // 2, top + (cell[1] - tile.height) // 2))
        _badge(grid, (left, top), index + 1, cell[1])
    return grid


def _encode_as(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "WEBP":
        image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
    else:
        image.save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def _encode(image: Image.Image) -> tuple[bytes, str]:
    """The smaller of WebP and PNG (both encoded at once, in two threads)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        webp, png = pool.map(lambda fmt: _encode_as(image, fmt), ("WEBP", "PNG"))
    return (webp, "WEBP") if len(webp) <= len(png) else (png, "PNG")


def compose_grid(tiles: Sequence[bytes | None], *, max_bytes: int,
                 failed_label: str = "failed",
                 labels: Sequence[str | None] | None = None) -> GridImage:
    """The grid of ``tiles`` (image bytes, or None for a failed image), at most ``max_bytes`` long.

    A missing tile is drawn plain with ``failed_label`` across it, or with its own label
    from ``labels`` (one per tile; None: ``failed_label``).

    Raises :class:`GridError` when a tile cannot be read or the grid cannot be made small enough.
    """
    try:
        grid = _assemble(tiles, failed_label, labels or [None] * len(tiles))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise GridError(f"a tile could not be read: {type(exc).__name__}") from None
    while True:
        data, fmt = _encode(grid)
        if len(data) <= max_bytes:
            return GridImage(data=data, format=fmt, width=grid.width, height=grid.height)
        if min(grid.size) < 64:
            raise GridError(f"the grid is still {len(data)} bytes at {grid.size}")
        grid = grid.resize((int(grid.width * SHRINK_STEP), int(grid.height * SHRINK_STEP)),
                           Image.Resampling.LANCZOS)
