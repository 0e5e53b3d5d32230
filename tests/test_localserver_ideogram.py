"""The local server's Ideogram-compatible synchronous API (POST /ideogram/generate), over
real HTTP on 127.0.0.1."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from bot.localserver import LocalRunComfyServer, LocalServerConfig
from bot.localserver.app import MAGIC_SUFFIX

TOKEN = "test-token"
PATH = "/ideogram/generate"


@pytest.fixture
async def server() -> AsyncIterator[LocalRunComfyServer]:
    async with LocalRunComfyServer(LocalServerConfig(token=TOKEN, run_seconds=0.05)) as srv:
        yield srv


@pytest.fixture
async def http(server: LocalRunComfyServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as c:
        yield c


def body(**fields: Any) -> dict[str, Any]:
    return {"image_request": {"prompt": "a lighthouse", **fields}}


BEARER = {"Authorization": f"Bearer {TOKEN}"}


async def test_generate_answers_with_a_real_png(server: LocalRunComfyServer,
                                                http: httpx.AsyncClient) -> None:
    response = await http.post(PATH, headers={"Api-Key": TOKEN},
                               json=body(aspect_ratio="ASPECT_9_16", seed=5, model="V_2",
                                         style_type="DESIGN",
                                         color_palette={"name": "PASTEL"}))
    assert response.status_code == 200
    answer = response.json()
    [item] = answer["data"]
    assert answer["created"].endswith("Z")
    assert item["is_image_safe"] is True and item["seed"] == 5
    assert item["prompt"] == "a lighthouse" + MAGIC_SUFFIX
    assert item["resolution"] == "768x1344"
    png = (await http.get(item["url"])).content
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG" and img.size == (768, 1344)
    [job] = server.state.jobs.values()
    assert png == job.image_bytes and server.state.ideogram_auth == ["api-key"]


async def test_unsafe_prompt_and_magic_prompt_off(http: httpx.AsyncClient) -> None:
    response = await http.post(PATH, headers=BEARER,
                               json=body(prompt="x [unsafe]", magic_prompt_option="OFF"))
    [item] = response.json()["data"]
    assert item["is_image_safe"] is False and item["url"] is None
    assert item["prompt"] == "x [unsafe]"


@pytest.mark.parametrize(("request_body", "message"), [
    ({"prompt": "x"}, "the body must be"),
    (body(colour="red"), "unknown field(s): colour"),
    (body(prompt=""), "prompt is required"),
    (body(model="V_3"), "invalid model"),
    (body(aspect_ratio="16:9"), "invalid aspect_ratio"),
    (body(style_type="anime"), "invalid style_type"),
    (body(seed=-1), "invalid seed"),
    (body(color_palette="EMBER"), "invalid color_palette"),
    (body(model="V_1", style_type="AUTO"), "style_type is not supported by V_1"),
    (body(model="V_1_TURBO", color_palette={"name": "EMBER"}),
     "color_palette is not supported by V_1_TURBO"),
    (body(resolution="RESOLUTION_1024_1024", aspect_ratio="ASPECT_1_1"), "not both"),
])
async def test_invalid_requests_get_the_error_envelope(
        server: LocalRunComfyServer, http: httpx.AsyncClient, request_body: dict[str, Any],
        message: str) -> None:
    response = await http.post(PATH, headers=BEARER, json=request_body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == "400" and answer["data"] is None
    assert message in answer["message"]
    assert not server.state.jobs


async def test_auth_and_faults_use_the_envelope(server: LocalRunComfyServer,
                                                http: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Api-Key": "nope"}):
        response = await http.post(PATH, headers=headers, json=body())
        assert response.status_code == 401
        assert response.json() == {"code": "401", "message": "Invalid API key", "data": None}
    assert server.state.ideogram_auth == ["none", "bearer", "api-key"]

    control = await http.post("/_control/faults", headers=BEARER, json=[
        {"fault": "rate_limit", "kind": "generate", "retry_after": 2},
        {"fault": "insufficient_balance", "kind": "generate"},
        {"fault": "error_body", "kind": "generate", "code": 500, "message": "down"},
    ])
    assert control.status_code == 200
    limited = await http.post(PATH, headers=BEARER, json=body())
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
    assert limited.json()["code"] == "429"
    broke = await http.post(PATH, headers=BEARER, json=body())
    assert broke.status_code == 402 and broke.json()["message"] == "Insufficient balance"
    ok_status = await http.post(PATH, headers=BEARER, json=body())
    assert ok_status.status_code == 200
    assert ok_status.json() == {"code": "500", "message": "down", "data": None}
    failing = await http.post(PATH, headers=BEARER, json=body(prompt="x [fail]"))
    assert failing.status_code == 500
    assert failing.json() == {"code": "500", "message": "simulated failure", "data": None}
    assert server.state.request_counts["generate"] == 7 and not server.state.jobs
    bad = await http.post("/_control/faults", headers=BEARER,
                          json={"fault": "insufficient_balance", "kind": "status"})
    assert bad.status_code == 400
