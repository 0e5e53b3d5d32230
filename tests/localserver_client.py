"""Talking to the local RunComfy-compatible server in its tests: a token, the model paths,
an authenticated client, submit and status."""

from __future__ import annotations

from typing import Any

import httpx

from bot.localserver import LocalRunComfyServer, LocalServerConfig

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GENERATE = "/v1/models/ideogram/ideogram-v2/generate"
REFRAME = "/v1/models/ideogram/ideogram-v3/reframe"


def quick_config() -> LocalServerConfig:
    """Real time: queue 0.2 s, run 0.3 s."""
    return LocalServerConfig(token=TOKEN, queue_seconds=0.2, run_seconds=0.3)


def authed_client(server: LocalRunComfyServer) -> httpx.AsyncClient:
    """A client of ``server`` that sends the right token."""
    return httpx.AsyncClient(base_url=server.base_url, headers=AUTH, timeout=5)


async def submit(client: httpx.AsyncClient, path: str = GENERATE, **inputs: Any) -> str:
    body = inputs or {"prompt": "a lighthouse at dusk"}
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["request_id"])


async def get_status(client: httpx.AsyncClient, request_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/requests/{request_id}/status")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
