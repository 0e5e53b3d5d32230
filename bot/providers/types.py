"""What the provider answers, parsed and validated into plain typed values."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class RemoteState(enum.StrEnum):
    """A provider job's state, normalised. ``UNKNOWN`` counts as still running."""

    QUEUED = "in_queue"
    RUNNING = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class CancelOutcome(enum.StrEnum):
    """What a cancel request achieved."""

    CANCELLED = "cancelled"
    NOT_CANCELLABLE = "not_cancellable"


@dataclass(frozen=True, slots=True)
class SubmitReceipt:
    """What the provider answered to a submit: the request id.

    The status, result and cancel addresses an answer may also carry are not kept: the
    client builds them from its own base URL and the checked request id, so an answer
    cannot send the bot's token to another host.
    """

    request_id: str


@dataclass(frozen=True, slots=True)
class RequestReport:
    """What the provider says of a request in both its status and its result answers."""

    request_id: str
    state: RemoteState
    raw_status: str
    #: Why the provider made no image, as a job stores it (:mod:`bot.job_errors`).
    error: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RequestStatus(RequestReport):
    """A request's status as the provider reported it: also its place in the queue."""

    queue_position: int | None = None


@dataclass(frozen=True, slots=True)
class RequestResult(RequestReport):
    """A request's outcome: its images (and cost), or its error."""

    image_urls: tuple[str, ...] = field(default_factory=tuple)
    cost: float | None = None
    #: The prompt the provider actually used (after its magic prompt), when it says.
    revised_prompt: str | None = None
