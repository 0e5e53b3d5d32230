"""The job tracker: follows every unfinished job and announces each change.

See :mod:`bot.tracker.core` for how a job travels; :mod:`bot.tracker.events` for what
listeners receive; :mod:`bot.job_errors` for why jobs end (the codes the tracker stores).
"""

from bot.job_errors import (
    INTERRUPTED,
    NOT_ACKNOWLEDGED,
    PROVIDER_GONE,
    SYNC_INTERRUPTED,
    SYNC_UNEXPECTED,
    TIMED_OUT_QUEUED,
    TIMED_OUT_RUNNING,
)
from bot.tracker.core import JobTracker, TrackerConfig
from bot.tracker.events import JobEvent, JobListener, ReplyConfirmer
from bot.tracker.submission import SUBMIT_TASK_PREFIX

__all__ = [
    "INTERRUPTED",
    "NOT_ACKNOWLEDGED",
    "PROVIDER_GONE",
    "SUBMIT_TASK_PREFIX",
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
