"""The store's connection lock: one slot, urgent waiters served first, then soon ones.

The store has one connection and serialises its use with this lock. Answering an
interaction (the quota decision and the job row, written before Discord's 3-second limit)
takes it as *urgent*, so it waits at most for the one operation in progress, never behind
a queue of the tracker's polls and writes. Store work done inside
:func:`ahead_of_routine` comes next: the claim of a submit and the request id it got, both
written while it holds one of the provider's few submit slots, so that those slots do not
sit idle while a burst's writes queue for the connection. Within a class, waiters are
served in order, and a stream of such work lets routine work through every few grants
(:data:`~bot.priority_slots.SOON_IN_A_ROW`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from bot.priority_slots import PrioritySlots

_SOON: ContextVar[bool] = ContextVar("store_soon", default=False)


@contextlib.contextmanager
def ahead_of_routine() -> Iterator[None]:
    """Store work in the block goes ahead of routine work (after urgent work)."""
    token = _SOON.set(True)
    try:
        yield
    finally:
        _SOON.reset(token)


class PriorityLock(PrioritySlots):
    """Like :class:`asyncio.Lock`, with ``acquire(urgent=True)`` jumping the queue.

    Inside :func:`ahead_of_routine`, an acquire that is not urgent jumps it too, behind the
    urgent waiters.
    """

    def __init__(self) -> None:
        super().__init__(1)

    async def acquire(self, *, urgent: bool = False, soon: bool = False) -> None:
        """Take the lock (:meth:`PrioritySlots.acquire`); soon in :func:`ahead_of_routine`."""
        await super().acquire(urgent=urgent, soon=soon or _SOON.get())

    def locked(self) -> bool:
        """Whether the lock is held."""
        return self.full()
