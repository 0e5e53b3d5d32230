"""The simulated jobs of the local server, driven by the clock alone.

A job's status is derived from the clock on each request, without background tasks: it is
``in_queue`` for its queue time, then ``in_progress`` for its run time, then ``completed``
(or ``failed``, with the error ``"simulated failure"``, when a text input such as the
prompt contains ``[fail]`` or :meth:`Faults.fail_jobs` was set). Timestamps are ISO-8601
UTC with a ``Z`` suffix, e.g. ``"2023-11-14T22:13:20.000Z"``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from aiohttp import web

from bot.inputs import DEFAULT_RENDERING_SPEED, GENERATE_MODEL, IDEOGRAM_GENERATE_MODEL
from bot.localserver.config import LocalServerConfig, draw_seconds
from bot.localserver.faults import Faults
from bot.localserver.job_pictures import JobPictures

logger = logging.getLogger(__name__)

FAIL_MARKER: Final = "[fail]"
FAILURE_MESSAGE: Final = "simulated failure"
GENERATE_COST: Final = 0.08
REFRAME_COSTS: Final[Mapping[str, float]] = {"TURBO": 0.03, "BALANCED": 0.06, "QUALITY": 0.09}


class SimulatedStatus(StrEnum):
    """The status words the local server answers with, as RunComfy's model API spells them.

    The server's own view of a simulated job; the bot's job states are elsewhere.
    """

    IN_QUEUE = "in_queue"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        """True for the statuses a job never leaves."""
        return self in (SimulatedStatus.COMPLETED, SimulatedStatus.CANCELLED,
                        SimulatedStatus.FAILED)


@dataclass(eq=False)
class SimulatedJob:
    """One submitted request. Times are on the server's monotonic ``clock``.

    The provider-side completion time a benchmark needs is
    :meth:`completed_at_monotonic` (``None`` until the job has completed, and for
    cancelled or failed jobs); :attr:`finish_monotonic` is when it leaves ``in_progress``.
    """

    request_id: str
    model: str
    inputs: dict[str, Any]
    seq: int
    submitted_monotonic: float
    created_at: datetime
    queue_seconds: float
    run_seconds: float
    will_fail: bool = False
    cancelled_monotonic: float | None = None
    #: The PNG, once drawn (on the first ``/files`` request); cached for the job's life.
    image_bytes: bytes | None = None
    image_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    @property
    def queue_end_monotonic(self) -> float:
        """When the job leaves the queue, unless cancelled before."""
        return self.submitted_monotonic + self.queue_seconds

    @property
    def finish_monotonic(self) -> float:
        """When the job stops running (completes or fails), unless cancelled before."""
        return self.queue_end_monotonic + self.run_seconds

    def status_at(self, now: float) -> SimulatedStatus:
        """The job's status at clock time ``now``."""
        if self.cancelled_monotonic is not None:
            return SimulatedStatus.CANCELLED
        if now < self.queue_end_monotonic:
            return SimulatedStatus.IN_QUEUE
        if now < self.finish_monotonic:
            return SimulatedStatus.IN_PROGRESS
        return SimulatedStatus.FAILED if self.will_fail else SimulatedStatus.COMPLETED

    def status(self) -> SimulatedStatus:
        """The job's status now."""
        return self.status_at(self._clock())

    def finished_at_monotonic(self, now: float | None = None) -> float | None:
        """When the job reached its terminal status, or None while it is not terminal."""
        now = self._clock() if now is None else now
        if self.cancelled_monotonic is not None:
            return self.cancelled_monotonic
        return self.finish_monotonic if now >= self.finish_monotonic else None

    def completed_at_monotonic(self, now: float | None = None) -> float | None:
        """The clock time the job became ``completed`` (the provider completion time).

        None if it has not completed by ``now`` (default: the clock's current time).
        """
        now = self._clock() if now is None else now
        if self.status_at(now) is SimulatedStatus.COMPLETED:
            return self.finish_monotonic
        return None

    def wall_time(self, monotonic: float) -> datetime:
        """The UTC date and time of clock time ``monotonic``."""
        return self.created_at + timedelta(seconds=monotonic - self.submitted_monotonic)

    @property
    def cost(self) -> float:
        """USD, as RunComfy prices the model (by rendering speed for a reframe)."""
        if self.model in (GENERATE_MODEL, IDEOGRAM_GENERATE_MODEL):
            return GENERATE_COST
        speed = self.inputs.get("rendering_speed", DEFAULT_RENDERING_SPEED)
        return REFRAME_COSTS.get(speed, REFRAME_COSTS[DEFAULT_RENDERING_SPEED])


