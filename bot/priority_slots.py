"""A bounded number of slots, with two classes of waiters: urgent ones are served first.

Used where some work must not queue behind less important work of the same kind: the
store's one connection (answering an interaction before the tracker's polls) and Discord
sends (a finished image before a progress edit).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from types import TracebackType


class PrioritySlots:
    """Like :class:`asyncio.Semaphore`, with ``acquire(urgent=True)`` jumping the queue.

    A release hands its slot directly to the next waiter (it never looks free in between),
    so a waiter that was woken cannot be overtaken by a newcomer. Within a class, waiters
    are served in arrival order.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._free = capacity
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        """How many tasks wait for a slot (urgent and normal)."""
        return sum(not f.done() for f in self._urgent) + sum(not f.done() for f in self._normal)

    def full(self) -> bool:
        """Whether every slot is taken."""
        return self._free == 0

    async def acquire(self, *, urgent: bool = False) -> None:
        """Take a slot, waiting behind every urgent waiter (and, if not urgent, every one)."""
        if self._free and not self._urgent and (urgent or not self._normal):
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._normal
        queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._hand_on()  # granted just as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(future)
            raise

    def release(self) -> None:
        """Give a slot back: to the first urgent waiter, else the first other one."""
        if self._free >= self._capacity:
            raise RuntimeError("release() without a slot taken")
        self._hand_on()

    def _hand_on(self) -> None:
        for queue in (self._urgent, self._normal):
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)  # the slot stays taken: it is now theirs
                    return
        self._free += 1

    def urgent(self) -> _Held:
        """``async with slots.urgent():`` — hold an urgent slot for the block."""
        return _Held(self, urgent=True)

    def normal(self) -> _Held:
        """``async with slots.normal():`` — hold a slot for the block, after urgent work."""
        return _Held(self, urgent=False)


class _Held:
    def __init__(self, slots: PrioritySlots, *, urgent: bool) -> None:
        self._slots = slots
        self._urgent = urgent

    async def __aenter__(self) -> None:
        await self._slots.acquire(urgent=self._urgent)

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self._slots.release()
