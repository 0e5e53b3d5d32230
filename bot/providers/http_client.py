"""The HTTP life cycle both provider clients share.

One ``httpx.AsyncClient`` per client object, sending through the aiohttp transport (which
caps the decoded answer's size), no redirects followed, and the secret only in its default
headers: never logged, never in a repr. ``async with`` closes it, or call :meth:`aclose`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Self

import httpx

from bot.providers.transport import AiohttpTransport

USER_AGENT: Final = "ideogram-discord-bot/0.1"


def check_secret(secret: str, what: str) -> None:
    """Refuse an empty secret or one with whitespace in it (a pasting mistake)."""
    if not secret or any(c.isspace() for c in secret):
        raise ValueError(f"{what} is empty or malformed")


def retry_after(response: httpx.Response) -> float | None:
    """The seconds an answer's ``Retry-After`` asks for (0 to an hour), if it names any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), 3600.0)
    except ValueError:
        return None


class ProviderHttpClient:
    """The connection pool, its headers and its closing, for a provider's client."""

    def __init__(
        self,
        *,
        base_url: str,
        secret_headers: Mapping[str, str],
        timeout: httpx.Timeout,
        call_deadline: float,
        transport: httpx.AsyncBaseTransport | None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if call_deadline <= 0:
            raise ValueError("call_deadline must be positive")
        self.base_url = base_url.rstrip("/")
        #: The most one try of one call may take in all, whatever the server trickles.
        self.call_deadline = float(call_deadline)
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport or AiohttpTransport(),
            headers={
                **secret_headers,
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} base_url={self.base_url!r}>"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._http.aclose()
