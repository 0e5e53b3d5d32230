"""Writing down, within moments of the answer, which reply shows each job.

The launch path writes a job's row before Discord is answered, and learns the reply's
message id from Discord's answer to the deferral. Until that id is in the row, a restart
can tell whether the command was answered only by asking Discord with the interaction's
token, which works for 15 minutes; later, it could only drop the job, and its reply would
stay on "thinking…". So the ids are written soon after the answer: collected for
:data:`FLUSH_SECONDS`, then written in one transaction (under a burst, hundreds at once),
behind the commands being answered. Claiming the send writes the id again, as before.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from bot.tracker.core import JobTracker

log = logging.getLogger(__name__)

#: How long answered jobs' reply ids are collected before one write.
FLUSH_SECONDS: Final = 0.05


class ReplyIds:
    """The reply message ids the tracker was handed and has not written yet."""

    def __init__(self, tracker: JobTracker) -> None:
        self._tracker = tracker
        self._pending: dict[str, int] = {}
        self._flushing: asyncio.Task[None] | None = None

    def note(self, job_id: str, message_id: int) -> None:
        """Write ``message_id`` as ``job_id``'s reply soon (in a task the tracker owns)."""
        self._pending[job_id] = message_id
        if self._flushing is None:
            self._flushing = self._tracker.spawn(self._flush_soon(), "reply-ids")

    async def _flush_soon(self) -> None:
        try:
            await asyncio.sleep(FLUSH_SECONDS)
        finally:
            self._flushing = None
        await self.flush()

    async def flush(self) -> None:
        """Write every id noted so far (also at a graceful stop)."""
        pending, self._pending = self._pending, {}
        if pending:
            store = self._tracker.store
            await self._tracker.durable(lambda: store.record_replies(pending))
            log.debug("Wrote the reply ids of %d job(s)", len(pending))
