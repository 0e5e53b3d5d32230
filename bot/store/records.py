"""What the store takes and hands out, the same on every engine.

Its errors, the settings and lease records, and rows turned into records.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from bot.jobs import JobRecord, JobStatus
from bot.presets import Preset

#: A row as the engine returns it: read by column name (``row["status"]``) or position.
Row = Any
#: Called with (key, origin) when another process changed something under a topic; a key
#: of None means "anything may have changed" (the notices were interrupted).
ChangeCallback = Callable[[str | None], Awaitable[None]]

#: The topic of server settings changes (key: the guild id).
GUILD_SETTINGS_TOPIC = "guild_settings"
#: The topic of server preset changes (key: the guild id).
PRESETS_TOPIC = "presets"
#: The topic of jobs one process ended (and shows ended) while another follows them (key:
#: the job id): the follower stops following the job and drops the edits it scheduled.
JOB_ENDED_TOPIC = "job_ended"

JOB_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(JobRecord))
TERMINAL_STATUSES: tuple[JobStatus, ...] = tuple(s for s in JobStatus if s.terminal)


class StoreError(Exception):
    """The database cannot be used as asked (bad URL, unknown schema, closed store…)."""


class JobNotFoundError(StoreError, LookupError):
    """``update_job`` was given an id with no row."""


class PresetLimitError(StoreError):
    """A server already has the most presets it may keep."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a server keeps at most {limit} presets")
        self.limit = limit


class StoreBusyError(StoreError):
    """The database is locked by another connection; nothing was written.

    The lock was held past ``busy_timeout``; the same operation may succeed a moment
    later.
    """


class StoreConflictError(StoreError):
    """The engine aborted a transaction to break a deadlock; running it again is safe.

    A serialization conflict counts too. Nothing of the transaction was written;
    :meth:`Store.run_transaction` runs it again.
    """


@dataclasses.dataclass(frozen=True, slots=True)
class GuildSettings:
    """A guild's settings; the defaults apply when the guild has never changed any."""

    guild_id: int
    provider: str | None = None
    log_channel_id: int | None = None
    ideogram_enabled: bool = True
    reframe_enabled: bool = True
    #: ``/settings language`` (en, pt-BR or it); None: the server's Discord language.
    language: str | None = None
    allowed_channel_ids: frozenset[int] = frozenset()
    blocked_words: tuple[str, ...] = ()
    updated_at: float | None = None

    def channel_allowed(self, channel_id: int) -> bool:
        """No allowed channels listed means every channel is allowed."""
        return not self.allowed_channel_ids or channel_id in self.allowed_channel_ids


@dataclasses.dataclass(frozen=True, slots=True)
class LeaseConfig:
    """Which jobs this process may own (PostgreSQL).

    Those of its own shards' guilds, and any other whose lease ran out ``grace`` seconds ago (its
    process died, and nobody who owns that shard took it). ``owner`` names the process in the lease
    rows: a restart with the same shards takes its old leases back at once.
    """

    owner: str
    shard_ids: tuple[int, ...] | None = None  # None: every shard
    shard_count: int = 1
    lease_seconds: float = 20.0

    @property
    def grace(self) -> float:
        """How long a lease must have expired before any process may take its job."""
        return self.lease_seconds / 3

    def owns_guild(self, guild_id: int | None) -> bool:
        """Whether a guild's jobs belong to this process's shards."""
        if self.shard_ids is None or self.shard_count <= 1:
            return True
        return ((guild_id or 0) >> 22) % self.shard_count in self.shard_ids


def is_postgres_url(url: str | os.PathLike[str]) -> bool:
    """Whether ``url`` names a PostgreSQL database."""
    text = os.fspath(url).strip().lower()
    return text.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://"))


def job_to_params(job: JobRecord) -> dict[str, Any]:
    """Return a job as the named parameters of ``INSERT_JOB``."""
    params = {name: getattr(job, name) for name in JOB_FIELDS}
    params["status"] = JobStatus(job.status).value
    params["inputs"] = json.dumps(job.inputs, ensure_ascii=False)
    params["result_urls"] = json.dumps(list(job.result_urls), ensure_ascii=False)
    return params


def row_to_job(row: Row) -> JobRecord:
    """Return the job a ``jobs`` row holds."""
    keys = set(row.keys())
    data: dict[str, Any] = {name: row[name] for name in JOB_FIELDS if name in keys}
    data["status"] = JobStatus(data["status"])
    data["inputs"] = json.loads(data["inputs"]) if data.get("inputs") else {}
    data["result_urls"] = json.loads(data["result_urls"]) if data.get("result_urls") else []
    return JobRecord(**data)


def row_to_preset(row: Row) -> Preset:
    """Return the preset a ``presets`` row holds."""
    magic = row["magic_prompt"]
    return Preset(
        name=str(row["name"]), style=row["style"], aspect_ratio=row["aspect_ratio"],
        magic_prompt=None if magic is None else bool(magic),
        negative_prompt=row["negative_prompt"], prompt_suffix=row["prompt_suffix"],
        color_palette=row["color_palette"], created_by=int(row["created_by"]),
        updated_at=float(row["updated_at"]))


def statuses_json(statuses: Iterable[JobStatus | str]) -> str:
    """Return ``statuses`` as the sorted JSON array the SQL reads."""
    return json.dumps(sorted({JobStatus(s).value for s in statuses}))
