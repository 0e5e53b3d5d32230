"""Placeholder pictures: any prompt drawn legibly, with the shipped font and system fallbacks."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import threading
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageChops

from bot.localserver import LocalRunComfyServer, LocalServerConfig, images
from bot.localserver.caption_text import (
    BOX_ADVANCE,
    CaptionFont,
    TextRun,
    split_runs,
    wrap_lines,
)
from bot.localserver.glyph_fonts import (
    FallbackFonts,
    default_fonts,
    shipped_font_path,
    system_font_files,
)

ACCENTED = "Ünïcödé ãçè àéîõü ñ ß œ"
GREEK_AND_CYRILLIC = "Ελληνικά αβγ Кириллица жзи"
CJK = "夜の東京"
NO_FONT_HAS_IT = "\U0010fffd"  # a private-use code point of plane 16
SIZE = 40


def system_fonts_with(text: str, *, colour: bool = False) -> list[str]:
    """Files of installed fonts that have every character of ``text``, as fontconfig
    (independently of the code under test) sees them; skips without fontconfig."""
    if shutil.which("fc-list") is None:
        pytest.skip("fc-list is not installed, so the installed fonts cannot be checked")
    charset = " ".join(f"{ord(char):x}" for char in text)
    pattern = f":charset={charset}" + (":color=true" if colour else "")
    listing = subprocess.run(["fc-list", pattern, "file"], capture_output=True, text=True,
                             check=True, timeout=30).stdout
    return [line.rstrip(": ") for line in listing.splitlines() if line.strip()]


def drawn(text: str, size: int = SIZE) -> Image.Image:
    """``text`` drawn white on black, cropped to what was drawn."""
    font = CaptionFont(default_fonts(), size)
    image = Image.new("RGB", (int(font.width(text)) + 2 * size, 3 * size))
    font.draw(image, (size, size // 2), text, (255, 255, 255))
    return image


def colourful_pixels(image: Image.Image) -> int:
    """Pixels of strong saturation and some brightness (not white, grey or black)."""
    _hue, saturation, value = image.convert("HSV").split()
    strong = saturation.point(lambda level: 255 if level > 100 else 0)
    lit = value.point(lambda level: 255 if level > 60 else 0)
    return ImageChops.multiply(strong, lit).histogram()[255]


@pytest.mark.parametrize("text", [ACCENTED, GREEK_AND_CYRILLIC])
def test_the_shipped_font_has_every_glyph(text: str) -> None:
    with TTFont(shipped_font_path(), fontNumber=0, lazy=True) as font:
        cmap = font.getBestCmap()
    assert [char for char in text if ord(char) not in cmap] == []
    fonts = default_fonts()
    assert split_runs(text, fonts) == [TextRun(text, fonts.primary)]


def test_the_shipped_font_comes_from_a_package() -> None:
    path = shipped_font_path()
    package = distribution("fontpkg-noto-sans")
    installed = {Path(str(package.locate_file(file))).resolve() for file in package.files or []}
    assert path.is_file() and path.resolve() in installed
    assert default_fonts().primary.path == path


def test_cjk_is_drawn_with_a_system_font_when_one_is_installed() -> None:
    if not system_fonts_with(CJK):
        pytest.skip("no font with Chinese/Japanese characters is installed "
                    "(Debian: fonts-noto-cjk)")
    fonts = default_fonts()
    [run] = split_runs(CJK, fonts)
    assert run.face is not None and run.face != fonts.primary
    assert all(fonts.covers(run.face, ord(char)) for char in CJK)
    assert drawn(CJK).getbbox() is not None


def test_emoji_are_drawn_in_colour_when_a_colour_font_is_installed() -> None:
    if not system_fonts_with("😀", colour=True):
        pytest.skip("no colour emoji font is installed (Debian: fonts-noto-color-emoji)")
    fonts = default_fonts()
    runs = split_runs("ok 😀👍🏽❤️", fonts)
    # The variation selector the emoji font does not map draws nothing and is dropped.
    assert [run.text for run in runs] == ["ok ", "😀👍🏽❤"]
    assert runs[1].face is not None and runs[1].face.colour
    assert colourful_pixels(drawn("😀")) > 100


def test_a_character_no_font_has_is_a_box_and_invisible_ones_vanish() -> None:
    assert system_fonts_with(NO_FONT_HAS_IT) == []
    fonts = default_fonts()
    assert split_runs(f"a{NO_FONT_HAS_IT}b", fonts) == [
        TextRun("a", fonts.primary), TextRun(NO_FONT_HAS_IT, None), TextRun("b", fonts.primary),
    ]
    # A tag character (as in flag sequences) after a letter draws nothing and is dropped.
    assert split_runs("a\U000e0041b", fonts) == [TextRun("ab", fonts.primary)]
    font = CaptionFont(fonts, SIZE)
    assert font.width(NO_FONT_HAS_IT * 2) == pytest.approx(2 * BOX_ADVANCE * SIZE)
    box = drawn(NO_FONT_HAS_IT)
    left, top, right, bottom = box.getbbox() or (0, 0, 0, 0)
    assert right - left >= SIZE // 3 and bottom - top >= SIZE // 2
    assert box.getpixel(((left + right) // 2, (top + bottom) // 2)) == (0, 0, 0)  # hollow


def test_fallback_fonts_skip_unreadable_files_and_order_preferred_first(
    tmp_path: Path,
) -> None:
    for name in ("zz-Regular.ttf", "aa-Bold.ttf", "DejaVuSans.ttf", "notes.txt",
                 "NotoSansCJK-Regular.ttc"):
        (tmp_path / name).write_bytes(b"not a font")
    assert [path.name for path in system_font_files([tmp_path])] == [
        "NotoSansCJK-Regular.ttc", "DejaVuSans.ttf", "zz-Regular.ttf", "aa-Bold.ttf",
    ]
    fonts = FallbackFonts(shipped_font_path(), system_font_files([tmp_path]))
    assert fonts.face_for(ord("é")) == fonts.primary
    assert fonts.face_for(ord("夜")) is None


def test_long_prompts_wrap_within_the_width_and_end_with_an_ellipsis() -> None:
    font = CaptionFont(default_fonts(), SIZE)
    width = 600
    words = wrap_lines(" ".join(["Ünïcödé lighthouse"] * 200), font.width, width, 8)
    unspaced = wrap_lines(CJK * 500 + "a" * 3000, font.width, width, 8)
    for lines in (words, unspaced):
        assert len(lines) == 8 and lines[-1].endswith(" …")
        assert all(font.width(line) <= width for line in lines)
    assert wrap_lines("a lighthouse  at dusk", font.width, width, 8) == ["a lighthouse at dusk"]
    assert wrap_lines(" \n ", font.width, width, 8) == []
    assert wrap_lines("a" * 100, font.width, 1, 8)[0] == "a"  # one character at least


def test_a_picture_shows_the_prompt_in_the_caption_band() -> None:
    png = images.render_generate(f"{ACCENTED} {CJK}", (512, 512), seed=1)
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.size == (512, 512)
        band = picture.crop((0, 400, 512, 512)).convert("L")
        assert band.getextrema()[1] == 255  # white caption text is there


async def test_pictures_are_drawn_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    drawing_threads: list[int] = []
    real = images.render_generate

    def recording(*args: Any, **kwargs: Any) -> bytes:
        drawing_threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(images, "render_generate", recording)
    config = LocalServerConfig(queue_seconds=0, run_seconds=0)
    async with LocalRunComfyServer(config) as server:
        job = server.state.submit("ideogram/ideogram-v2/generate", {"prompt": ACCENTED})
        first, second = await asyncio.gather(server.state.pictures.image_for(job),
                                             server.state.pictures.image_for(job))
    assert first == second and first.startswith(b"\x89PNG")
    assert len(drawing_threads) == 1 and drawing_threads[0] != threading.get_ident()


def test_a_source_is_decoded_only_as_png_jpeg_or_webp(monkeypatch: pytest.MonkeyPatch) -> None:
    # PostScript named cat.png must never reach Ghostscript (Pillow's EPS decoder runs gs).
    from PIL import EpsImagePlugin

    ran: list[list[str]] = []

    def check_call(command: list[str], **kwargs: Any) -> int:
        ran.append(command)
        raise OSError("no Ghostscript in a test")

    monkeypatch.setattr(EpsImagePlugin, "gs_binary", "gs")
    monkeypatch.setattr(EpsImagePlugin.subprocess, "check_call", check_call)
    postscript = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 48\nshowpage\n"
    assert images.decode_source(postscript) is None and ran == []
    tiff = io.BytesIO()
    Image.new("RGB", (8, 8)).save(tiff, "TIFF")
    assert images.decode_source(tiff.getvalue()) is None
    for kind in ("PNG", "JPEG", "WEBP"):
        encoded = io.BytesIO()
        Image.new("RGB", (8, 8), (200, 30, 0)).save(encoded, kind)
        decoded = images.decode_source(encoded.getvalue())
        assert decoded is not None and decoded.size == (8, 8)


def test_a_broken_source_becomes_the_placeholder() -> None:
    # Pillow raises SyntaxError for some broken PNGs (here an IDAT chunk of length 0).
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 0)).save(buffer, "PNG")
    broken = bytearray(buffer.getvalue())
    broken[36] = 0
    assert images.decode_source(bytes(broken)) is None
    with Image.open(io.BytesIO(images.render_reframe(bytes(broken), (64, 48),
                                                     resolution="64:48"))) as picture:
        assert picture.size == (64, 48)


def test_pictures_draw_the_prompt_numbers_and_symbols_but_no_words_of_their_own(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The one who sees a picture may read any language: besides the prompt (or the new
    resolution), only the model, the size, the seed and a crossed-out frame for a reframe
    whose source is missing."""
    written: list[str] = []
    real_draw = CaptionFont.draw

    def recording(font: CaptionFont, image: Image.Image, origin: Any, text: str,
                  *args: Any) -> Any:
        written.append(text)
        return real_draw(font, image, origin, text, *args)

    monkeypatch.setattr(CaptionFont, "draw", recording)
    images.render_generate(f"un phare {ACCENTED}", (512, 384), seed=42, style="realistic")
    assert written == [f"un phare {ACCENTED}", "ideogram-v2 · 512×384 · #42"]
    written.clear()
    size = (300, 200)
    with Image.open(io.BytesIO(images.render_reframe(None, size, resolution="1152:864 (4:3)",
                                                     seed=3))) as missing:
        assert written == ["1152:864 (4:3)", "ideogram-v3 · #3"]
        centre = missing.convert("L").crop((145, 95, 155, 105))  # where the cross meets
        assert centre.getextrema()[1] > 200
