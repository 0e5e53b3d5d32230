"""What hostile provider answers cost, with and without the bounds (prints a table).

    python -m bench.hostile_answers

- gzip bomb: a 0.41 MB gzip answer that inflates to 400 MB of valid JSON, read (a) the way
  the transport used to (aiohttp's own decompression, ``response.read()``) and (b) through
  today's capped transport; peak traced memory and time.
- trickle: a status answer sent one byte every 0.3 s (each byte well within the 1 s read
  timeout), read (a) with the read timeout alone and (b) by RunComfyClient with its
  overall call deadline (2 s here).

Everything runs against a server on 127.0.0.1 in this process.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx

from bot.providers.errors import ProviderError
from bot.providers.retry import RetryPolicy
from bot.providers.runcomfy import RunComfyClient
from bot.providers.transport import AiohttpTransport
from tests.hostile_provider import HostileProvider, json_bomb, raw, trickle


async def measure(action: Callable[[], Awaitable[Any]]) -> tuple[str, float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = await action()
        outcome = f"read {len(result) / 1e6:.0f} MB" if isinstance(result, bytes) else "ok"
    except (ProviderError, httpx.HTTPError) as exc:
        outcome = f"refused ({type(exc).__name__})"
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return outcome, peak / 1e6, elapsed


async def main() -> None:
    bomb = json_bomb(400)
    rows: list[tuple[str, str, str, float, float]] = []
    async with HostileProvider(raw(bomb, **{"Content-Encoding": "gzip"})) as server:
        async def unbounded() -> bytes:
            async with aiohttp.ClientSession() as session, \
                    session.get(server.url + "/status") as response:
                return await response.read()

        async def capped() -> bytes:
            async with httpx.AsyncClient(transport=AiohttpTransport()) as client:
                return (await client.get(server.url + "/status")).content

        for name, action in (("aiohttp read (before)", unbounded),
                             ("capped transport (now)", capped)):
            outcome, peak, elapsed = await measure(action)
            rows.append((f"gzip bomb {len(bomb) / 1e6:.2f} MB", name, outcome, peak, elapsed))

    body = b'{"status": "in_queue", "pad": "xxxx"}'[:20]
    async with HostileProvider(trickle(body, every=0.3)) as server:
        timeout = httpx.Timeout(5.0, read=1.0)

        async def read_timeout_only() -> bytes:
            async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=timeout) as c:
                return (await c.get(server.url + "/v1/requests/r-1/status")).content

        async def with_deadline() -> bytes:
            async with RunComfyClient(token="t", base_url=server.url, timeout=timeout,
                                      retry=RetryPolicy(attempts=1), call_deadline=2.0) as c:
                return repr(await c.status("r-1")).encode()

        for name, action in (("read timeout 1 s only (before)", read_timeout_only),
                             ("call deadline 2 s (now)", with_deadline)):
            outcome, peak, elapsed = await measure(action)
            rows.append((f"trickle {len(body)} B, 0.3 s/B", name, outcome, peak, elapsed))

    print(f"{'answer':<24} {'read by':<32} {'outcome':<30} {'peak MB':>8} {'seconds':>8}")
    for answer, name, outcome, peak, elapsed in rows:
        print(f"{answer:<24} {name:<32} {outcome:<30} {peak:>8.1f} {elapsed:>8.2f}")


if __name__ == "__main__":
    asyncio.run(main())
