"""The local RunComfy-compatible server, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from aiohttp import web
from PIL import Image

from bot.inputs import aspect_ratio_size, resolution_size
from bot.localserver import LocalRunComfyServer, LocalServerConfig, create_app
from bot.localserver.app import STATE_KEY, ServerState

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GENERATE = "/v1/models/ideogram/ideogram-v2/generate"
REFRAME = "/v1/models/ideogram/ideogram-v3/reframe"
WALL_START = 1_700_000_000.0  # 2023-11-14T22:13:20Z
WALL_START_ISO = "2023-11-14T22:13:20.000Z"
RED = (255, 0, 0)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def server() -> AsyncIterator[LocalRunComfyServer]:
    config = LocalServerConfig(token=TOKEN, queue_seconds=0.2, run_seconds=0.3)
    async with LocalRunComfyServer(config) as srv:
        yield srv


@pytest.fixture
async def client(server: LocalRunComfyServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, headers=AUTH, timeout=5) as c:
        yield c


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def clocked(clock: FakeClock) -> AsyncIterator[LocalRunComfyServer]:
    """A server on the fake clock: queue 1 s, run 2 s, created_at from WALL_START."""
    config = LocalServerConfig(token=TOKEN, queue_seconds=1.0, run_seconds=2.0,
                               clock=clock, wall_clock=lambda: WALL_START)
    async with LocalRunComfyServer(config) as srv:
        yield srv


@pytest.fixture
async def cclient(clocked: LocalRunComfyServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=clocked.base_url, headers=AUTH, timeout=5) as c:
        yield c


async def submit(client: httpx.AsyncClient, path: str = GENERATE, **inputs: Any) -> str:
    body = inputs or {"prompt": "a lighthouse at dusk"}
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()["request_id"]


async def get_status(client: httpx.AsyncClient, request_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/requests/{request_id}/status")
    assert response.status_code == 200, response.text
    return response.json()


async def poll(client: httpx.AsyncClient, request_id: str) -> list[dict[str, Any]]:
    """Every status body seen until a terminal one (included); at most 5 s."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        while True:
            body = await get_status(client, request_id)
            seen.append(body)
            if body["status"] in ("completed", "failed", "cancelled"):
                return seen
            await asyncio.sleep(0.02)


def distinct_statuses(bodies: list[dict[str, Any]]) -> list[str]:
    statuses: list[str] = []
    for body in bodies:
        if not statuses or statuses[-1] != body["status"]:
            statuses.append(body["status"])
    return statuses


def png_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image


# -- full lives -------------------------------------------------------------------------------


async def test_generate_full_life(server: LocalRunComfyServer, client: httpx.AsyncClient) -> None:
    response = await client.post(
        GENERATE, json={"prompt": "a lighthouse at dusk", "aspect_ratio": "16:9", "seed": 7}
    )
    assert response.status_code == 200
    receipt = response.json()
    request_id = receipt["request_id"]
    assert uuid.UUID(request_id).version == 4
    base = f"{server.base_url}/v1/requests/{request_id}"
    assert receipt == {
        "request_id": request_id,
        "status_url": f"{base}/status",
        "result_url": f"{base}/result",
        "cancel_url": f"{base}/cancel",
    }

    bodies = await poll(client, request_id)
    assert distinct_statuses(bodies) == ["in_queue", "in_progress", "completed"]
    first = bodies[0]
    assert first["status"] == "in_queue"
    assert first["queue_position"] == 1
    assert "finished_at" not in first
    assert all("queue_position" not in b for b in bodies if b["status"] != "in_queue")
    done = bodies[-1]
    assert set(done) == {"request_id", "status", "created_at", "finished_at"}
    created = datetime.fromisoformat(done["created_at"])
    finished = datetime.fromisoformat(done["finished_at"])
    assert created.utcoffset() is not None and created.utcoffset().total_seconds() == 0
    assert abs((finished - created).total_seconds() - 0.5) < 0.002

    result = (await client.get(f"/v1/requests/{request_id}/result")).json()
    image_url = f"{server.base_url}/files/{request_id}.png"
    assert result == {
        "request_id": request_id,
        "status": "completed",
        "output": {"images": [image_url]},
        "created_at": done["created_at"],
        "finished_at": done["finished_at"],
    }

    async with httpx.AsyncClient(timeout=5) as anonymous:  # files need no token
        first_png, second_png = await asyncio.gather(anonymous.get(image_url),
                                                      anonymous.get(image_url))
    assert first_png.status_code == 200
    assert first_png.headers["content-type"] == "image/png"
    assert png_of(first_png.content).size == aspect_ratio_size("16:9") == (1344, 768)
    job = server.state.jobs[request_id]
    assert first_png.content == second_png.content == job.image_bytes
    completed_at = job.completed_at_monotonic()
    assert completed_at == job.submitted_monotonic + 0.5
    assert completed_at <= time.monotonic()


