"""Every interaction's first answer, timed where it leaves the bot: discord.py's HTTP session.

Commands, buttons, menus, forms and autocomplete all answer through the interaction
callback route (``POST /interactions/{id}/{token}/callback``), so one aiohttp trace on the
session discord.py uses observes each of them once, whichever code answered. The time is
from the interaction's creation, which Discord writes into its id (a snowflake). A callback
Discord refused (10062, too late) is not an answer and is not observed.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Final

import aiohttp
import discord

from bot.metrics import observe_ack

#: The interaction callback route; the token (a secret) is matched, never kept.
CALLBACK_PATH: Final = re.compile(r"/interactions/(\d+)/[^/]+/callback$")


async def _on_request_end(session: aiohttp.ClientSession, context: SimpleNamespace,
                          params: aiohttp.TraceRequestEndParams) -> None:
    if params.method != "POST" or not 200 <= params.response.status < 300:
        return
    match = CALLBACK_PATH.search(params.url.path)
    if match is not None:
        observe_ack(discord.utils.snowflake_time(int(match[1])).timestamp())


def ack_trace() -> aiohttp.TraceConfig:
    """A trace for discord.py's session (``Client(http_trace=...)``) that times first answers."""
    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(_on_request_end)
    return trace
