"""Fresh attachment links from Discord, for a reframe's source image that expires.

Discord's attachment links stop working about a day after they are handed out
(:mod:`bot.source_links`); ``POST /attachments/refresh-urls`` signs them anew. discord.py
has no method for it, so it goes through its HTTP client (its rate limits and retries).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
import discord
from discord.http import HTTPClient, Route

from bot.inputs import IMAGE_URL_MAX
from bot.source_links import same_attachment

log = logging.getLogger(__name__)


async def renew_attachment_link(http: HTTPClient, url: str) -> str | None:
    """A fresh link to the attachment ``url`` names; None when Discord gives none.

    Discord refuses links it did not sign, and gives nothing for an attachment whose
    message was deleted. The answer is checked: only a link to the same file is taken.
    """
    try:
        answer = await http.request(Route("POST", "/attachments/refresh-urls"),
                                    json={"attachment_urls": [url]})
    except discord.HTTPException as exc:
        log.info("Discord did not renew an attachment link: HTTP %s (code %s)", exc.status,
                 exc.code)
        return None
    except (aiohttp.ClientError, OSError) as exc:
        log.info("Could not reach Discord to renew an attachment link: %s",
                 type(exc).__name__)
        return None
    renewed = renewed_link(answer, url)
    if renewed is None:
        log.info("Discord's answer held no fresh link for the attachment")
    return renewed


def renewed_link(answer: Any, url: str) -> str | None:
    """The fresh link for ``url`` in an answer of ``POST /attachments/refresh-urls``.

    The answer is ``{"refreshed_urls": [{"original": ..., "refreshed": ...}]}``; anything
    else, or a link to another file, gives None.
    """
    entries = answer.get("refreshed_urls") if isinstance(answer, Mapping) else None
    if not isinstance(entries, list):
        return None
    mappings = [entry for entry in entries if isinstance(entry, Mapping)]
    matching = [entry for entry in mappings if entry.get("original") == url]
    for entry in matching or (mappings if len(mappings) == 1 else []):
        renewed = entry.get("refreshed")
        if (isinstance(renewed, str) and len(renewed) <= IMAGE_URL_MAX
                and same_attachment(url, renewed)):
            return renewed
    return None