@pytest.fixture
async def input_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A tiny aiohttp server with a 64×32 red PNG at /input.png; yields (url, hits)."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 32), RED).save(buffer, format="PNG")
    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=buffer.getvalue(), content_type="image/png")

    app = web.Application()
    app.router.add_get("/input.png", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/input.png", hits
    await runner.cleanup()


async def test_reframe_full_life_draws_the_input_centred(
    server: LocalRunComfyServer, client: httpx.AsyncClient, input_server: tuple[str, list[str]]
) -> None:
    url, hits = input_server
    resolution = "1536:640 (12:5)"
    request_id = await submit(client, REFRAME, image=url, resolution=resolution,
                              rendering_speed="TURBO", seed=3)
    bodies = await poll(client, request_id)
    assert distinct_statuses(bodies) == ["in_queue", "in_progress", "completed"]

    response = await client.get(f"/v1/requests/{request_id}/result",
                                params={"include_cost": "true"})
    result = response.json()
    image_url = f"{server.base_url}/files/{request_id}.png"
    assert result == {
        "request_id": request_id,
        "status": "completed",
        "output": {"image": image_url},
        "created_at": bodies[-1]["created_at"],
        "finished_at": bodies[-1]["finished_at"],
        "cost": 0.03,
    }
    assert hits == []  # the input is fetched when the picture is drawn
    png = await client.get(image_url)
    image = png_of(png.content).convert("RGB")
    assert image.size == resolution_size(resolution) == (1536, 640)
    # 2:1 input scaled into 1536×640 → 1280×640, centred: x from 128 to 1408.
    assert image.getpixel((768, 300)) == RED
    assert image.getpixel((200, 100)) == RED
    assert image.getpixel((60, 100)) != RED
    assert hits == ["/input.png"]


async def test_reframe_with_unreachable_input_draws_a_placeholder(
    server: LocalRunComfyServer, client: httpx.AsyncClient
) -> None:
    request_id = await submit(client, REFRAME, image="http://127.0.0.1:1/missing.png",
                              resolution="512:1536 (1:3)")
    assert (await poll(client, request_id))[-1]["status"] == "completed"
    result = (await client.get(f"/v1/requests/{request_id}/result")).json()
    png = await client.get(result["output"]["image"])
    assert png.status_code == 200
    assert png_of(png.content).size == (512, 1536)


# -- queue, cancel, failure (fake clock) ---------------------------------------------------


async def test_queue_position_counts_earlier_queued_jobs(
    clock: FakeClock, cclient: httpx.AsyncClient
) -> None:
    first, second, third = [await submit(cclient) for _ in range(3)]
    assert [(await get_status(cclient, i))["queue_position"] for i in (first, second, third)] \
        == [1, 2, 3]
    clock.advance(0.5)
    fourth = await submit(cclient)
    assert (await get_status(cclient, fourth))["queue_position"] == 4
    cancelled = await cclient.post(f"/v1/requests/{second}/cancel")
    assert cancelled.json() == {"request_id": second, "outcome": "cancelled"}
    assert (await get_status(cclient, third))["queue_position"] == 2
    assert (await get_status(cclient, fourth))["queue_position"] == 3

    clock.advance(0.6)  # t=1.1: the first three left the queue, the fourth queues until 1.5
    assert (await get_status(cclient, first))["status"] == "in_progress"
    assert (await get_status(cclient, third))["status"] == "in_progress"
    assert (await get_status(cclient, fourth)) == {
        "request_id": fourth,
        "status": "in_queue",
        "created_at": WALL_START_ISO,
        "queue_position": 1,
    }


async def test_cancel_while_queued(
    clocked: LocalRunComfyServer, clock: FakeClock, cclient: httpx.AsyncClient
) -> None:
    request_id = await submit(cclient)
    clock.advance(0.25)
    response = await cclient.post(f"/v1/requests/{request_id}/cancel")
    assert response.status_code == 200
    assert response.json() == {"request_id": request_id, "outcome": "cancelled"}
    expected = {
        "request_id": request_id,
        "status": "cancelled",
        "created_at": WALL_START_ISO,
        "finished_at": "2023-11-14T22:13:20.250Z",
    }
    assert await get_status(cclient, request_id) == expected
    clock.advance(5)  # past queue and run: still cancelled
    assert await get_status(cclient, request_id) == expected
    assert (await cclient.get(f"/v1/requests/{request_id}/result")).json() == expected
    again = await cclient.post(f"/v1/requests/{request_id}/cancel")
    assert again.json() == {"request_id": request_id, "outcome": "not_cancellable"}
    png = await cclient.get(f"/files/{request_id}.png")
    assert (png.status_code, png.json()) == (404, {"detail": "file not found"})
    assert clocked.state.jobs[request_id].completed_at_monotonic() is None


async def test_cancel_while_running_is_not_cancellable(
    clocked: LocalRunComfyServer, clock: FakeClock, cclient: httpx.AsyncClient
) -> None:
    request_id = await submit(cclient)
    clock.advance(1.5)
    assert (await get_status(cclient, request_id))["status"] == "in_progress"
    response = await cclient.post(f"/v1/requests/{request_id}/cancel")
    assert response.json() == {"request_id": request_id, "outcome": "not_cancellable"}
    clock.advance(1.5)
    assert await get_status(cclient, request_id) == {
        "request_id": request_id,
        "status": "completed",
        "created_at": WALL_START_ISO,
        "finished_at": "2023-11-14T22:13:23.000Z",
    }
    job = clocked.state.jobs[request_id]
    assert job.completed_at_monotonic() == 503.0
    after = await cclient.post(f"/v1/requests/{request_id}/cancel")
    assert after.json() == {"request_id": request_id, "outcome": "not_cancellable"}


async def test_unknown_request_is_404(cclient: httpx.AsyncClient) -> None:
    missing = str(uuid.uuid4())
    for method, suffix in (("GET", "status"), ("GET", "result"), ("POST", "cancel")):
        response = await cclient.request(method, f"/v1/requests/{missing}/{suffix}")
        assert (response.status_code, response.json()) == (404, {"detail": "request not found"})
    png = await cclient.get(f"/files/{missing}.png")
    assert (png.status_code, png.json()) == (404, {"detail": "file not found"})


async def test_fail_marker_ends_failed(
    server: LocalRunComfyServer, client: httpx.AsyncClient
) -> None:
    request_id = await submit(client, prompt="a robot [fail] on purpose")
    bodies = await poll(client, request_id)
    assert distinct_statuses(bodies) == ["in_queue", "in_progress", "failed"]
    failed = bodies[-1]
    assert set(failed) == {"request_id", "status", "created_at", "finished_at", "error"}
    assert failed["error"] == "simulated failure"
    result = await client.get(f"/v1/requests/{request_id}/result",
                              params={"include_cost": "true"})
    assert result.json() == failed
    assert (await client.get(f"/files/{request_id}.png")).status_code == 404
    assert server.state.jobs[request_id].completed_at_monotonic() is None


async def test_fail_jobs_fault_fails_only_the_next_submits(
    clocked: LocalRunComfyServer, clock: FakeClock, cclient: httpx.AsyncClient
) -> None:
    clocked.state.faults.fail_jobs(1)
    doomed, fine = await submit(cclient), await submit(cclient)
    clock.advance(3)
    assert (await get_status(cclient, doomed))["status"] == "failed"
    assert (await get_status(cclient, doomed))["error"] == "simulated failure"
    assert (await get_status(cclient, fine))["status"] == "completed"


# -- auth and validation --------------------------------------------------------------------


async def test_bad_or_missing_token_is_401(
    server: LocalRunComfyServer, client: httpx.AsyncClient
) -> None:
    invalid = {"error_code": 400004, "error_message": "Invalid API token"}
    cases: list[dict[str, str]] = [
        {}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Token {TOKEN}"},
        {"Authorization": "Bearer"},
    ]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as anonymous:
        for headers in cases:
            response = await anonymous.post(GENERATE, json={"prompt": "x"}, headers=headers)
            assert (response.status_code, response.json()) == (401, invalid), headers
        status = await anonymous.get(f"/v1/requests/{uuid.uuid4()}/status")
        assert (status.status_code, status.json()) == (401, invalid)
        control = await anonymous.post("/_control/faults", json={"clear": True})
        assert control.status_code == 401
    assert server.state.jobs == {}
    assert server.state.submit_count == 4
    assert server.state.request_counts["status"] == 1
    assert (await client.post(GENERATE, json={"prompt": "x"})).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "detail"),
    [
        (GENERATE, {"prompt": "x", "aspect_ratio": "7:5"},
         "aspect_ratio: '7:5' is not one of ['3:1', '16:9', '16:10', '3:2', '4:3', '1:1', "
         "'3:4', '2:3', '10:16', '9:16', '1:3']"),
        (GENERATE, {"prompt": "x", "seed": -1}, "seed: -1 is less than the minimum of 0"),
        (GENERATE, {"prompt": "x", "seed": 2147483648},
         "seed: 2147483648 is greater than the maximum of 2147483647"),
        (GENERATE, {"prompt": "x", "expand_prompt": "yes"},
         "expand_prompt: 'yes' is not of type 'boolean'"),
        (GENERATE, {"style": "auto"}, "'prompt' is a required property"),
        (GENERATE, ["prompt"], "['prompt'] is not of type 'object'"),
        (REFRAME, {"image": "http://127.0.0.1/a.png"}, "'resolution' is a required property"),
        (REFRAME, {"image": "http://127.0.0.1/a.png", "resolution": "1024:1024 (1:1)",
                   "rendering_speed": "FAST"},
         "rendering_speed: 'FAST' is not one of ['TURBO', 'BALANCED', 'QUALITY']"),
    ],
)
async def test_schema_invalid_input_is_422(
    server: LocalRunComfyServer, client: httpx.AsyncClient, path: str, body: Any, detail: str
) -> None:
    response = await client.post(path, json=body)
    assert (response.status_code, response.json()) == (422, {"detail": detail})
    assert server.state.jobs == {}


