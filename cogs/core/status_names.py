"""A job's status as a word in the reader's language ("completed" / "concluída")."""

from __future__ import annotations

from typing import Final

from bot.i18n import N_, _
from bot.jobs import JobStatus

_WORDS: Final[dict[JobStatus, str]] = {
    # Translators: a job's status (a "job" is one image request), shown in lists.
    JobStatus.PENDING: N_("pending"),
    JobStatus.QUEUED: N_("queued"),
    JobStatus.RUNNING: N_("running"),
    JobStatus.COMPLETED: N_("completed"),
    JobStatus.FAILED: N_("failed"),
    JobStatus.CANCELLED: N_("cancelled"),
}


def status_name(status: JobStatus) -> str:
    """The status as people read it, in the reader's language."""
    word = _WORDS.get(status)
    return _(word) if word is not None else str(status.value)
