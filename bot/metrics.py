"""The bot's Prometheus metrics (prometheus-client) and the small functions that feed them.

One registry for the process, served at ``/metrics`` by :mod:`bot.ops_server`. Label values
are always from short fixed lists (models, statuses, limits, provider keys, endpoints,
outcomes): never user, server or job ids, so the number of series stays bounded.

Who feeds what:

- :class:`JobMetrics`, a tracker listener: ``ideogram_jobs_total`` and
  ``ideogram_jobs_in_flight``.
- :mod:`bot.provider_metrics` (a wrapper around each provider):
  ``ideogram_provider_requests_total``.
- The Discord side calls :func:`observe_ack` when an interaction is first answered (one
  trace on discord.py's HTTP session, ``cogs/core/ack_timing.py``),
  :func:`observe_delivery` when a result reached Discord, :func:`count_quota_refusal` when
  the quota refuses a job.
- :class:`RateLimitCounter`, a filter on discord.py's HTTP loggers:
  ``ideogram_discord_rate_limited_total``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

from bot.inputs import ALL_MODELS
from bot.jobs import UNFINISHED_STATUSES, JobStatus
from bot.providers.base import IDEOGRAM_KEY, RUNCOMFY_KEYS
from bot.quota import LIMIT_NAMES

if TYPE_CHECKING:
    from bot.tracker import JobEvent

OTHER = "other"

# No ``*_created`` series next to every counter: they double the output and no panel uses
# them.
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)
process_collector.ProcessCollector(registry=REGISTRY)
platform_collector.PlatformCollector(registry=REGISTRY)
gc_collector.GCCollector(registry=REGISTRY)

TERMINAL_STATUSES: tuple[str, ...] = tuple(s.value for s in JobStatus if s.terminal)
IN_FLIGHT_STATUSES: tuple[str, ...] = tuple(s.value for s in UNFINISHED_STATUSES)
PROVIDER_KEYS: tuple[str, ...] = (*RUNCOMFY_KEYS, IDEOGRAM_KEY)
ENDPOINTS: tuple[str, ...] = ("submit", "status", "result", "cancel", "generate")
OUTCOMES: tuple[str, ...] = (
    "ok", "failed", "rate_limited", "unavailable", "timeout", "uncertain", "malformed",
    "rejected", "not_found", "auth", "error", "cancelled",
)

JOBS = Counter(
    "ideogram_jobs", "Jobs that ended, by model and final status.",
    ["model", "status"], registry=REGISTRY)
JOBS_IN_FLIGHT = Gauge(
    "ideogram_jobs_in_flight", "Unfinished jobs this process tracks, by status.",
    ["status"], registry=REGISTRY)
PROVIDER_REQUESTS = Counter(
    "ideogram_provider_requests", "Calls to the image providers, by provider key, endpoint "
    "and outcome.", ["provider", "endpoint", "outcome"], registry=REGISTRY)
INTERACTION_ACK = Histogram(
    "ideogram_interaction_ack_seconds", "From an interaction's creation (its snowflake time) "
    "to the bot's first answer; Discord's limit is 3 s.",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 10.0),
    registry=REGISTRY)
DELIVERY_DELAY = Histogram(
    "ideogram_delivery_delay_seconds", "From the provider's completion (as the tracker saw "
    "it) to the image in Discord.",
    buckets=(0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 900.0),
    registry=REGISTRY)
QUOTA_REFUSALS = Counter(
    "ideogram_quota_refusals", "Jobs the quota refused, by the limit that refused them.",
    ["limit"], registry=REGISTRY)
DISCORD_RATE_LIMITED = Counter(
    "ideogram_discord_rate_limited", "429 answers from Discord (bot and interaction "
    "routes), waited out or, when Discord asked for too long a wait, given up on.",
    registry=REGISTRY)

for _model in ALL_MODELS:
    for _status in TERMINAL_STATUSES:
        JOBS.labels(_model, _status)
for _status in IN_FLIGHT_STATUSES:
    JOBS_IN_FLIGHT.labels(_status).set(0)
for _limit in LIMIT_NAMES:
    QUOTA_REFUSALS.labels(_limit)


def _known(value: object, allowed: tuple[str, ...]) -> str:
    text = str(value)
    return text if text in allowed else OTHER


def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# ---------------------------------------------------------------------- hooks


def observe_ack(created_at: float, *, now: float | None = None) -> None:
    """An interaction created at ``created_at`` (Unix time) was just answered."""
    elapsed = (time.time() if now is None else now) - created_at
    INTERACTION_ACK.observe(max(0.0, elapsed))


def observe_delivery(finished_at: float | None, *, now: float | None = None) -> None:
    """A completed job's image reached Discord; ``finished_at`` is when it completed."""
    if finished_at is None:
        return
    DELIVERY_DELAY.observe(max(0.0, (time.time() if now is None else now) - finished_at))