async def test_non_json_body_and_unknown_model(
    server: LocalRunComfyServer, client: httpx.AsyncClient
) -> None:
    response = await client.post(GENERATE, content=b"prompt=hello")
    assert (response.status_code, response.json()) == (
        400, {"detail": "request body is not valid JSON"})
    response = await client.post("/v1/models/ideogram/ideogram-v9/generate",
                                 json={"prompt": "x"})
    assert (response.status_code, response.json()) == (
        404, {"detail": "model not found: ideogram/ideogram-v9/generate"})
    wrong_method = await client.get(GENERATE)
    assert (wrong_method.status_code, wrong_method.json()) == (
        405, {"detail": "Method Not Allowed"})
    assert server.state.jobs == {}


# -- faults ---------------------------------------------------------------------------------


async def test_rate_limit_fault_per_kind(
    server: LocalRunComfyServer, client: httpx.AsyncClient
) -> None:
    server.state.faults.rate_limit(2, kind="status", retry_after=3)
    request_id = await submit(client)  # a submit is not a status request
    for _ in range(2):
        response = await client.get(f"/v1/requests/{request_id}/status")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "3"
        assert response.json() == {"detail": "rate limited"}
    assert (await client.get(f"/v1/requests/{request_id}/status")).status_code == 200
    assert server.state.request_counts["status"] == 3
    assert server.state.faults.pending == []


