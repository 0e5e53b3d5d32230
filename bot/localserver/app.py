"""A RunComfy-compatible model API on loopback, for tests, benchmarks and local previews.

Same paths and bodies as ``https://model-api.runcomfy.net`` for the two Ideogram models:

- ``POST /v1/models/{model}``: validate the inputs against ``bot/spec``, create a job;
- ``GET /v1/requests/{id}/status`` and ``GET /v1/requests/{id}/result[?include_cost=true]``;
- ``POST /v1/requests/{id}/cancel``: only while the job is queued;
- ``POST /ideogram/generate``: the Ideogram-compatible synchronous API of seed 004: it
  answers after the run time with ``{"created", "data": [{"url", "prompt", "resolution",
  "is_image_safe", "seed"}]}``; ``Authorization: Bearer <token>`` or ``Api-Key: <token>``;
  errors (and faults) in the seed's envelope ``{"code": "500", "message": ..., "data": null}``;
  ``is_image_safe`` is false (and ``url`` null) when the prompt contains ``[unsafe]``;
- ``GET /files/{id}.png``: the job's picture (no auth), drawn on first request;
- ``POST /_control/faults`` and ``GET /_control/state``: fault injection and counters for
  out-of-process use (bearer auth, like ``/v1``).

A job's state is derived from the clock on each request, without background tasks: it is
``in_queue`` for its queue time, then ``in_progress`` for its run time, then ``completed``
(or ``failed``, with the error ``"simulated failure"``, when a text input such as the
prompt contains ``[fail]`` or :meth:`Faults.fail_jobs` was set). Timestamps are ISO-8601
UTC with a ``Z`` suffix, e.g. ``"2023-11-14T22:13:20.000Z"``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import random
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from importlib import resources
from typing import Any, Final

import httpx
import jsonschema
from aiohttp import web

from bot.ideogram_api import (
    ASPECT_RATIO_ENUMS,
    MAGIC_PROMPT_OPTIONS,
    STYLE_TYPES,
    aspect_ratio_from_enum,
)
from bot.inputs import (
    COLOR_PALETTE_MODELS,
    COLOR_PALETTES,
    DEFAULT_IDEOGRAM_MODEL,
    DEFAULT_RENDERING_SPEED,
    DEFAULT_RESOLUTION,
    GENERATE_MODEL,
    IDEOGRAM_GENERATE_MODEL,
    IDEOGRAM_MODELS,
    REFRAME_MODEL,
    SEED_MAX,
    STYLE_MODELS,
    aspect_ratio_size,
    resolution_size,
)
from bot.localserver import images
from bot.localserver.faults import FaultRule, Faults

logger = logging.getLogger(__name__)

#: A timing: a fixed number of seconds, a ``(low, high)`` range drawn per job with
#: ``random.uniform``, or a zero-argument callable returning seconds.
Timing = float | tuple[float, float] | Callable[[], float]

FAIL_MARKER: Final = "[fail]"
FAILURE_MESSAGE: Final = "simulated failure"
UNSAFE_MARKER: Final = "[unsafe]"
IDEOGRAM_PATH: Final = "/ideogram/generate"
#: What the local "magic prompt" adds to a prompt (ON or AUTO), so the revised prompt shows.
MAGIC_SUFFIX: Final = " — rendered with crisp detail, balanced composition and soft light"
IDEOGRAM_FIELDS: Final = frozenset({
    "prompt", "aspect_ratio", "model", "magic_prompt_option", "style_type", "negative_prompt",
    "seed", "resolution", "color_palette",
})
MAX_INPUT_IMAGE_BYTES: Final = 20 * 1024 * 1024
INPUT_FETCH_TIMEOUT: Final = 5.0
#: How long ``stop()`` lets in-flight requests (e.g. a ``slow`` fault) finish.
SHUTDOWN_TIMEOUT: Final = 1.0

SCHEMA_FILES: Final[Mapping[str, str]] = {
    GENERATE_MODEL: "ideogram-v2-generate.input.schema.json",
    REFRAME_MODEL: "ideogram-v3-reframe.input.schema.json",
}
GENERATE_COST: Final = 0.08
REFRAME_COSTS: Final[Mapping[str, float]] = {"TURBO": 0.03, "BALANCED": 0.06, "QUALITY": 0.09}

INVALID_TOKEN_BODY: Final[Mapping[str, Any]] = {
    "error_code": 400004, "error_message": "Invalid API token",
}
INSUFFICIENT_BALANCE_BODY: Final[Mapping[str, Any]] = {
    "error_code": 400002, "error_message": "Insufficient balance",
}
MALFORMED_BODY: Final = "{not json"


class JobStatus(StrEnum):
    IN_QUEUE = "in_queue"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.CANCELLED, JobStatus.FAILED)


@dataclass
class LocalServerConfig:
    """Settings of one local server. ``queue_seconds``/``run_seconds`` accept a number,
    a ``(low, high)`` range (uniform per job, from ``random.Random(seed)``) or a callable.

    ``clock`` is the monotonic clock every job time is measured with (inject a fake one to
    step time in tests); ``wall_clock`` gives the epoch time ``created_at`` is based on.
    The config is read at each submit, so changing a timing later affects later jobs.
    """

    token: str = "local-preview-token"
    queue_seconds: Timing = 1.0
    run_seconds: Timing = 2.0
    seed: int | None = None
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time


@dataclass(eq=False)
class Job:
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
        return self.submitted_monotonic + self.queue_seconds

    @property
    def finish_monotonic(self) -> float:
        """When the job stops running (completes or fails), unless cancelled before."""
        return self.queue_end_monotonic + self.run_seconds

    def status_at(self, now: float) -> JobStatus:
        if self.cancelled_monotonic is not None:
            return JobStatus.CANCELLED
        if now < self.queue_end_monotonic:
            return JobStatus.IN_QUEUE
        if now < self.finish_monotonic:
            return JobStatus.IN_PROGRESS
        return JobStatus.FAILED if self.will_fail else JobStatus.COMPLETED

    def status(self) -> JobStatus:
        return self.status_at(self._clock())

    def finished_at_monotonic(self, now: float | None = None) -> float | None:
        """When the job reached its terminal state, or None while it is not terminal."""
        now = self._clock() if now is None else now
        if self.cancelled_monotonic is not None:
            return self.cancelled_monotonic
        return self.finish_monotonic if now >= self.finish_monotonic else None

    def completed_at_monotonic(self, now: float | None = None) -> float | None:
        """The clock time the job became ``completed`` (the provider completion time), or
        None if it has not completed by ``now`` (default: the clock's current time)."""
        now = self._clock() if now is None else now
        return self.finish_monotonic if self.status_at(now) is JobStatus.COMPLETED else None

    def wall_time(self, monotonic: float) -> datetime:
        return self.created_at + timedelta(seconds=monotonic - self.submitted_monotonic)

    @property
    def cost(self) -> float:
        if self.model in (GENERATE_MODEL, IDEOGRAM_GENERATE_MODEL):
            return GENERATE_COST
        speed = self.inputs.get("rendering_speed", DEFAULT_RENDERING_SPEED)
        return REFRAME_COSTS.get(speed, REFRAME_COSTS[DEFAULT_RENDERING_SPEED])


def _draw_timing(timing: Timing, rng: random.Random) -> float:
    if callable(timing):
        return max(0.0, float(timing()))
    if isinstance(timing, tuple):
        low, high = timing
        return max(0.0, rng.uniform(low, high))
    return max(0.0, float(timing))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _wants_fail(inputs: Mapping[str, Any]) -> bool:
    return any(isinstance(v, str) and FAIL_MARKER in v for v in inputs.values())


class ServerState:
    """Everything a test or benchmark may inspect or change on a running server.

    - ``jobs``: request_id → :class:`Job`, in submission order;
    - ``faults``: :class:`~bot.localserver.faults.Faults`, consumed per request;
    - ``request_counts``: requests received per kind (``submit``, ``status``, ``result``,
      ``cancel``, ``file``, ``control``, ``other``), whatever their answer (401s included);
    - ``submit_count``: submit requests received, whatever their answer, so with ``jobs``
      a test can tell a client's duplicate submit from a rejected one;
    - ``ideogram_auth``: per ``/ideogram/generate`` request, the auth style it came with
      (``"bearer"``, ``"api-key"`` or ``"none"``), whether or not the key was right.
    """

    def __init__(self, config: LocalServerConfig) -> None:
        self.config = config
        self.jobs: dict[str, Job] = {}
        self.faults = Faults()
        self.request_counts: Counter[str] = Counter()
        self.ideogram_auth: list[str] = []
        self._rng = random.Random(config.seed)
        self._queued: list[Job] = []
        self._http: httpx.AsyncClient | None = None

    @property
    def clock(self) -> Callable[[], float]:
        return self.config.clock

    @property
    def submit_count(self) -> int:
        return self.request_counts["submit"]

    def submit(self, model: str, inputs: dict[str, Any]) -> Job:
        """Create a job for already-validated inputs."""
        now = self.clock()
        job = Job(
            request_id=str(uuid.uuid4()),
            model=model,
            inputs=inputs,
            seq=len(self.jobs),
            submitted_monotonic=now,
            created_at=datetime.fromtimestamp(self.config.wall_clock(), UTC),
            queue_seconds=_draw_timing(self.config.queue_seconds, self._rng),
            run_seconds=_draw_timing(self.config.run_seconds, self._rng),
            will_fail=self.faults.take_failing_job() or _wants_fail(inputs),
            _clock=self.clock,
        )
        self.jobs[job.request_id] = job
        self._queued.append(job)
        logger.info("job %s submitted (%s, queue %.2fs, run %.2fs%s)", job.request_id, model,
                    job.queue_seconds, job.run_seconds, ", will fail" if job.will_fail else "")
        return job

    def generated(self, image_request: dict[str, Any]) -> Job:
        """Record a finished synchronous generate (already validated): completed at once."""
        now = self.clock()
        job = Job(
            request_id=str(uuid.uuid4()), model=IDEOGRAM_GENERATE_MODEL, inputs=image_request,
            seq=len(self.jobs), submitted_monotonic=now,
            created_at=datetime.fromtimestamp(self.config.wall_clock(), UTC),
            queue_seconds=0.0, run_seconds=0.0, _clock=self.clock,
        )
        self.jobs[job.request_id] = job
        logger.info("ideogram generate %s answered", job.request_id)
        return job

    def run_time(self) -> float:
        """How long the next synchronous generate takes (the configured run time)."""
        return _draw_timing(self.config.run_seconds, self._rng)

    def queue_position(self, job: Job, now: float) -> int:
        """1 + the number of jobs submitted before ``job`` that are still queued at ``now``."""
        self._queued = [j for j in self._queued if j.status_at(now) is JobStatus.IN_QUEUE]
        return 1 + sum(1 for other in self._queued if other.seq < job.seq)

    def cancel(self, job: Job) -> bool:
        now = self.clock()
        if job.status_at(now) is not JobStatus.IN_QUEUE:
            return False
        job.cancelled_monotonic = now
        logger.info("job %s cancelled", job.request_id)
        return True

    def status_body(self, job: Job) -> dict[str, Any]:
        now = self.clock()
        status = job.status_at(now)
        body: dict[str, Any] = {
            "request_id": job.request_id,
            "status": status.value,
            "created_at": _iso(job.created_at),
        }
        if status is JobStatus.IN_QUEUE:
            body["queue_position"] = self.queue_position(job, now)
        finished = job.finished_at_monotonic(now)
        if status.terminal and finished is not None:
            body["finished_at"] = _iso(job.wall_time(finished))
        if status is JobStatus.FAILED:
            body["error"] = FAILURE_MESSAGE
        return body

    # -- images -------------------------------------------------------------------------

    async def image_for(self, job: Job) -> bytes:
        """The job's PNG, drawn once (in a worker thread) and cached on the job."""
        async with job.image_lock:
            if job.image_bytes is None:
                job.image_bytes = await self._render(job)
        return job.image_bytes

    async def _render(self, job: Job) -> bytes:
        seed = int(job.inputs.get("seed", 0))
        if job.model == IDEOGRAM_GENERATE_MODEL:
            style = str(job.inputs.get("style_type", "AUTO")).lower()
            return await asyncio.to_thread(
                images.render_generate, str(job.inputs.get("prompt", "")),
                ideogram_size(job.inputs), seed=seed, style=style,
            )
        if job.model == GENERATE_MODEL:
            size = aspect_ratio_size(job.inputs.get("aspect_ratio", "1:1"))
            return await asyncio.to_thread(
                images.render_generate, str(job.inputs.get("prompt", "")), size,
                seed=seed, style=str(job.inputs.get("style", "auto")),
            )
        resolution = job.inputs.get("resolution", DEFAULT_RESOLUTION)
        source = await self.fetch_input_image(str(job.inputs.get("image", "")))
        return await asyncio.to_thread(
            images.render_reframe, source, resolution_size(resolution),
            resolution=resolution, seed=seed,
        )

    async def fetch_input_image(self, url: str) -> bytes | None:
        """The bytes at ``url`` (≤ 20 MB, within 5 s), or None on any failure."""
        try:
            async with asyncio.timeout(INPUT_FETCH_TIMEOUT):
                return await self._download(url)
        except (TimeoutError, httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            logger.info("could not fetch input image %r: %s", url[:200], exc)
            return None

    async def _download(self, url: str) -> bytes | None:
        async with self.http_client().stream("GET", url) as response:
            if response.status_code != 200:
                logger.info("input image %r answered %s", url[:200], response.status_code)
                return None
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_INPUT_IMAGE_BYTES:
                return None
            chunks: list[bytes] = []
            total = 0
            async for chunk in response.aiter_bytes():
                total += len(chunk)
                if total > MAX_INPUT_IMAGE_BYTES:
                    return None
                chunks.append(chunk)
            return b"".join(chunks)

    def http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=INPUT_FETCH_TIMEOUT, follow_redirects=True, max_redirects=3,
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

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
VALIDATORS_KEY: Final = web.AppKey("validators", dict)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- schemas --------------------------------------------------------------------------------


def load_validators() -> dict[str, jsonschema.protocols.Validator]:
    """A validator per model, from the schema files shipped in ``bot/spec``."""
    spec = resources.files("bot").joinpath("spec")
    validators: dict[str, jsonschema.protocols.Validator] = {}
    for model, name in SCHEMA_FILES.items():
        schema = json.loads(spec.joinpath(name).read_text(encoding="utf-8"))
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        validators[model] = cls(schema)
    return validators


def schema_error(validator: jsonschema.protocols.Validator, body: object) -> str | None:
    """The most relevant schema error as ``"<path>: <message>"``, or None when valid."""
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is None:
        return None
    path = "/".join(str(part) for part in error.absolute_path)
    return f"{path}: {error.message}" if path else error.message


# -- the synchronous generate API (seed 004) --------------------------------------------------


def ideogram_size(image_request: Mapping[str, Any]) -> tuple[int, int]:
    """Pixel size of a generate request: its resolution, else its aspect ratio (1:1)."""
    resolution = image_request.get("resolution")
    if isinstance(resolution, str) and resolution.startswith("RESOLUTION_"):
        w, h = resolution.removeprefix("RESOLUTION_").split("_")
        return int(w), int(h)
    ratio = aspect_ratio_from_enum(str(image_request.get("aspect_ratio", "ASPECT_1_1")))
    return aspect_ratio_size(ratio)


def _is_resolution(value: object) -> bool:
    if not isinstance(value, str) or not value.startswith("RESOLUTION_"):
        return False
    parts = value.removeprefix("RESOLUTION_").split("_")
    return len(parts) == 2 and all(p.isdigit() and 256 <= int(p) <= 2048 for p in parts)


def ideogram_request_error(body: object) -> str | None:
    """Why a generate body is invalid (Ideogram's rules as seed 004 lists them), or None."""
    if not isinstance(body, dict) or set(body) != {"image_request"}:
        return "the body must be {\"image_request\": {...}}"
    req = body["image_request"]
    if not isinstance(req, dict):
        return "image_request must be an object"
    unknown = set(req) - IDEOGRAM_FIELDS
    if unknown:
        return f"unknown field(s): {', '.join(sorted(unknown))}"
    prompt = req.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt is required"
    model = req.get("model", DEFAULT_IDEOGRAM_MODEL)
    checks: list[tuple[str, bool]] = [
        ("model", model in IDEOGRAM_MODELS),
        ("aspect_ratio", req.get("aspect_ratio", "ASPECT_1_1") in ASPECT_RATIO_ENUMS.values()),
        ("magic_prompt_option", req.get("magic_prompt_option", "AUTO") in MAGIC_PROMPT_OPTIONS),
        ("style_type", req.get("style_type", "AUTO") in STYLE_TYPES.values()),
        ("negative_prompt", isinstance(req.get("negative_prompt", ""), str)),
        ("resolution", "resolution" not in req or _is_resolution(req["resolution"])),
    ]
    seed = req.get("seed", 0)
    checks.append(("seed", isinstance(seed, int) and not isinstance(seed, bool)
                   and 0 <= seed <= SEED_MAX))
    palette = req.get("color_palette")
    checks.append(("color_palette", palette is None or (
        isinstance(palette, dict) and set(palette) == {"name"}
        and palette["name"] in COLOR_PALETTES)))
    for name, ok in checks:
        if not ok:
            return f"invalid {name}"
    if "resolution" in req and "aspect_ratio" in req:
        return "give resolution or aspect_ratio, not both"
    if "style_type" in req and model not in STYLE_MODELS:
        return f"style_type is not supported by {model}"
    if palette is not None and model not in COLOR_PALETTE_MODELS:
        return f"color_palette is not supported by {model}"
    return None


def _envelope(status: int, message: str, headers: Mapping[str, str] | None = None
              ) -> web.Response:
    """Seed 004's error answer: ``{"code": "<status>", "message": ..., "data": null}``."""
    return web.json_response({"code": str(status), "message": message, "data": None},
                             status=status, headers=headers)


async def ideogram_generate(request: web.Request) -> web.Response:
    state = _state(request)
    try:
        body = json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _envelope(400, "request body is not valid JSON")
    problem = ideogram_request_error(body)
    if problem is not None:
        return _envelope(400, problem)
    req: dict[str, Any] = body["image_request"]
    prompt: str = req["prompt"]
    fail = state.faults.take_failing_job() or FAIL_MARKER in prompt
    await asyncio.sleep(state.run_time())
    if fail:
        return _envelope(500, FAILURE_MESSAGE)
    job = state.generated(req)
    safe = UNSAFE_MARKER not in prompt
    magic = req.get("magic_prompt_option", "AUTO") != "OFF"
    width, height = ideogram_size(req)
    item = {
        "url": f"{_origin(request)}/files/{job.request_id}.png" if safe else None,
        "prompt": prompt + MAGIC_SUFFIX if magic else prompt,
        "resolution": f"{width}x{height}",
        "is_image_safe": safe,
        "seed": req.get("seed", 12345),
    }
    return web.json_response({"created": _iso(job.created_at), "data": [item]})


# -- helpers ----------------------------------------------------------------------------------


def _state(request: web.Request) -> ServerState:
    return request.app[STATE_KEY]


def _origin(request: web.Request) -> str:
    return str(request.url.origin())


def _detail(status: int, detail: str) -> web.Response:
    return web.json_response({"detail": detail}, status=status)


def _job_or_404(request: web.Request) -> Job:
    job = _state(request).jobs.get(request.match_info["request_id"])
    if job is None:
        raise web.HTTPNotFound(reason="request not found")
    return job


def _authorized(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def _ideogram_auth(request: web.Request, token: str) -> tuple[str, bool]:
    """(style, authorized) for the synchronous API: a bearer token or Ideogram's Api-Key."""
    if "Api-Key" in request.headers:
        given = request.headers["Api-Key"].strip()
        return "api-key", hmac.compare_digest(given.encode(), token.encode())
    if "Authorization" in request.headers:
        return "bearer", _authorized(request, token)
    return "none", False


# -- handlers ---------------------------------------------------------------------------------


async def submit(request: web.Request) -> web.Response:
    model = request.match_info["model"]
    validator = request.app[VALIDATORS_KEY].get(model)
    if validator is None:
        return _detail(404, f"model not found: {model}")
    try:
        body = json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _detail(400, "request body is not valid JSON")
    problem = schema_error(validator, body)
    if problem is not None:
        return _detail(422, problem)
    job = _state(request).submit(model, body)
    base = f"{_origin(request)}/v1/requests/{job.request_id}"
    return web.json_response({
        "request_id": job.request_id,
        "status_url": f"{base}/status",
        "result_url": f"{base}/result",
        "cancel_url": f"{base}/cancel",
    })


async def status(request: web.Request) -> web.Response:
    return web.json_response(_state(request).status_body(_job_or_404(request)))


async def result(request: web.Request) -> web.Response:
    state, job = _state(request), _job_or_404(request)
    body = state.status_body(job)
    if body["status"] != JobStatus.COMPLETED:
        return web.json_response(body)
    url = f"{_origin(request)}/files/{job.request_id}.png"
    output: dict[str, Any] = {"images": [url]} if job.model == GENERATE_MODEL else {"image": url}
    answer: dict[str, Any] = {
        "request_id": job.request_id,
        "status": body["status"],
        "output": output,
        "created_at": body["created_at"],
        "finished_at": body["finished_at"],
    }
    if request.query.get("include_cost", "").lower() in ("true", "1"):
        answer["cost"] = job.cost
    return web.json_response(answer)


async def cancel(request: web.Request) -> web.Response:
    job = _job_or_404(request)
    outcome = "cancelled" if _state(request).cancel(job) else "not_cancellable"
    return web.json_response({"request_id": job.request_id, "outcome": outcome})


async def file_download(request: web.Request) -> web.Response:
    state = _state(request)
    job = state.jobs.get(request.match_info["file_id"])
    if job is None or job.status() is not JobStatus.COMPLETED:
        return _detail(404, "file not found")
    return web.Response(body=await state.image_for(job), content_type="image/png")


async def control_faults(request: web.Request) -> web.Response:
    state = _state(request)
    try:
        spec = json.loads(await request.read())
        state.faults.apply(spec)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _detail(400, "request body is not valid JSON")
    except ValueError as exc:
        return _detail(400, str(exc))
    return web.json_response(state.faults.snapshot())


async def control_state(request: web.Request) -> web.Response:
    return web.json_response(_state(request).snapshot())


# -- middleware: counting, auth, faults, JSON errors -----------------------------------------


def _request_kind(request: web.Request) -> str:
    name = request.match_info.route.name
    if name in ("submit", "status", "result", "cancel", "file", "generate"):
        return name
    if name is not None and name.startswith("control"):
        return "control"
    return "other"


def _needs_auth(request: web.Request, kind: str) -> bool:
    return kind == "control" or request.path.startswith("/v1/")


def _seconds_header(seconds: float) -> str:
    """``3.0`` → ``"3"``, ``0.5`` → ``"0.5"`` (never exponent notation)."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".") or "0"


async def _apply_fault(
    rule: FaultRule, kind: str, request: web.Request, handler: Handler
) -> web.StreamResponse:
    if kind == "generate" and rule.fault != "slow":
        return _generate_fault(rule)
    if rule.fault == "rate_limit":
        return web.json_response({"detail": "rate limited"}, status=429,
                                 headers={"Retry-After": _seconds_header(rule.retry_after)})
    if rule.fault == "server_error":
        return _detail(500, "internal error")
    if rule.fault == "malformed":
        # Deliberately not JSON: the one answer not built with json_response.
        return web.Response(text=MALFORMED_BODY, content_type="application/json")
    if rule.fault == "insufficient_balance":
        return web.json_response(dict(INSUFFICIENT_BALANCE_BODY), status=402)
    if rule.fault == "error_body":
        return web.json_response({"error_code": rule.code, "error_message": rule.message})
    # slow: a submit creates its job first, as a provider that accepted it would.
    if kind == "submit":
        response = await handler(request)
        await asyncio.sleep(rule.seconds)
        return response
    await asyncio.sleep(rule.seconds)
    return await handler(request)


def _generate_fault(rule: FaultRule) -> web.Response:
    """A fault on the synchronous API, in seed 004's error envelope."""
    if rule.fault == "rate_limit":
        return _envelope(429, "rate limited",
                         headers={"Retry-After": _seconds_header(rule.retry_after)})
    if rule.fault == "server_error":
        return _envelope(500, "internal error")
    if rule.fault == "malformed":
        return web.Response(text=MALFORMED_BODY, content_type="application/json")
    if rule.fault == "insufficient_balance":
        return _envelope(402, "Insufficient balance")
    # error_body: HTTP 200 carrying the envelope, as the seed's "500 Success" answer does.
    return web.json_response({"code": str(rule.code), "message": rule.message, "data": None})


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = _state(request)
    kind = _request_kind(request)
    state.request_counts[kind] += 1
    try:
        if kind == "generate":
            style, ok = _ideogram_auth(request, state.config.token)
            state.ideogram_auth.append(style)
            if not ok:
                return _envelope(401, "Invalid API key")
        elif _needs_auth(request, kind) and not _authorized(request, state.config.token):
            return web.json_response(dict(INVALID_TOKEN_BODY), status=401)
        rule = state.faults.take(kind)
        if rule is not None:
            logger.info("fault %s on %s %s", rule.fault, request.method, request.path)
            return await _apply_fault(rule, kind, request, handler)
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return web.json_response({"detail": exc.reason}, status=exc.status, headers=headers)


# -- app and runner ---------------------------------------------------------------------------


def create_app(config: LocalServerConfig) -> web.Application:
    """The aiohttp app. Its :class:`ServerState` is ``app["state"]`` (also ``app[STATE_KEY]``)."""
    app = web.Application(middlewares=[middleware])
    state = ServerState(config)
    app[STATE_KEY] = state
    app[VALIDATORS_KEY] = load_validators()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", web.NotAppKeyWarning)
        app["state"] = state  # the documented string key, for callers without STATE_KEY

    async def close_state(_app: web.Application) -> None:
        await state.aclose()

    app.on_cleanup.append(close_state)
    app.router.add_post("/v1/models/{model:.+}", submit, name="submit")
    app.router.add_get("/v1/requests/{request_id}/status", status, name="status")
    app.router.add_get("/v1/requests/{request_id}/result", result, name="result")
    app.router.add_post("/v1/requests/{request_id}/cancel", cancel, name="cancel")
    app.router.add_post(IDEOGRAM_PATH, ideogram_generate, name="generate")
    app.router.add_get("/files/{file_id}.png", file_download, name="file")
    app.router.add_post("/_control/faults", control_faults, name="control_faults")
    app.router.add_get("/_control/state", control_state, name="control_state")
    return app


class LocalRunComfyServer:
    """Runs the app on ``host`` (127.0.0.1) in the current event loop. Single use:
    ``start()`` once, ``stop()`` once (or ``async with``). ``state`` is usable before start.
    """

    def __init__(
        self, config: LocalServerConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or LocalServerConfig()
        self.app = create_app(self.config)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    async def start(self) -> None:
        """Bind and serve; ``port=0`` picks a free port (see :attr:`base_url`)."""
        if self._runner is not None:
            raise RuntimeError("server already started")
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except OSError:
            await self.stop()
            raise
        host, port = runner.addresses[0][:2]
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        self._base_url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        logger.info("local RunComfy server listening on %s", self._base_url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            logger.info("local RunComfy server stopped")

    @property
    def base_url(self) -> str:
        """E.g. ``"http://127.0.0.1:43121"``; only after :meth:`start`."""
        if self._base_url is None:
            raise RuntimeError("server not started")
        return self._base_url

    @property
    def state(self) -> ServerState:
        """Jobs, faults, request_counts and submit_count of this server."""
        return self.app[STATE_KEY]

    async def __aenter__(self) -> LocalRunComfyServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
