"""The job record: one image request, from the moment it is accepted to its delivery."""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any


class JobStatus(enum.StrEnum):
    PENDING = "pending"  # row written, submit not yet confirmed by the provider
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


UNFINISHED_STATUSES = (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING)


def new_job_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class JobRecord:
    """A row of the ``jobs`` table. Times are Unix epoch seconds (UTC)."""

    id: str
    provider: str
    model: str
    channel_id: int
    user_id: int
    inputs: dict[str, Any]
    seed: int
    guild_id: int | None = None
    application_id: int | None = None
    interaction_id: int | None = None
    message_id: int | None = None
    status: JobStatus = JobStatus.PENDING
    request_id: str | None = None
    queue_position: int | None = None
    error: str | None = None
    result_urls: list[str] = field(default_factory=list)
    cost: float | None = None
    created_at: float = field(default_factory=time.time)
    submitted_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    delivered_at: float | None = None
    updated_at: float = field(default_factory=time.time)
    revised_prompt: str | None = None  # the prompt the provider actually used, if it says
    deleted_at: float | None = None  # set when the requester deletes the result

    @property
    def short_id(self) -> str:
        return self.id[:8]

    def evolve(self, **changes: Any) -> JobRecord:
        return replace(self, **changes)
