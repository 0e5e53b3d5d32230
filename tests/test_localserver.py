"""The local RunComfy-compatible server, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
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
from tests.helpers import serve_on_loopback
from tests.localserver_client import (
    AUTH,
    GENERATE,
    REFRAME,
    TOKEN,
    authed_client,
    get_status,
    submit,
)

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
    async with authed_client(clocked) as c:
        yield c


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
    runner, url = await serve_on_loopback(app)
    yield f"{url}/input.png", hits
    await runner.cleanup()


async def test_reframe_input_on_a_private_address_is_not_fetched(
    server: LocalRunComfyServer, client: httpx.AsyncClient, input_server: tuple[str, list[str]]
) -> None:
    url, hits = input_server  # on 127.0.0.1, and not among the trusted input hosts
    request_id = await submit(client, REFRAME, image=url, resolution="1024:1024 (1:1)",
                              rendering_speed="TURBO", seed=3)
    await poll(client, request_id)
    png = await client.get(f"{server.base_url}/files/{request_id}.png")
    assert png.status_code == 200  # drawn as a placeholder: a crossed-out frame
    assert png_of(png.content).convert("RGB").getpixel((512, 300)) != RED
    assert hits == []  # the guard refused the connection before it was made


async def test_reframe_full_life_draws_the_input_centred(
    server: LocalRunComfyServer, client: httpx.AsyncClient, input_server: tuple[str, list[str]]
) -> None:
    url, hits = input_server
    server.state.config.input_hosts = (url,)  # loopback: fetched only when trusted
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
    job = create_app(fixed)[STATE_KEY].submit("ideogram/ideogram-v2/generate", {"prompt": "x"})
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
