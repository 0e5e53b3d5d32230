"""An httpx transport that sends requests with aiohttp.

httpx's own connection pool (httpcore on anyio) costs about 1.3–1.9 ms of CPU per request;
aiohttp does the same work in about 0.1 ms. The tracker makes thousands of status calls,
so the clients keep httpx's API (and its typed errors) and send through aiohttp.

Timeouts follow the request's ``httpx.Timeout`` (connect / read / pool) and failures are
raised as the matching httpx exceptions, so callers can still tell "never sent"
(``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``) from "sent, no answer"
(``ReadTimeout``, ``RemoteProtocolError``).

The body is read with a cap on its *decoded* size (:func:`bot.net.read_capped`, aiohttp's
own decompression off): an answer over ``max_body_bytes`` raises :class:`AnswerTooLarge`,
an undecodable one :class:`httpx.DecodingError`.
"""

from __future__ import annotations

import asyncio

import aiohttp
import httpx

from bot.net import ACCEPT_ENCODING, BodyError, BodyTooLarge, read_capped
from bot.providers.answers import MAX_ANSWER_BYTES


class AnswerTooLarge(httpx.DecodingError):
    """The answer's decoded body is over the transport's cap."""


def _client_timeout(request: httpx.Request) -> aiohttp.ClientTimeout:
    timeouts = request.extensions.get("timeout", {})
    return aiohttp.ClientTimeout(
        total=None,
        connect=timeouts.get("pool"),
        sock_connect=timeouts.get("connect"),
        sock_read=timeouts.get("read"),
    )


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session per transport; created lazily on the running loop."""

    def __init__(self, *, limit: int = 100, max_body_bytes: int = MAX_ANSWER_BYTES) -> None:
        self._limit = limit
        self.max_body_bytes = max_body_bytes
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit),
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through aiohttp and return httpx's response, body read and capped."""
        session = self._get_session()
        headers = [(k, v) for k, v in request.headers.multi_items()
                   if k.lower() not in ("host", "content-length", "transfer-encoding",
                                        "accept-encoding")]
        headers.append(("Accept-Encoding", ACCEPT_ENCODING))
        body = await request.aread()
        try:
            async with session.request(
                request.method, str(request.url), headers=headers, data=body or None,
                timeout=_client_timeout(request), allow_redirects=False,
            ) as response:
                try:
                    content = await read_capped(response, self.max_body_bytes)
                except BodyTooLarge as exc:
                    raise AnswerTooLarge(str(exc), request=request) from None
                except BodyError as exc:
                    raise httpx.DecodingError(str(exc), request=request) from None
                return httpx.Response(
                    status_code=response.status,
                    headers=[(k, v) for k, v in response.headers.items()
                             if k.lower() not in ("content-encoding", "transfer-encoding")],
                    content=content,
                    request=request,
                )
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from None
        except aiohttp.SocketTimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from None
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from None
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(f"connection failed ({type(exc).__name__})",
                                     request=request) from None
        except aiohttp.ServerDisconnectedError as exc:
            raise httpx.RemoteProtocolError(str(exc) or "server disconnected",
                                            request=request) from None
        except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            raise httpx.NetworkError(f"network error ({type(exc).__name__})",
                                     request=request) from None

    async def aclose(self) -> None:
        """Close the aiohttp session."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
