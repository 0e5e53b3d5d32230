"""A background job that runs every so often, owned and cancelled on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.owned_tasks import cancel_and_wait

log = logging.getLogger(__name__)


class PeriodicTask:
    """Runs ``action`` after ``first_delay`` seconds, then every ``interval`` seconds.

    A failed run is tried again at the next interval. A run of failures (a database down
    for an hour) is logged with its traceback once, then one line per failure, then one
    line when it works again.
    """

    def __init__(self, name: str, action: Callable[[], Awaitable[object]], *,
                 interval: float, first_delay: float | None = None) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.name = name
        self._action = action
        self._interval = interval
        self._first_delay = interval if first_delay is None else first_delay
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the loop is running."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop unless it is running."""
        if not self.running:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Stop the loop and wait for it to end."""
        task, self._task = self._task, None
        await cancel_and_wait([task])

    async def _loop(self) -> None:
        delay = self._first_delay
        failures = 0  # in a row
        while True:
            await asyncio.sleep(delay)
            delay = self._interval
            try:
                await self._action()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.exception("%s failed; trying again in %.0f s", self.name,
                                  self._interval)
                else:
                    log.warning("%s failed again (%s: %s; %d times in a row); trying again "
                                "in %.0f s", self.name, type(exc).__name__, exc, failures,
                                self._interval)
            else:
                if failures:
                    log.info("%s works again, after %d failed %s", self.name, failures,
                             "run" if failures == 1 else "runs")
                failures = 0
