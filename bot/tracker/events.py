"""What the tracker tells the rest of the bot: events, listeners, and the reply check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.jobs import JobRecord, JobStatus


@dataclass(frozen=True, slots=True)
class JobEvent:
    """A state change, already persisted.

    ``resumed``: announced after a restart (the interaction object is gone).
    ``announce``: False for a job whose interaction was never answered: the quota settles
    it, but nothing is shown in Discord (there is no reply to show it in).
    ``ended``: True on the one event of the write that ended the job, never on a later
    announcement of the same end (after a restart, a reconciliation or a takeover).
    """

    job: JobRecord
    resumed: bool = False
    #: queued: when the result is expected (Unix time), if it can be estimated.
    eta: float | None = None
    announce: bool = True
    ended: bool = False

    @property
    def status(self) -> JobStatus:
        """The job's status at the event."""
        return self.job.status


class JobListener(Protocol):
    """Anything that wants the tracker's job events (delivery, metrics, quota)."""

    async def on_job_event(self, event: JobEvent) -> None:
        """Handle one event; an exception is logged and does not stop the others."""


class ReplyConfirmer(Protocol):
    """After a restart: does the reply of a job that was never sent exist?

    ``await confirm(job)`` returns the reply's message id when Discord saw the command
    answered, or None when it did not (the process died between writing the job and
    answering), and raises when Discord cannot be asked now. Only jobs whose message id
    was never recorded are asked about.
    """

    async def __call__(self, job: JobRecord) -> int | None:
        """Return the reply's message id if it exists, else None."""
