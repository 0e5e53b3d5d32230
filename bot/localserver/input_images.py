"""Fetching the input image a reframe job names (its ``image`` URL).

:func:`download_input_image` is the one place the local server reaches out for an input
picture, through the bot's guarded downloader (:class:`bot.net.SafeFetcher`): only public
addresses, every redirect checked, a capped body and one deadline. Hosts the server is
told to trust (``LocalServerConfig.input_hosts``: in tests, the fake Discord on loopback)
are exempt, as the provider's own host is for the bot.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final

from bot.net import AllowList, FetchFailed, SafeFetcher

logger = logging.getLogger(__name__)

MAX_INPUT_IMAGE_BYTES: Final = 20 * 1024 * 1024
INPUT_FETCH_TIMEOUT: Final = 5.0
MAX_REDIRECTS: Final = 3


def new_input_fetcher(trusted_hosts: Iterable[str] = ()) -> SafeFetcher:
    """The downloader input images are fetched with (the caller closes it)."""
    return SafeFetcher(allow=AllowList.of(trusted_hosts), max_redirects=MAX_REDIRECTS)


async def download_input_image(fetcher: SafeFetcher, url: str) -> bytes | None:
    """The bytes at ``url`` (at most 20 MB, within 5 s in all), or None on any failure."""
    try:
        download = await fetcher.fetch(url, max_bytes=MAX_INPUT_IMAGE_BYTES,
                                       deadline=INPUT_FETCH_TIMEOUT)
    except FetchFailed as exc:
        logger.info("could not fetch input image %r: %s", url[:200], exc)
        return None
    return download.data
