"""The aiohttp-backed httpx transport keeps httpx's behaviour and error types."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from bot.providers.transport import AiohttpTransport
from tests.helpers import free_port, serve_on_loopback


@pytest.fixture
async def echo() -> AsyncIterator[str]:
    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/slow":
            await asyncio.sleep(1.0)
        if request.path == "/gzip":
            body = gzip.compress(b'{"packed": true}')
            return web.Response(body=body, headers={"Content-Encoding": "gzip",
                                                    "Content-Type": "application/json"})
        payload = {"method": request.method, "path": request.path_qs,
                   "auth": request.headers.get("Authorization"),
                   "body": (await request.read()).decode()}
        return web.Response(text=json.dumps(payload), status=201,
                            headers={"X-Reply": "yes", "Content-Type": "application/json"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner, url = await serve_on_loopback(app)
    yield url
    await runner.cleanup()


async def test_round_trip(echo: str) -> None:
    async with httpx.AsyncClient(base_url=echo, transport=AiohttpTransport(),
                                 headers={"Authorization": "Bearer t0k"}) as client:
        response = await client.post("/v1/x?include_cost=true", json={"a": 1})
        assert response.status_code == 201
        assert response.headers["x-reply"] == "yes"
        body = response.json()
        assert body == {"method": "POST", "path": "/v1/x?include_cost=true",
                        "auth": "Bearer t0k", "body": '{"a":1}'}
        packed = await client.get("/gzip")
        assert packed.json() == {"packed": True}


async def test_read_timeout_is_httpx_read_timeout(echo: str) -> None:
    async with httpx.AsyncClient(base_url=echo, transport=AiohttpTransport(),
                                 timeout=httpx.Timeout(5.0, read=0.2)) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/slow")


async def test_refused_connection_is_connect_error() -> None:
    port = free_port()
    async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/")
