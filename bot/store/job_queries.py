"""The store's job queries: write, read, history, the queue, batches and retention."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.jobs import UNFINISHED_STATUSES, JobRecord, JobStatus
from bot.store.engine import StoreEngine
from bot.store.records import (
    JOB_ENDED_TOPIC,
    JOB_FIELDS,
    TERMINAL_STATUSES,
    JobNotFoundError,
    job_to_params,
    row_to_job,
    statuses_json,
)

_JOB_MUTABLE_FIELDS: frozenset[str] = frozenset(JOB_FIELDS) - {"id"}


class JobQueries(StoreEngine):
    """Jobs: every query on the ``jobs`` table."""

    # ------------------------------------------------------------------ jobs

    async def insert_job(self, job: JobRecord) -> JobRecord:
        """Write a new job row. Raises the engine's integrity error if the id exists."""
        await self._execute(self._sql.INSERT_JOB, job_to_params(job))
        return job

    async def insert_jobs(self, jobs: Sequence[JobRecord]) -> None:
        """Write several new job rows with one statement (inside a transaction, they join it).

        Raises the engine's integrity error if an id exists.
        """
        if not jobs:
            return
        await self._executemany(self._sql.INSERT_JOB, [job_to_params(j) for j in jobs])

    async def get_job(self, job_id: str, *, urgent: bool = False) -> JobRecord | None:
        """The job, or None. ``urgent``: before an interaction's answer (see ``transaction``)."""
        row = await self._fetchone(self._sql.SELECT_JOB, (job_id,), urgent=urgent)
        return None if row is None else row_to_job(row)

    @staticmethod
    def _job_changes(fields: dict[str, Any]) -> dict[str, Any]:
        """Checked and converted column values for an UPDATE of some job fields."""
        unknown = set(fields) - _JOB_MUTABLE_FIELDS
        if unknown:
            raise ValueError(f"cannot update job field(s): {', '.join(sorted(unknown))}")
        changes = dict(fields)
        if "status" in changes:
            changes["status"] = JobStatus(changes["status"]).value
        if "result_urls" in changes:
            changes["result_urls"] = json.dumps(list(changes["result_urls"]), ensure_ascii=False)
        if "inputs" in changes:
            changes["inputs"] = json.dumps(changes["inputs"], ensure_ascii=False)
        changes.setdefault("updated_at", time.time())
        return changes

    async def update_job(self, job_id: str, **fields: Any) -> JobRecord:
        """Change some fields of a job (and ``updated_at``); return the new record.

        Raises ``ValueError`` for a name that is not a ``JobRecord`` field (or is ``id``)
        and ``JobNotFoundError`` when there is no such job.
        """
        changes = self._job_changes(fields)
        statement = self._sql.update_job_columns(tuple(sorted(changes)), if_status_in=False)
        row = await self._fetchone(statement, {**changes, "id": job_id})
        if row is None:
            raise JobNotFoundError(f"no job with id {job_id!r}")
        return row_to_job(row)

    async def transition_job(
        self, job_id: str, expected: Iterable[JobStatus | str], **fields: Any
    ) -> JobRecord | None:
        """Compare-and-set: apply ``fields`` only if the job's status is in ``expected``.

        Returns the new record, or None when the job is missing or in another status
        (e.g. a second attempt to write a terminal state). One statement, so it is atomic
        without an explicit transaction.
        """
        if isinstance(expected, str):  # a single JobStatus is a str: don't iterate its chars
            expected = (expected,)
        return await self._compare_and_set(job_id, expected, fields)

    async def end_for_follower(self, job_id: str, expected: Iterable[JobStatus | str],
                               **fields: Any) -> JobRecord | None:
        """:meth:`transition_job` to an end, and tell the process that follows the job.

        For an end made where the job is not followed (a cancel asked of another process
        than its own, which shows the end): the follower stops following the job and drops
        the edits it scheduled. The notice goes out only if the change commits.
        """
        async with self.transaction():
            ended = await self.transition_job(job_id, expected, **fields)
            if ended is not None:
                await self._changed(JOB_ENDED_TOPIC, job_id)
        return ended

    async def mark_submitting(self, job_id: str, **fields: Any) -> JobRecord | None:
        """Claim the one send of a ``pending`` job, or None when it must not be sent.

        Applies ``fields`` (``submitting_at`` among them) only if the job is still pending
        and no send was started; None when the job ended, or another process (or task) has
        started sending it.
        """
        if "submitting_at" not in fields:
            raise ValueError("mark_submitting sets submitting_at")
        return await self._compare_and_set(job_id, [JobStatus.PENDING], fields, if_unsent=True)

    async def record_replies(self, replies: Mapping[str, int]) -> None:
        """Write each job's reply message id (job id → message id), in one transaction.

        A job that has one already keeps it.
        """
        async with self.transaction():
            await self._executemany(self._sql.SET_REPLY_MESSAGE,
                                    [(message_id, job_id) for job_id, message_id
                                     in replies.items()])

    async def end_unsent(self, job_id: str, **fields: Any) -> JobRecord | None:
        """End a job that was never sent, if no send was started yet.

        Applies ``fields`` (its terminal status among them) only if the job is still pending
        and unsent. None when the job ended meanwhile, or a process (after a lease takeover, another
        one) has started sending it: then it is not this caller's to end.
        """
        return await self._compare_and_set(job_id, [JobStatus.PENDING], fields, if_unsent=True)

    async def _compare_and_set(self, job_id: str, expected: Iterable[JobStatus | str],
                               fields: dict[str, Any], *,
                               if_unsent: bool = False) -> JobRecord | None:
        allowed = frozenset(JobStatus(s) for s in expected)
        changes = self._job_changes(fields)
        statement = self._sql.update_job_columns(tuple(sorted(changes)), if_status_in=True,
                                                 if_unsent=if_unsent)
        row = await self._fetchone(
            statement, {**changes, "id": job_id, "expected": statuses_json(allowed)})
        return None if row is None else row_to_job(row)

    async def unfinished_jobs(self) -> list[JobRecord]:
        """Jobs still pending, queued or running, oldest first (to resume after a restart)."""
        rows = await self._fetchall(
            self._sql.SELECT_JOBS_IN_STATUSES, (statuses_json(UNFINISHED_STATUSES),)
        )
        return [row_to_job(row) for row in rows]

    async def undelivered_finished_jobs(self) -> list[JobRecord]:
        """Jobs in a terminal status whose outcome was never delivered, oldest first."""
        rows = await self._fetchall(
            self._sql.SELECT_UNDELIVERED_JOBS_IN_STATUSES, (statuses_json(TERMINAL_STATUSES),)
        )
        return [row_to_job(row) for row in rows]

    async def jobs_for_user(
        self, guild_id: int | None, user_id: int, limit: int = 10, offset: int = 0
    ) -> list[JobRecord]:
        """A member's jobs in a guild, newest first, deleted ones too.

        For tests and tools; /history shows :meth:`visible_jobs_for_user`.
        """
        rows = await self._fetchall(self._sql.SELECT_JOBS_FOR_USER,
                                    (guild_id, user_id, limit, offset))
        return [row_to_job(row) for row in rows]

    async def jobs_for_guild(
        self, guild_id: int | None, limit: int | None = 50, offset: int = 0
    ) -> list[JobRecord]:
        """A guild's jobs, newest first; ``limit=None`` returns them all.

        For tests and tools; the CSV export pages with :meth:`guild_jobs_after`.
        """
        rows = await self._fetchall(
            self._sql.SELECT_JOBS_FOR_GUILD, (guild_id, -1 if limit is None else limit, offset)
        )
        return [row_to_job(row) for row in rows]

    async def recent_durations(self, model: str, limit: int = 20) -> list[tuple[float, float]]:
        """(queue seconds, run seconds) of the latest completed jobs of ``model``, newest first."""
        rows = await self._fetchall(
            self._sql.SELECT_RECENT_DURATIONS, (model, JobStatus.COMPLETED.value, limit)
        )
        return [(float(row[0]), float(row[1])) for row in rows]

    # ------------------------------------------------------------------ history, queue, retention

    async def jobs_by_prefix(self, guild_id: int | None, prefix: str) -> list[JobRecord]:
        """Return up to two jobs of a guild (None: DMs) whose id starts with ``prefix``.

        None, one, or an ambiguous pair (the caller should ask for more characters).
        Like the other reads for ``/history``, ``/queue`` and ``/job``, it answers a member
        waiting on Discord's 3 seconds, so it goes ahead of the tracker's work (``urgent``).
        """
        prefix = prefix.strip().lower()
        if not prefix:
            return []
        rows = await self._fetchall(self._sql.SELECT_JOBS_BY_PREFIX,
                                    (guild_id, len(prefix), prefix), urgent=True)
        return [row_to_job(row) for row in rows]

    async def visible_jobs_for_user(
        self, guild_id: int | None, user_id: int, limit: int = 10, offset: int = 0
    ) -> list[JobRecord]:
        """A member's jobs that were not deleted, newest first (``/history``)."""
        rows = await self._fetchall(
            self._sql.SELECT_VISIBLE_JOBS_FOR_USER, (guild_id, user_id, limit, offset),
            urgent=True)
        return [row_to_job(row) for row in rows]

    async def count_visible_jobs_for_user(self, guild_id: int | None, user_id: int) -> int:
        """Return how many jobs ``/history`` shows a member (deleted ones left out)."""
        row = await self._fetchone(self._sql.COUNT_VISIBLE_JOBS_FOR_USER, (guild_id, user_id),
                                   urgent=True)
        return int(row[0]) if row is not None else 0

    async def guild_jobs_after(
        self, guild_id: int | None, after: tuple[float, str] | None, limit: int = 500
    ) -> list[JobRecord]:
        """Return a guild's next ``limit`` jobs after the last one seen, oldest first.

        The next ``limit`` jobs of a guild, oldest first, after ``(created_at, id)`` of
        the last one seen (None: from the first). Keyset paging for exports.
        """
        created_at, job_id = after if after is not None else (None, None)
        rows = await self._fetchall(
            self._sql.SELECT_JOBS_FOR_GUILD_AFTER,
            {"guild_id": guild_id, "created_at": created_at, "id": job_id, "limit": limit},
        )
        return [row_to_job(row) for row in rows]

    async def unfinished_jobs_for_guild(self, guild_id: int | None) -> list[JobRecord]:
        """A guild's pending, queued and running jobs, oldest first (``/queue``)."""
        rows = await self._fetchall(
            self._sql.SELECT_GUILD_JOBS_IN_STATUSES, (guild_id, statuses_json(UNFINISHED_STATUSES)),
            urgent=True)
        return [row_to_job(row) for row in rows]

    async def prune_jobs(self, created_before: float, *, batch: int = 500) -> int:
        """Delete up to ``batch`` finished jobs created before a time; return how many.

        Only jobs created before ``created_before``; unfinished jobs are never touched. Quota
        usage rows are kept (detached from the job) so that spending already counted stays
        counted.
        """
        terminal = statuses_json(TERMINAL_STATUSES)

        async def prune() -> int:  # several processes may prune at once: run again if so
            rows = await self._fetchall(
                self._sql.SELECT_PRUNABLE_JOB_IDS, (created_before, terminal, batch)
            )
            if not rows:
                return 0
            ids = json.dumps([str(row[0]) for row in rows])
            await self._execute(self._sql.DETACH_USAGE_FROM_JOBS, (ids,))
            return await self._execute(self._sql.DELETE_JOBS_IN_STATUSES, (ids, terminal))

        return await self.run_transaction(prune)

    # ------------------------------------------------------------------ batches

    async def batch_jobs(self, batch_id: str, *, urgent: bool = False) -> list[JobRecord]:
        """The jobs of one batch, in order (``/ideogram count:N``).

        ``urgent``: read before answering an interaction (ahead of the tracker's work).
        """
        rows = await self._fetchall(self._sql.SELECT_BATCH_JOBS, (batch_id,), urgent=urgent)
        return [row_to_job(row) for row in rows]
