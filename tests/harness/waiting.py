"""Waiting for state that announces nothing: poll a condition until it holds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

T = TypeVar("T")


async def eventually(
    condition: Callable[[], T | Awaitable[T | None] | None],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - the documented API
    interval: float = 0.01,
    what: str = "",
) -> T:
    """Call *condition* (plain or async) every *interval* seconds until it returns something
    true, and return that (never None). AssertionError (naming *what*) after *timeout*
    seconds.

    Prefer an event when the code under test offers one (``FakeDiscord.wait_for``,
    ``FakeGateway.wait_until``); this is for caches, databases and other processes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        answer = condition()
        result = await answer if isinstance(answer, Awaitable) else answer
        if result:
            return cast(T, result)
        if loop.time() >= deadline:
            raise AssertionError(f"not true within {timeout}s: {what or condition!r}")
        await asyncio.sleep(interval)
