"""An asyncio lock with two classes of waiters: urgent ones are served first.

The store has one connection and serialises its use with this lock. Answering an
interaction (the quota decision and the job row, written before Discord's 3-second limit)
takes it as *urgent*, so it waits at most for the one operation in progress, never behind
a queue of the tracker's polls and writes. Within a class, waiters are served in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class PriorityLock:
    """Like :class:`asyncio.Lock`, with ``acquire(urgent=True)`` jumping the queue.

    Release hands the lock directly to the next waiter (it never looks free in between),
    so a waiter that was woken cannot be overtaken by a newcomer.
    """

    def __init__(self) -> None:
        self._locked = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        """Whether a task holds the lock."""
        return self._locked

    @property
    def waiting(self) -> int:
        """How many tasks wait for the lock (urgent and normal)."""
        return sum(not f.done() for f in self._urgent) + sum(not f.done() for f in self._normal)

    async def acquire(self, *, urgent: bool = False) -> None:
        """Wait for the lock; urgent waiters are served before the others."""
        if not self._locked and not self._urgent and (urgent or not self._normal):
            self._locked = True
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
        """Hand the lock to the next waiter (urgent first), or free it.

        Raises:
            RuntimeError: the lock is not held.
        """
        if not self._locked:
            raise RuntimeError("PriorityLock.release() called on an unlocked lock")
        self._hand_on()

    def _hand_on(self) -> None:
        for queue in (self._urgent, self._normal):
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)  # the lock stays held: it is now theirs
                    return
        self._locked = False
