"""The job record: one image request, from the moment it is accepted to its delivery."""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any


class JobStatus(enum.StrEnum):
    """Where a job is in its life; the last three are terminal."""

    # Row written with its reservation, before the interaction was answered. While
    # ``submitting_at`` is unset the provider has certainly not been called; once it is set
    # the request may have reached the provider.
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Whether the job has ended (completed, failed or cancelled)."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


UNFINISHED_STATUSES = (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.RUNNING)

#: Discord's interaction tokens live 15 minutes; stop using one a little before that.
TOKEN_LIFETIME_SECONDS = 15 * 60
TOKEN_MARGIN_SECONDS = 30.0


def new_job_id() -> str:
    """Return a new random job id (32 hex digits)."""
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
    #: Set just before the provider is called: from then on the request may have reached it.
    submitting_at: float | None = None
    #: The interaction token, sealed (see :mod:`bot.reply_token`); never the plain token.
    sealed_token: str | None = field(default=None, repr=False)
    #: When the interaction token stops working (Discord: 15 minutes after the command).
    token_expires_at: float | None = None
    #: Several images from one command (``/ideogram count:N``): the same ``batch_id`` on each
    #: job, its place (0 … N-1) and N. A batch shares one reply.
    batch_id: str | None = None
    batch_index: int | None = None
    batch_size: int | None = None
    #: The server preset the command used, by name (shown by Info and /history).
    preset: str | None = None
    #: The language of the job's public messages (progress, result, channel posts): the
    #: server's when the job started (``en``, ``pt-BR`` or ``it``); None for older jobs.
    locale: str | None = None

    @property
    def short_id(self) -> str:
        """The first 8 hex digits: what people see and type."""
        return self.id[:8]

    @property
    def result_url(self) -> str | None:
        """Where the image of a completed job can be fetched (its first result).

        None for a job that did not end with one.
        """
        if self.status is not JobStatus.COMPLETED or not self.result_urls:
            return None
        return self.result_urls[0]

    @property
    def maybe_sent(self) -> bool:
        """True once the request may have reached the provider (never send it again)."""
        return self.request_id is not None or self.submitting_at is not None

    def token_alive(self, now: float) -> bool:
        """Whether the interaction token can still edit the reply (with a small margin)."""
        return (self.sealed_token is not None and self.token_expires_at is not None
                and now < self.token_expires_at - TOKEN_MARGIN_SECONDS)

    def evolve(self, **changes: Any) -> JobRecord:
        """Return a copy with ``changes`` applied."""
        return replace(self, **changes)
