"""The store's connection lock: one slot, urgent waiters served first.

The store has one connection and serialises its use with this lock. Answering an
interaction (the quota decision and the job row, written before Discord's 3-second limit)
takes it as *urgent*, so it waits at most for the one operation in progress, never behind
a queue of the tracker's polls and writes. Within a class, waiters are served in order.
"""

from __future__ import annotations

from bot.priority_slots import PrioritySlots


class PriorityLock(PrioritySlots):
    """Like :class:`asyncio.Lock`, with ``acquire(urgent=True)`` jumping the queue."""

    def __init__(self) -> None:
        super().__init__(1)

    def locked(self) -> bool:
        """Whether the lock is held."""
        return self.full()