def count_quota_refusal(limit: str) -> None:
    """Count a quota refusal under the limit that refused."""
    QUOTA_REFUSALS.labels(_known(limit, LIMIT_NAMES)).inc()


def count_provider_request(provider: str, endpoint: str, outcome: str) -> None:
    """Count one call to a provider, with its endpoint and outcome."""
    PROVIDER_REQUESTS.labels(_known(provider, PROVIDER_KEYS), _known(endpoint, ENDPOINTS),
                             _known(outcome, OUTCOMES)).inc()


# ---------------------------------------------------------------------- tracker listener


class JobMetrics:
    """Tracker listener: counts jobs that end and keeps the in-flight gauge.

    A job is counted once, on the event of the write that ended it: never when the
    tracker announces the same end again (a restart, a reconciliation, a takeover), and
    never for a command Discord did not see answered (its member was told nothing, or to
    try again: it was never a job to them). ``pending`` is read from the tracker when
    scraped (:meth:`count_pending`): a job waiting to be sent has no event.
    """

    def __init__(self) -> None:
        self._statuses: dict[str, str] = {}
        self._counts: dict[str, int] = dict.fromkeys(IN_FLIGHT_STATUSES, 0)
        for status in IN_FLIGHT_STATUSES:
            JOBS_IN_FLIGHT.labels(status).set(0)

    @staticmethod
    def count_pending(sending: Callable[[], float]) -> None:
        """Read the ``pending`` gauge from ``sending()`` (jobs whose send is not answered)."""
        JOBS_IN_FLIGHT.labels(JobStatus.PENDING.value).set_function(sending)

    async def on_job_event(self, event: JobEvent) -> None:
        """Count the job's move between statuses, and its end."""
        job = event.job
        before = self._statuses.pop(job.id, None)
        if before is not None:
            self._move(before, -1)
        if event.status.terminal:
            if event.ended and event.announce:
                JOBS.labels(_known(job.model, ALL_MODELS), event.status.value).inc()
        else:
            self._statuses[job.id] = event.status.value
            self._move(event.status.value, +1)

    def release(self, job_ids: set[str]) -> None:
        """Stop counting jobs another process took over (it counts them now)."""
        for job_id in job_ids:
            before = self._statuses.pop(job_id, None)
            if before is not None:
                self._move(before, -1)

    def _move(self, status: str, delta: int) -> None:
        """Keep the in-flight gauge by status (one label touched per event, not all jobs)."""
        self._counts[status] = self._counts.get(status, 0) + delta
        JOBS_IN_FLIGHT.labels(status).set(self._counts[status])


# ---------------------------------------------------------------------- Discord 429s

#: The format strings discord.py logs a waited-out 429 with (HTTPClient and webhooks).
RATE_LIMIT_MESSAGES: tuple[str, ...] = (
    "We are being rate limited.",
    "Webhook ID %s is rate limited.",
)
RATE_LIMIT_LOGGERS: tuple[str, ...] = ("discord.http", "discord.webhook.async_")


class RateLimitCounter(logging.Filter):
    """Counts discord.py's "rate limited" warnings; lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Count discord.py's rate-limit warnings; let every record through."""
        if record.levelno == logging.WARNING and isinstance(record.msg, str) \
                and record.msg.startswith(RATE_LIMIT_MESSAGES):
            DISCORD_RATE_LIMITED.inc()
        return True


_RATE_LIMIT_COUNTER = RateLimitCounter()


def install_rate_limit_counter() -> None:
    """Attach the counter to discord.py's HTTP loggers (once; safe to call again)."""
    for name in RATE_LIMIT_LOGGERS:
        logger = logging.getLogger(name)
        if _RATE_LIMIT_COUNTER not in logger.filters:
            logger.addFilter(_RATE_LIMIT_COUNTER)
