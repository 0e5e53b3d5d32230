"""Fetching the input image a reframe job names (its ``image`` URL).

:func:`download_input_image` is the one place the local server reaches out for an input
picture: swap it for a guarded downloader to change how (and from where) it may fetch.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import httpx

logger = logging.getLogger(__name__)

MAX_INPUT_IMAGE_BYTES: Final = 20 * 1024 * 1024
INPUT_FETCH_TIMEOUT: Final = 5.0
MAX_REDIRECTS: Final = 3


def new_input_client() -> httpx.AsyncClient:
    """The HTTP client input images are fetched with (the caller closes it)."""
    return httpx.AsyncClient(
        timeout=INPUT_FETCH_TIMEOUT, follow_redirects=True, max_redirects=MAX_REDIRECTS,
    )


async def download_input_image(client: httpx.AsyncClient, url: str) -> bytes | None:
    """The bytes at ``url`` (at most 20 MB, within 5 s in all), or None on any failure."""
    try:
        async with asyncio.timeout(INPUT_FETCH_TIMEOUT):
            return await _read_capped(client, url)
    except (TimeoutError, httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        logger.info("could not fetch input image %r: %s", url[:200], exc)
        return None


async def _read_capped(client: httpx.AsyncClient, url: str) -> bytes | None:
    async with client.stream("GET", url) as response:
        if response.status_code != 200:
            logger.info("input image %r answered %s", url[:200], response.status_code)
            return None
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_INPUT_IMAGE_BYTES:
            return None
        chunks: list[bytes] = []
        total = 0
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if total > MAX_INPUT_IMAGE_BYTES:
                return None
            chunks.append(chunk)
        return b"".join(chunks)
