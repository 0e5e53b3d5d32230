"""The job tracker: follows every unfinished job and announces each change.

See :mod:`bot.tracker.core` for how a job travels; :mod:`bot.tracker.events` for what
listeners receive; :mod:`bot.tracker.reasons` for why jobs end.
"""

from bot.tracker.core import JobTracker, TrackerConfig
from bot.tracker.events import JobEvent, JobListener, ReplyConfirmer
from bot.tracker.reasons import (
    INTERRUPTED,
    NOT_ACKNOWLEDGED,
    PROVIDER_GONE,
    SYNC_INTERRUPTED,
    SYNC_UNEXPECTED,
    TIMED_OUT_QUEUED,
    TIMED_OUT_RUNNING,
)

__all__ = [
    "INTERRUPTED",
    "NOT_ACKNOWLEDGED",
    "PROVIDER_GONE",
    "SYNC_INTERRUPTED",
    "SYNC_UNEXPECTED",
    "TIMED_OUT_QUEUED",
    "TIMED_OUT_RUNNING",
    "JobEvent",
    "JobListener",
    "JobTracker",
    "ReplyConfirmer",
    "TrackerConfig",
]