async def test_rate_limited_submit_creates_no_job(
    server: LocalRunComfyServer, client: httpx.AsyncClient
) -> None:
    server.state.faults.rate_limit(retry_after=0.5)
    response = await client.post(GENERATE, json={"prompt": "x"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "0.5"
    assert server.state.jobs == {}
    await submit(client)
    assert (server.state.submit_count, len(server.state.jobs)) == (2, 1)


async def test_server_error_fault(server: LocalRunComfyServer, client: httpx.AsyncClient) -> None:
    request_id = await submit(client)
    server.state.faults.server_error(1)
    response = await client.get(f"/v1/requests/{request_id}/result")
    assert (response.status_code, response.json()) == (500, {"detail": "internal error"})
    assert (await client.get(f"/v1/requests/{request_id}/result")).status_code == 200


async def test_slow_submit_still_creates_the_job(server: LocalRunComfyServer) -> None:
    server.state.faults.slow(0.5, kind="submit")
    async with httpx.AsyncClient(base_url=server.base_url, headers=AUTH, timeout=0.15) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.post(GENERATE, json={"prompt": "accepted, then too slow"})
    assert server.state.submit_count == 1
    [job] = server.state.jobs.values()
    assert job.inputs == {"prompt": "accepted, then too slow"}


async def test_slow_status_answers_after_the_delay(
    server: LocalRunComfyServer, client: httpx.AsyncClient
) -> None:
    request_id = await submit(client)
    server.state.faults.slow(0.3, kind="status")
    started = time.monotonic()
    body = await get_status(client, request_id)
    assert time.monotonic() - started >= 0.3
    assert body["request_id"] == request_id
    started = time.monotonic()
    await get_status(client, request_id)
    assert time.monotonic() - started < 0.25


async def test_malformed_fault(server: LocalRunComfyServer, client: httpx.AsyncClient) -> None:
    request_id = await submit(client)
    server.state.faults.malformed(kind="result")
    response = await client.get(f"/v1/requests/{request_id}/result")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.text == "{not json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


async def test_insufficient_balance_fault(
    server: LocalRunComfyServer, client: httpx.AsyncClient
) -> None:
    server.state.faults.insufficient_balance(1)
    response = await client.post(GENERATE, json={"prompt": "x"})
    assert (response.status_code, response.json()) == (
        402, {"error_code": 400002, "error_message": "Insufficient balance"})
    assert server.state.jobs == {}
    await submit(client)
    assert len(server.state.jobs) == 1


async def test_error_body_fault(server: LocalRunComfyServer, client: httpx.AsyncClient) -> None:
    request_id = await submit(client)
    server.state.faults.error_body(1, kind="status")
    response = await client.get(f"/v1/requests/{request_id}/status")
    assert (response.status_code, response.json()) == (
        200, {"error_code": 500001, "error_message": "something"})


async def test_faults_apply_oldest_first_one_per_request(
    server: LocalRunComfyServer, client: httpx.AsyncClient
) -> None:
    request_id = await submit(client)
    server.state.faults.server_error(1)
    server.state.faults.rate_limit(1)
    server.state.faults.server_error(1, kind="file")
    codes = [(await client.get(f"/v1/requests/{request_id}/status")).status_code
             for _ in range(3)]
    assert codes == [500, 429, 200]
    assert [rule.kind for rule in server.state.faults.pending] == ["file"]


async def test_control_endpoint_sets_and_clears_faults(
    server: LocalRunComfyServer, client: httpx.AsyncClient
) -> None:
    response = await client.post("/_control/faults", json=[
        {"fault": "rate_limit", "count": 2, "kind": "cancel", "retry_after": 4},
        {"fault": "fail_jobs", "count": 1},
    ])
    assert response.status_code == 200
    assert response.json() == {
        "pending": [{"fault": "rate_limit", "remaining": 2, "kind": "cancel",
                     "retry_after": 4.0, "seconds": 0.0, "code": 500001,
                     "message": "something"}],
        "fail_next_submits": 1,
    }
    request_id = await submit(client, prompt="fails by control")
    assert server.state.jobs[request_id].will_fail
    cancel = await client.post(f"/v1/requests/{request_id}/cancel")
    assert (cancel.status_code, cancel.headers["Retry-After"]) == (429, "4")

    bad = await client.post("/_control/faults", json=[{"fault": "server_error"},
                                                      {"fault": "explode"}])
    assert bad.status_code == 400
    assert bad.json()["detail"].startswith("unknown fault 'explode'")
    bad_count = await client.post("/_control/faults", json={"fault": "slow", "count": 0})
    assert bad_count.json() == {"detail": "count must be a positive integer, not 0"}
    assert [rule.fault for rule in server.state.faults.pending] == ["rate_limit"]

    cleared = await client.post("/_control/faults", json={"clear": True})
    assert cleared.json() == {"pending": [], "fail_next_submits": 0}
    state = (await client.get("/_control/state")).json()
    assert state["submit_count"] == 1
    assert state["request_counts"]["control"] == 5
    assert state["jobs"][0]["request_id"] == request_id


# -- cost, timings, counters ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "inputs", "cost"),
    [
        (GENERATE, {"prompt": "x"}, 0.08),
        (REFRAME, {"image": "http://127.0.0.1:1/a.png", "resolution": "1024:1024 (1:1)",
                   "rendering_speed": "TURBO"}, 0.03),
        (REFRAME, {"image": "http://127.0.0.1:1/a.png", "resolution": "1024:1024 (1:1)"},
         0.06),
        (REFRAME, {"image": "http://127.0.0.1:1/a.png", "resolution": "1024:1024 (1:1)",
                   "rendering_speed": "QUALITY"}, 0.09),
    ],
)
async def test_include_cost(
    clock: FakeClock, cclient: httpx.AsyncClient, path: str, inputs: dict[str, Any], cost: float
) -> None:
    request_id = await submit(cclient, path, **inputs)
    url = f"/v1/requests/{request_id}/result"
    early = (await cclient.get(url, params={"include_cost": "true"})).json()
    assert early["status"] == "in_queue" and "cost" not in early
    clock.advance(3)
    assert (await cclient.get(url, params={"include_cost": "true"})).json()["cost"] == cost
    assert "cost" not in (await cclient.get(url)).json()


async def test_random_timings_are_seeded_and_in_range() -> None:
    def timings(seed: int) -> list[tuple[float, float]]:
        config = LocalServerConfig(queue_seconds=(0, 20), run_seconds=(5, 15), seed=seed)
        state: ServerState = create_app(config)[STATE_KEY]
        jobs = [state.submit("ideogram/ideogram-v2/generate", {"prompt": "x"})
                for _ in range(20)]
        return [(job.queue_seconds, job.run_seconds) for job in jobs]

    first = timings(11)
    assert first == timings(11)
    assert first != timings(12)
    assert all(0 <= q <= 20 and 5 <= r <= 15 for q, r in first)
    assert len({q for q, _ in first}) == 20

    fixed = LocalServerConfig(queue_seconds=lambda: 0.75, run_seconds=4)
    job = create_app(fixed)["state"].submit("ideogram/ideogram-v2/generate", {"prompt": "x"})
    assert (job.queue_seconds, job.run_seconds) == (0.75, 4.0)


async def test_request_counts_per_kind(
    clocked: LocalRunComfyServer, clock: FakeClock, cclient: httpx.AsyncClient
) -> None:
    request_id = await submit(cclient)
    await get_status(cclient, request_id)
    await get_status(cclient, request_id)
    await cclient.get(f"/v1/requests/{request_id}/result")
    await cclient.post(f"/v1/requests/{request_id}/cancel")
    await cclient.get("/v1/nothing-here")
    assert dict(clocked.state.request_counts) == {
        "submit": 1, "status": 2, "result": 1, "cancel": 1, "other": 1,
    }


async def test_server_lifecycle() -> None:
    server = LocalRunComfyServer(LocalServerConfig(token=TOKEN))
    with pytest.raises(RuntimeError):
        _ = server.base_url
    await server.start()
    try:
        assert server.base_url.startswith("http://127.0.0.1:")
        with pytest.raises(RuntimeError):
            await server.start()
        async with httpx.AsyncClient(base_url=server.base_url, headers=AUTH) as c:
            assert (await c.get(f"/v1/requests/{uuid.uuid4()}/status")).status_code == 404
    finally:
        await server.stop()
    async with httpx.AsyncClient(base_url=server.base_url) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("/files/x.png")