def iso_timestamp(moment: datetime) -> str:
    """``2023-11-14T22:13:20.000Z``: ISO-8601 UTC with milliseconds and a ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wants_failure(inputs: Mapping[str, Any]) -> bool:
    """True when a text input carries the ``[fail]`` marker."""
    return any(isinstance(v, str) and FAIL_MARKER in v for v in inputs.values())


class ServerState:
    """Everything a test or benchmark may inspect or change on a running server.

    - ``jobs``: request_id → :class:`SimulatedJob`, in submission order;
    - ``faults``: :class:`~bot.localserver.faults.Faults`, consumed per request;
    - ``request_counts``: requests received per kind (``submit``, ``status``, ``result``,
      ``cancel``, ``file``, ``generate``, ``control``, ``other``), whatever their answer
      (401s included);
    - ``submit_count``: submit requests received, whatever their answer, so with ``jobs``
      a test can tell a client's duplicate submit from a rejected one;
    - ``ideogram_auth``: per ``/ideogram/generate`` request, the auth style it came with
      (``"bearer"``, ``"api-key"`` or ``"none"``), whether or not the key was right;
    - ``pictures``: draws (once) and caches each job's PNG.
    """

    def __init__(self, config: LocalServerConfig, faults: Faults | None = None) -> None:
        self.config = config
        self.jobs: dict[str, SimulatedJob] = {}
        self.faults = faults if faults is not None else Faults()
        self.request_counts: Counter[str] = Counter()
        self.ideogram_auth: list[str] = []
        self.pictures = JobPictures(lambda: tuple(self.config.input_hosts))
        self._rng = random.Random(config.seed)
        self._queued: list[SimulatedJob] = []

    @property
    def clock(self) -> Callable[[], float]:
        """The monotonic clock of this server's jobs."""
        return self.config.clock

    @property
    def submit_count(self) -> int:
        """Submit requests received, whatever their answer."""
        return self.request_counts["submit"]

    def _record(self, model: str, inputs: dict[str, Any], *, queue_seconds: float,
                run_seconds: float, will_fail: bool = False) -> SimulatedJob:
        job = SimulatedJob(
            request_id=str(uuid.uuid4()),
            model=model,
            inputs=inputs,
            seq=len(self.jobs),
            submitted_monotonic=self.clock(),
            created_at=datetime.fromtimestamp(self.config.wall_clock(), UTC),
            queue_seconds=queue_seconds,
            run_seconds=run_seconds,
            will_fail=will_fail,
            _clock=self.clock,
        )
        self.jobs[job.request_id] = job
        return job

    def submit(self, model: str, inputs: dict[str, Any]) -> SimulatedJob:
        """Create a job for already-validated inputs."""
        job = self._record(
            model, inputs,
            queue_seconds=draw_seconds(self.config.queue_seconds, self._rng),
            run_seconds=draw_seconds(self.config.run_seconds, self._rng),
            will_fail=self.faults.take_failing_job() or wants_failure(inputs),
        )
        self._queued.append(job)
        logger.info("job %s submitted (%s, queue %.2fs, run %.2fs%s)", job.request_id, model,
                    job.queue_seconds, job.run_seconds, ", will fail" if job.will_fail else "")
        return job

    def generated(self, image_request: dict[str, Any]) -> SimulatedJob:
        """Record a finished synchronous generate (already validated): completed at once."""
        job = self._record(IDEOGRAM_GENERATE_MODEL, image_request,
                           queue_seconds=0.0, run_seconds=0.0)
        logger.info("synchronous generate %s answered", job.request_id)
        return job

    def run_time(self) -> float:
        """How long the next synchronous generate takes (the configured run time)."""
        return draw_seconds(self.config.run_seconds, self._rng)

    def queue_position(self, job: SimulatedJob, now: float) -> int:
        """1 + the number of jobs submitted before ``job`` that are still queued at ``now``."""
        self._queued = [j for j in self._queued
                        if j.status_at(now) is SimulatedStatus.IN_QUEUE]
        return 1 + sum(1 for other in self._queued if other.seq < job.seq)

    def cancel(self, job: SimulatedJob) -> bool:
        """Cancel ``job`` if it is still queued; False when it is not."""
        now = self.clock()
        if job.status_at(now) is not SimulatedStatus.IN_QUEUE:
            return False
        job.cancelled_monotonic = now
        logger.info("job %s cancelled", job.request_id)
        return True

    def status_body(self, job: SimulatedJob) -> dict[str, Any]:
        """The ``/status`` answer for ``job`` now."""
        now = self.clock()
        status = job.status_at(now)
        body: dict[str, Any] = {
            "request_id": job.request_id,
            "status": status.value,
            "created_at": iso_timestamp(job.created_at),
        }
        if status is SimulatedStatus.IN_QUEUE:
            body["queue_position"] = self.queue_position(job, now)
        finished = job.finished_at_monotonic(now)
        if status.terminal and finished is not None:
            body["finished_at"] = iso_timestamp(job.wall_time(finished))
        if status is SimulatedStatus.FAILED:
            body["error"] = FAILURE_MESSAGE
        return body

    async def aclose(self) -> None:
        """Release what the state holds open (the input-image client)."""
        await self.pictures.aclose()

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready counters, jobs and pending faults (``GET /_control/state``)."""
        now = self.clock()
        return {
            "submit_count": self.submit_count,
            "request_counts": dict(self.request_counts),
            "faults": self.faults.snapshot(),
            "jobs": [
                {
                    "request_id": job.request_id,
                    "model": job.model,
                    "status": job.status_at(now).value,
                    "queue_seconds": job.queue_seconds,
                    "run_seconds": job.run_seconds,
                    "completed_at_monotonic": job.completed_at_monotonic(now),
                }
                for job in self.jobs.values()
            ],
        }


STATE_KEY: Final = web.AppKey("state", ServerState)


def server_state(request: web.Request) -> ServerState:
    """The state of the server that received ``request``."""
    return request.app[STATE_KEY]
