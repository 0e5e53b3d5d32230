"""When to ask the provider next: adaptive polling learned from recent jobs.

Completion cannot happen while a job is queued, nor in the first seconds of its run, so the
tracker polls sparsely then, and densely from the earliest time recent jobs of the same
model have finished. This keeps the delay between the provider finishing and the user
seeing it short (about ``near_interval``) with far fewer calls than a fixed-rate poller.
"""

from __future__ import annotations

import statistics
from collections import defaultdict, deque
from dataclasses import dataclass

from bot.jobs import JobRecord, JobStatus


@dataclass(frozen=True, slots=True)
class PollingConfig:
    """How often a job's status is asked for, and the timings assumed before any are known."""

    first_delay: float = 1.0  # first status call after submit
    backoff: float = 2.0  # growth of the interval while nothing is expected
    cap: float = 6.0  # never slower than this
    near_interval: float = 0.9  # interval while completion is expected (p95 delay ≤ 1 s)
    min_interval: float = 0.5
    default_run_low: float = 3.0  # before any history: earliest plausible run time
    default_run_high: float = 30.0
    default_queue: float = 5.0
    history: int = 50  # completed jobs remembered per model


class DurationHistory:
    """Recent queue and run durations per model (seconds)."""

    def __init__(self, config: PollingConfig) -> None:
        self._config = config
        self._runs: defaultdict[str, deque[float]] = defaultdict(
            lambda: deque(maxlen=config.history))
        self._queues: defaultdict[str, deque[float]] = defaultdict(
            lambda: deque(maxlen=config.history))

    def record(self, model: str, queue_seconds: float | None, run_seconds: float | None) -> None:
        """Remember how long a finished job queued and ran (absurd values are ignored)."""
        if queue_seconds is not None and 0 <= queue_seconds < 86_400:
            self._queues[model].append(queue_seconds)
        if run_seconds is not None and 0 <= run_seconds < 86_400:
            self._runs[model].append(run_seconds)

    def run_window(self, model: str) -> tuple[float, float]:
        """(earliest, latest) plausible run time: ~10th and ~90th percentiles of history."""
        runs = sorted(self._runs[model])
        if len(runs) < 3:
            return self._config.default_run_low, self._config.default_run_high
        low = runs[int(len(runs) * 0.1)]
        high = runs[min(len(runs) - 1, int(len(runs) * 0.9))]
        # Our observations are late by up to one poll interval: keep a margin.
        return max(0.0, low - self._config.near_interval), high + self._config.near_interval

    def typical_queue(self, model: str) -> float:
        """Return the median queue time of ``model``'s recent jobs."""
        queues = self._queues[model]
        return statistics.median(queues) if queues else self._config.default_queue

    def typical_run(self, model: str) -> float:
        """Return the median run time of ``model``'s recent jobs."""
        runs = self._runs[model]
        if not runs:
            return (self._config.default_run_low + self._config.default_run_high) / 4
        return statistics.median(runs)


@dataclass(slots=True)
class PollState:
    """What the tracker remembers of one job between polls (in memory only)."""

    status: JobStatus
    polls_in_status: int = 0
    last_poll: float | None = None
    last_queued_poll: float | None = None  # lower bound of the run's start
    running_seen_at: float | None = None
    failures: int = 0
    #: Ask this job's status even while it runs: its result could not be read before it
    #: was made (see :class:`bot.tracker.poller.Poller`).
    status_polls_only: bool = False
    #: The job's row as the poller last read or wrote it; None: read it at the next poll.
    job: JobRecord | None = None


def next_delay(state: PollState, model: str, now: float, history: DurationHistory,
               config: PollingConfig) -> float:
    """Seconds from ``now`` to the next status call."""
    backoff = min(config.cap, config.first_delay * config.backoff ** state.polls_in_status)
    if state.status is not JobStatus.RUNNING:
        # A job that starts just after this poll cannot end before its shortest plausible
        # run: asked again by then (and a near interval), its end is seen no later than
        # that of a job polled while running, however short recent runs have been.
        low, _ = history.run_window(model)
        return max(config.min_interval, min(backoff, low + config.near_interval))
    # The run started between the last poll that saw it queued and the first that saw it
    # running. Recorded run times are measured from the latter (``started_at``), so the
    # earliest end counts from the former and the latest from the latter: both bounds err
    # on the side of polling, and a normal-length run is never mistaken for a slow one.
    seen = state.running_seen_at
    start = state.last_queued_poll if state.last_queued_poll is not None else seen
    if start is None:
        return config.near_interval
    low, high = history.run_window(model)
    earliest_end = start + low
    if now < earliest_end - config.near_interval:
        # Nothing can finish yet: sleep until completion becomes plausible.
        return max(config.min_interval, min(config.cap, earliest_end - now))
    latest_end = (seen if seen is not None else start) + high
    if now <= latest_end:
        return config.near_interval
    # Later than recent jobs: the job is slow; back off gently up to the cap.
    overdue = now - latest_end
    return max(config.near_interval, min(config.cap, config.near_interval + overdue / 4))


def error_delay(failures: int, retry_after: float | None, config: PollingConfig) -> float:
    """Back-off after a failed status call."""
    delay = min(60.0, config.first_delay * 2.0 ** min(failures, 6))
    if retry_after is not None:
        delay = max(delay, min(retry_after, 300.0))
    return delay
