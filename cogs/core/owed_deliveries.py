"""Final messages Discord refused for now, tried again soon.

A result (or a batch's grid) that Discord refused on every try, with a rate limit or an
error of its own (:attr:`~cogs.core.reply_sender.FinalSend.LATER`), stays owed: the
job is not marked delivered. Rather than leave the reply on "Making the image" until the
tracker's reconciliation (every few minutes), the delivery is tried again after each of
:data:`REDELIVERY_DELAYS`; past the last one the reconciliation keeps trying, and a
restart announces whatever is still owed. A graceful stop does not wait for these waits:
they are cancelled with the bot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.jobs import JobRecord
from bot.owned_tasks import OwnedTasks
from bot.tracker import JobEvent

log = logging.getLogger(__name__)

#: Seconds before each new try of an owed final message, in order.
REDELIVERY_DELAYS: tuple[float, ...] = (15.0, 45.0, 120.0)


class OwedDeliveries:
    """Schedules the next tries of final messages that are owed.

    ``load(job_id)`` reads a job from the store; ``deliver(event)`` announces it to the
    delivery again (only when it has ended and is still undelivered by then).
    """

    def __init__(self, load: Callable[[str], Awaitable[JobRecord | None]],
                 deliver: Callable[[JobEvent], Awaitable[None]]) -> None:
        self._load = load
        self._deliver = deliver
        self._tries: dict[str, int] = {}  # job or batch id → tries scheduled so far
        self._tasks = OwnedTasks()

    def owed(self, key: str, job_id: str) -> None:
        """The final message of ``key`` (a job id, or a batch id) was refused for now: try
        again later, through ``job_id`` (the job, or one of the batch)."""
        tries = self._tries.get(key, 0)
        if tries >= len(REDELIVERY_DELAYS):
            # Kept until it is settled: each reconciliation then makes one try, not a new
            # round of sooner ones.
            if tries == len(REDELIVERY_DELAYS):
                self._tries[key] = tries + 1
                log.info("Delivery of %s still refused: left to the reconciliation", key[:8])
            return
        self._tries[key] = tries + 1
        self._tasks.spawn(self._again(job_id, REDELIVERY_DELAYS[tries]),
                          f"redeliver-{key[:8]}")

    def settled(self, key: str) -> None:
        """The final message of ``key`` was sent, or refused for good: nothing is owed (also
        when another process delivers it: what is kept here is one number per job)."""
        self._tries.pop(key, None)

    @property
    def waiting(self) -> int:
        """How many tries are scheduled."""
        return len(self._tasks)

    async def _again(self, job_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            job = await self._load(job_id)
        except Exception:
            log.exception("Reading job %s for another delivery failed; the reconciliation "
                          "will try", job_id[:8])
            return
        if job is not None and job.status.terminal and job.delivered_at is None:
            await self._deliver(JobEvent(job=job, resumed=True))

    async def close(self) -> None:
        """Cancel the scheduled tries (a restart announces what is still owed)."""
        await self._tasks.cancel_all()
        self._tries.clear()
