"""A tiny provider on 127.0.0.1 that answers whatever a test scripts: hostile bodies,
trickles, gzip bombs, echoed credentials. Used by the provider hardening and fuzz tests."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from tests.helpers import serve_on_loopback

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_bomb(megabytes: int, head: bytes = b'{"status": "in_queue"') -> bytes:
    """A gzip body that is valid JSON once inflated: ``head``, ``megabytes`` MB of spaces,
    then ``}``. 64 MB of spaces pack into about 65 KB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    spaces = b" " * (1 << 20)
    parts = [packer.compress(head), *(packer.compress(spaces) for _ in range(megabytes)),
             packer.compress(b"}"), packer.flush()]
    return b"".join(parts)


def raw(body: bytes, status: int = 200, /, **headers: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status,
                            headers={"Content-Type": "application/json", **headers})
    return handle


def trickle(body: bytes, every: float) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            for byte in body:
                await response.write(bytes([byte]))
                await asyncio.sleep(every)
        except ConnectionResetError:  # the client gave up, as it should
            pass
        return response
    return handle


@dataclass
class HostileProvider:
    handler: Handler = field(default=raw(b"{}"))
    url: str = ""
    requests: list[web.Request] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> HostileProvider:
        async def dispatch(request: web.Request) -> web.StreamResponse:
            self.requests.append(request)
            return await self.handler(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", dispatch)
        self._runner, self.url = await serve_on_loopback(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
