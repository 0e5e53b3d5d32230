"""Which job and which server the current code works for, for the logs.

A context variable, so it follows one interaction or one job's task (and the tasks it
starts) without being passed around: ``bind_job(job.id, job.guild_id)`` at the top of the
code that works on a job, ``bind_guild(guild_id)`` when only the server is known. Every log
record made afterwards in that task carries ``job_id`` / ``guild_id``
(:class:`bot.logging_setup.ContextFields` copies them onto it); ``logging``'s ``extra=``
still wins for a single line.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LogContext:
    """The job and server that the current task's log lines are about."""

    job_id: str | None = None
    guild_id: int | None = None


_NOTHING = LogContext()
_current: contextvars.ContextVar[LogContext | None] = contextvars.ContextVar(
    "log_context", default=None)


def current() -> LogContext:
    """Return the current task's log context (empty outside any job)."""
    return _current.get() or _NOTHING


def bind_job(job_id: str, guild_id: int | None) -> None:
    """From now on, in this task and the tasks it starts, logs name this job and server."""
    _current.set(LogContext(job_id=job_id, guild_id=guild_id))


def bind_guild(guild_id: int | None) -> None:
    """From now on, in this task and the tasks it starts, logs name this server."""
    _current.set(LogContext(job_id=None, guild_id=guild_id))
