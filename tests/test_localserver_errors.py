"""Every way the local server says no, over real HTTP on 127.0.0.1: a missing or wrong
token, inputs outside the model's schema, a body that is not JSON, and each fault (their
order, and the control endpoint)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from bot.localserver import LocalRunComfyServer
from tests.localserver_client import (
    AUTH,
    GENERATE,
    REFRAME,
    TOKEN,
    get_status,
    submit,
)

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
    assert server.state.faults.pending == []  # used up: the next status is not slowed


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
