"""Outgoing HTTP with limits: where the bot may connect, how much it reads, how long."""

from bot.net.addresses import AllowList, is_public_address
from bot.net.bodies import ACCEPT_ENCODING, BodyError, BodyTooLarge, read_capped
from bot.net.fetcher import FETCH_FAILED, Download, FetchFailed, SafeFetcher

__all__ = [
    "ACCEPT_ENCODING",
    "FETCH_FAILED",
    "AllowList",
    "BodyError",
    "BodyTooLarge",
    "Download",
    "FetchFailed",
    "SafeFetcher",
    "is_public_address",
    "read_capped",
]
