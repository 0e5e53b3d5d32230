"""Downloading an image (through :class:`bot.net.SafeFetcher`) and checking that it is one.

Decoding runs in a worker thread so the event loop never blocks on Pillow. Only PNG,
JPEG, WebP and GIF are opened, at most :data:`MAX_PIXELS` pixels, and any exception from
the decoder (``SyntaxError`` for a bad PNG checksum included) is a clean refusal.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import Final

from PIL import Image

from bot.net import FETCH_FAILED, FetchFailed, SafeFetcher

MAX_DOWNLOAD_BYTES: Final = 50 * 1024 * 1024
#: The most pixels an image may have. Ideogram's largest output is about 2.4 million
#: (1536 × 1536); this leaves room, and bounds what one decode holds (64 MB in RGBA).
MAX_PIXELS: Final = 16_000_000
_EXTENSIONS: Final = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}
#: The formats a result image is decoded as: no other Pillow decoder ever runs on one.
RESULT_FORMATS: Final = tuple(_EXTENSIONS)
#: The one text users see for any download or decode failure.
IMAGE_FETCH_FAILED: Final = FETCH_FAILED


class ImageFetchError(Exception):
    """The image could not be fetched or is not an acceptable image.

    ``str`` is a detail for the log (it may name a status or an address); show users
    :data:`IMAGE_FETCH_FAILED` instead.
    """

    user_message = IMAGE_FETCH_FAILED


@dataclass(frozen=True, slots=True)
class FetchedImage:
    """A downloaded image, checked: its bytes, format and size."""

    data: bytes
    format: str  # PNG, JPEG, WEBP, GIF
    width: int
    height: int

    @property
    def extension(self) -> str:
        """The file extension of its format (``png`` when unknown)."""
        return _EXTENSIONS.get(self.format, "png")


def _inspect(data: bytes) -> tuple[str, int, int]:
    try:
        with Image.open(io.BytesIO(data), formats=RESULT_FORMATS) as img:
            fmt, (width, height) = img.format or "", img.size
            if width * height > MAX_PIXELS:
                raise ImageFetchError(f"{width}×{height} is over {MAX_PIXELS} pixels")
            img.verify()
    except ImageFetchError:
        raise
    except Exception as exc:  # any decoder failure: SyntaxError, OSError, struct.error…
        raise ImageFetchError(f"not a readable image ({type(exc).__name__})") from None
    if fmt not in _EXTENSIONS:
        raise ImageFetchError(f"unsupported image format {fmt or 'unknown'}")
    return fmt, width, height


async def decode_image(data: bytes) -> FetchedImage:
    """Read an image's format and size, off the event loop.

    Raises:
        ImageFetchError: not a readable image of a supported format, or too many pixels.
    """
    fmt, width, height = await asyncio.to_thread(_inspect, data)
    return FetchedImage(data=data, format=fmt, width=width, height=height)


async def fetch_image(fetcher: SafeFetcher, url: str, *, max_bytes: int = MAX_DOWNLOAD_BYTES,
                      time_limit: float = 60.0) -> FetchedImage:
    """Download an image and check that it decodes.

    Download ``url`` under the fetcher's rules, with a deadline and a size cap, then
    check that it decodes as an image.
    """
    try:
        download = await fetcher.fetch(url, max_bytes=max_bytes, deadline=time_limit)
    except FetchFailed as exc:
        raise ImageFetchError(str(exc)) from None
    return await decode_image(download.data)
