"""Downloading a result image: timeout, size cap, and it must decode as an image.

Decoding runs in a worker thread so the event loop never blocks on Pillow.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass

import httpx
from PIL import Image, UnidentifiedImageError

MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024
_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}


class ImageFetchError(Exception):
    """The image could not be fetched or is not an image. ``str`` is safe to show."""


@dataclass(frozen=True, slots=True)
class FetchedImage:
    data: bytes
    format: str  # PNG, JPEG, WEBP
    width: int
    height: int

    @property
    def extension(self) -> str:
        return _EXTENSIONS.get(self.format, "png")


def _inspect(data: bytes) -> tuple[str, int, int]:
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, size = img.format or "", img.size
            img.verify()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageFetchError("the file is not a readable image") from exc
    if fmt not in _EXTENSIONS:
        raise ImageFetchError(f"unsupported image format {fmt or 'unknown'}")
    return fmt, size[0], size[1]


async def decode_image(data: bytes) -> FetchedImage:
    fmt, width, height = await asyncio.to_thread(_inspect, data)
    return FetchedImage(data=data, format=fmt, width=width, height=height)


async def fetch_image(
    client: httpx.AsyncClient, url: str, *, max_bytes: int = MAX_DOWNLOAD_BYTES,
    time_limit: float = 60.0,
) -> FetchedImage:
    """GET ``url`` (http/https only) with a total time limit and a size cap, then decode it."""
    if not url.startswith(("https://", "http://")):
        raise ImageFetchError("the image address is not a web address")
    try:
        async with asyncio.timeout(time_limit), client.stream("GET", url) as response:
            if response.status_code != 200:
                raise ImageFetchError(f"the image server answered HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise ImageFetchError("the image is larger than the bot accepts")
            chunks: list[bytes] = []
            total = 0
            async for chunk in response.aiter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise ImageFetchError("the image is larger than the bot accepts")
                chunks.append(chunk)
    except TimeoutError:
        raise ImageFetchError("downloading the image took too long") from None
    except httpx.HTTPError as exc:
        raise ImageFetchError(f"downloading the image failed ({type(exc).__name__})") from None
    return await decode_image(b"".join(chunks))
