"""A bounded number of slots, with three classes of waiters: urgent, soon, then the rest.

Used where some work must not queue behind less important work of the same kind: the
store's one connection (answering an interaction first, then the writes of a send to the
provider, before the tracker's other work) and Discord sends (a finished image before a
progress edit).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from types import TracebackType

#: Soon waiters served in a row while others of the last class wait, before one of those
#: gets a turn: soon work goes first, but a stream of it never shuts the rest out.
SOON_IN_A_ROW = 4


class PrioritySlots:
    """Like :class:`asyncio.Semaphore`, with ``acquire(urgent=True)`` jumping the queue.

    ``acquire(soon=True)`` jumps it too, behind the urgent waiters.

    A release hands its slot directly to the next waiter (it never looks free in between),
    so a waiter that was woken cannot be overtaken by a newcomer. Within a class, waiters
    are served in arrival order. Urgent waiters always go first; after
    :data:`SOON_IN_A_ROW` soon ones in a row, a waiting normal one gets a turn.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._free = capacity
        # One queue per class, the first served first: urgent, soon, normal.
        self._queues: tuple[deque[asyncio.Future[None]], ...] = (deque(), deque(), deque())
        self._soon_in_a_row = 0

    @property
    def waiting(self) -> int:
        """How many tasks wait for a slot (of every class)."""
        return sum(not f.done() for queue in self._queues for f in queue)

    def full(self) -> bool:
        """Whether every slot is taken."""
        return self._free == 0

    async def acquire(self, *, urgent: bool = False, soon: bool = False) -> None:
        """Take a slot, waiting behind every waiter of its class and of the classes before."""
        rank = 0 if urgent else 1 if soon else 2
        if self._free and not any(self._queues[: rank + 1]):
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._queues[rank]
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
        """Give a slot back: to the first waiter of the first class that has one."""
        if self._free >= self._capacity:
            raise RuntimeError("release() without a slot taken")
        self._hand_on()

    def _hand_on(self) -> None:
        urgent, soon, normal = self._queues
        order = ((urgent, normal, soon) if self._soon_in_a_row >= SOON_IN_A_ROW
                 else self._queues)
        for queue in order:
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)  # the slot stays taken: it is now theirs
                    if queue is soon:
                        self._soon_in_a_row += 1
                    elif queue is normal:
                        self._soon_in_a_row = 0
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
