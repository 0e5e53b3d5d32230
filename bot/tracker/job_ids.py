"""The jobs one half of the tracker is busy with, by id."""

from __future__ import annotations


class TrackedJobs:
    """A set of job ids the tracker asks about: how many, whether one is there, forget all.

    :class:`~bot.tracker.submission.Submissions` keeps the jobs whose submit runs;
    :class:`~bot.tracker.sync_calls.SyncCalls` those waiting for or in their call.
    """

    def __init__(self) -> None:
        self._job_ids: set[str] = set()

    @property
    def count(self) -> int:
        """How many jobs are tracked here."""
        return len(self._job_ids)

    def tracks(self, job_id: str) -> bool:
        """Tell whether the job is tracked here."""
        return job_id in self._job_ids

    def clear(self) -> None:
        """Forget every job (tasks, if any, are the tracker's to cancel)."""
        self._job_ids.clear()
