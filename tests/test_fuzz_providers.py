"""Fuzz: random and hostile provider answers (types, nesting, sizes, status words) against
both clients and the tracker, served over real sockets on 127.0.0.1.

Every client call ends in a value or a ProviderError, nothing else; every tracked job ends
(its time limits hold whatever the answers are) and leaves nothing in the tracker.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.inputs import IDEOGRAM_GENERATE_MODEL, IdeogramGenerateInputs
from bot.jobs import JobStatus
from bot.polling import PollingConfig
from bot.providers.errors import ProviderError
from bot.providers.ideogram import IdeogramClient
from bot.providers.retry import RetryPolicy
from bot.providers.runcomfy import RunComfyClient
from bot.store import Store
from bot.tracker import JobTracker, TrackerConfig
from tests.helpers import make_job, run_to_end, tracker_running
from tests.hostile_provider import HostileProvider

FUZZ = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
GENERATE = "ideogram/ideogram-v2/generate"
ONCE = RetryPolicy(attempts=1)

STATUS_WORDS = st.sampled_from(["in_queue", "queued", "in_progress", "running", "completed",
                                "succeeded", "failed", "cancelled", "pending", "starting",
                                "COMPLETED", " failed ", "", "processing"]) | st.text(max_size=30)
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40)
           | STATUS_WORDS | st.sampled_from(["https://img.example/a.png", "http://x/y.png",
                                            "ftp://x/y", "javascript:alert(1)"]))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                           max_leaves=20)
KEYS = st.sampled_from(["status", "request_id", "queue_position", "output", "error",
                        "error_message", "error_code", "detail", "message", "cost",
                        "created_at", "finished_at", "outcome", "data", "code", "created",
                        "url", "is_image_safe", "images", "image", "prompt", "seed"])
ANSWERS = st.dictionaries(KEYS, JSON_VALUES, max_size=8) | JSON_VALUES


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A JSON answer, or one of the shapes that break parsers: deep nesting, huge strings,
    truncated or non-UTF-8 bytes."""
    kind = draw(st.sampled_from(["json", "json", "json", "deep", "huge", "broken"]))
    if kind == "deep":
        depth = draw(st.integers(min_value=500, max_value=60_000))
        opener = draw(st.sampled_from([b"[", b'{"a":']))
        closer = b"]" if opener == b"[" else b"}"
        return b'{"status": ' + opener * depth + b"1" + closer * depth + b"}"
    if kind == "huge":
        # Up to just past the clients' 2 MiB cap on an answer.
        return json.dumps({draw(KEYS): "w" * draw(st.integers(10_000, 2_200_000))}).encode()
    if kind == "broken":
        return draw(st.binary(max_size=64))
    return json.dumps(draw(ANSWERS), allow_nan=True).encode()


def respond(body: bytes, status: int) -> web.Response:
    return web.Response(body=body, status=status, headers={"Content-Type": "application/json"})


def stored() -> dict[str, Any]:
    return IdeogramGenerateInputs(prompt="fuzz", seed=1).to_payload()


@FUZZ
@given(body=bodies(), status=st.sampled_from([200, 201, 400, 401, 402, 404, 422, 429, 500]))
async def test_both_clients_answer_a_value_or_a_provider_error(body: bytes,
                                                               status: int) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        return respond(body, status)

    async with HostileProvider(handle) as server, \
            RunComfyClient(token="t0k-fuzz", base_url=server.url, retry=ONCE,
                           call_deadline=2.0) as client, \
            IdeogramClient(api_key="t0k-fuzz", base_url=server.url, timeout_seconds=2.0,
                           connect_retry=ONCE) as sync:
        for call in (client.submit(GENERATE, {"prompt": "x"}), client.status("r-1"),
                     client.result("r-1"), client.cancel("r-1"),
                     sync.generate(IDEOGRAM_GENERATE_MODEL, stored())):
            try:
                await call
            except ProviderError as exc:
                assert exc.user_message
                assert "t0k-fuzz" not in f"{exc} {exc.detail} {exc.user_message}"


FAST = PollingConfig(first_delay=0.01, backoff=1.5, cap=0.05, near_interval=0.01,
                     min_interval=0.01, default_run_low=0.01, default_run_high=0.1,
                     default_queue=0.05)
JOBS_PER_EXAMPLE = 4


@settings(max_examples=5, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scripts=st.lists(st.lists(st.tuples(bodies(), st.sampled_from([200, 200, 429, 500])),
                                 min_size=1, max_size=4),
                        min_size=JOBS_PER_EXAMPLE, max_size=JOBS_PER_EXAMPLE))
async def test_the_tracker_ends_every_job_whatever_the_answers(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        scripts: list[list[tuple[bytes, int]]]) -> None:
    """Job n's status and result calls get script n's answers in turn (then the last one
    again); its submit gets a valid request id. Nothing but a ProviderError reaches the
    tracker (it would log "failed unexpectedly")."""
    caplog.clear()
    calls: dict[str, int] = {}

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/v1/models/"):
            index = len(calls)
            calls[f"job-{index}"] = 0
            return web.json_response({"request_id": f"job-{index}"})
        request_id = request.path.split("/")[3]
        script = scripts[int(request_id.split("-")[1]) % len(scripts)]
        turn = calls.get(request_id, 0)
        calls[request_id] = turn + 1
        body, status = script[min(turn, len(script) - 1)]
        return respond(body, status)

    async with HostileProvider(handle) as server, \
            await Store.open(tmp_path / f"fuzz-{time.monotonic_ns()}.db") as store:
        client = RunComfyClient(token="t0k", base_url=server.url, retry=ONCE,
                                call_deadline=0.5,
                                timeout=httpx.Timeout(1.0, read=0.5))
        tracker = JobTracker(store, {"runcomfy": client}, config=TrackerConfig(
            queue_timeout=0.3, run_timeout=0.3, cancel_grace=0.5, concurrency=4, polling=FAST))
        try:
            async with tracker_running(tracker):
                ended = await run_to_end(tracker, store, (
                    make_job("fuzz", seed=1, provider="runcomfy")
                    for _ in range(JOBS_PER_EXAMPLE)))
                assert all(j.status in (JobStatus.COMPLETED, JobStatus.FAILED,
                                        JobStatus.CANCELLED) for j in ended)
                assert all(j.status is not JobStatus.FAILED or j.error for j in ended)
                assert tracker.tracked == 0
                assert "unexpectedly" not in caplog.text
        finally:
            await client.aclose()
