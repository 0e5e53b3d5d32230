"""The batch grid: layout, failed tiles, numbering, format and size limits."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from PIL import Image, ImageChops

from bot.grid import GUTTER, TILE_BOX, GridError, compose_grid, layout


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image.convert("RGB")


def test_layouts() -> None:
    assert [layout(n) for n in (1, 2, 3, 4)] == [(1, 1), (2, 1), (3, 1), (2, 2)]
    with pytest.raises(ValueError):
        layout(5)


def test_four_make_two_by_two_tiles_in_their_places() -> None:
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    grid = compose_grid([png(1312, 736, c) for c in colours], max_bytes=10_000_000)
    tile_w, tile_h = TILE_BOX[0], round(736 * TILE_BOX[0] / 1312)
    assert (grid.width, grid.height) == (2 * tile_w + GUTTER, 2 * tile_h + GUTTER)
    image = opened(grid.data)
    assert image.size == (grid.width, grid.height)
    centres = [(tile_w // 2, tile_h // 2 + 40), (tile_w + GUTTER + tile_w // 2, tile_h // 2),
               (tile_w // 2, tile_h + GUTTER + tile_h // 2),
               (tile_w + GUTTER + tile_w // 2, tile_h + GUTTER + tile_h // 2)]
    for centre, colour in zip(centres, colours, strict=True):
        got = image.getpixel(centre)
        assert isinstance(got, tuple)
        assert all(abs(a - b) < 12 for a, b in zip(got, colour, strict=True)), (centre, got)


def test_two_and_three_go_side_by_side() -> None:
    for count in (2, 3):
        grid = compose_grid([png(600, 400, (90, 90, 90))] * count, max_bytes=10_000_000)
        assert grid.width == count * 600 + (count - 1) * GUTTER and grid.height == 400


def test_a_failed_image_is_a_grey_tile_that_says_so() -> None:
    good = png(600, 600, (250, 250, 250))
    grid = compose_grid([good, None, good], max_bytes=10_000_000, failed_label="failed")
    image = opened(grid.data)
    failed_tile = image.crop((600 + GUTTER, 0, 2 * 600 + GUTTER, 600))
    colours = {c for _, c in (failed_tile.getcolors(100_000) or [])}
    assert len(colours) > 2  # grey with drawn text, not a flat tile
    grey = failed_tile.getpixel((20, 580))
    assert isinstance(grey, tuple) and max(grey) < 120


def test_a_missing_tile_can_say_why() -> None:
    # A made but no longer downloadable image says so, not "failed".
    good = png(600, 600, (250, 250, 250))

    def middles(labels: list[str | None] | None) -> list[Image.Image]:
        grid = opened(compose_grid([good, None, None], max_bytes=10_000_000,
                                   failed_label="failed", labels=labels).data).convert("RGB")
        # The words are drawn across the middle of each tile (the number badge is top left).
        return [grid.crop((left + 100, 200, left + 500, 400))
                for left in (600 + GUTTER, 2 * (600 + GUTTER))]

    def apart(a: Image.Image, b: Image.Image) -> int:
        return max(high for _, high in ImageChops.difference(a, b).getextrema())

    assert apart(*middles([None, None, "unavailable"])) > 100  # other words
    assert apart(*middles(None)) < 40  # the same words (up to the encoding)


def test_the_smaller_encoding_wins_and_the_limit_holds() -> None:
    noisy = Image.effect_noise((900, 900), 80).convert("RGB")
    buffer = io.BytesIO()
    noisy.save(buffer, format="PNG")
    grid = compose_grid([buffer.getvalue()] * 4, max_bytes=150_000)
    assert len(grid.data) <= 150_000
    assert grid.format in ("WEBP", "PNG") and grid.extension in ("webp", "png")
    assert opened(grid.data).size == (grid.width, grid.height)


def test_unreadable_tiles_are_a_clean_error() -> None:
    with pytest.raises(GridError):
        compose_grid([b"not an image", png(10, 10, (0, 0, 0))], max_bytes=1_000_000)


GRID_PEAK = r'''
import io, resource
from PIL import Image
from bot.grid import compose_grid
buffer = io.BytesIO()
Image.new("RGBA", (4000, 4000), (1, 2, 3, 255)).save(buffer, "PNG", compress_level=9)
tile = buffer.getvalue()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
compose_grid([tile] * 4, max_bytes=10 * 1024 * 1024)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(len(tile), (after - before) // 1024)
'''


def test_four_largest_tiles_small_on_the_wire_stay_small_in_memory() -> None:
    # Four 16-megapixel PNGs of one colour are 70 kB each: decoded whole and side by side
    # they took 450 MB; two at a time, each shrunk before it is converted, far less.
    out = subprocess.run([sys.executable, "-c", GRID_PEAK], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    tile_bytes, grown_mb = map(int, out)
    assert tile_bytes < 100_000
    assert grown_mb < 300, f"peak RSS grew by {grown_mb} MB"
