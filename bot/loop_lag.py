"""How far behind the event loop runs: a busy bot refuses new commands at once.

A command must be answered within Discord's 3 seconds. When the loop itself is late by
more than a second and a half, a command that still goes through the whole launch path
would likely be answered too late; it is better refused at once, with a short "busy, try
again in a few seconds". :class:`LoopLagMonitor` measures the lag with a task that sleeps
a fixed interval and notes how late it wakes up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final

from bot.owned_tasks import cancel_and_wait

log = logging.getLogger(__name__)

#: The loop lag above which new commands are refused as "busy".
BUSY_LAG_SECONDS: Final = 1.5


class LoopLagMonitor:
    """Measures how late the event loop runs its callbacks, to shed load when busy."""

    def __init__(self, *, interval: float = 0.1, threshold: float = BUSY_LAG_SECONDS,
                 hold: float = 1.0) -> None:
        self._interval = interval
        self._threshold = threshold
        self._hold = hold  # how long a high reading keeps counting
        self._lag = 0.0
        self._high_until = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def lag(self) -> float:
        """The lag measured last (seconds)."""
        return self._lag

    @property
    def busy(self) -> bool:
        """True while the loop lagged past the threshold within the last ``hold`` seconds."""
        return time.monotonic() < self._high_until

    def start(self) -> None:
        """Start measuring (once; a second call does nothing)."""
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="loop-lag-monitor")

    async def stop(self) -> None:
        """Stop measuring and wait for the measuring task to end."""
        task, self._task = self._task, None
        await cancel_and_wait([task])

    def observe(self, lag: float) -> None:
        """Record one measurement (the monitor's own, or a caller's)."""
        self._lag = lag
        if lag > self._threshold:
            if not self.busy:
                log.warning("Event loop %.1fs behind: refusing new commands for a moment", lag)
            self._high_until = time.monotonic() + self._hold

    async def _watch(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self._interval)
            self.observe(max(0.0, time.monotonic() - before - self._interval))
