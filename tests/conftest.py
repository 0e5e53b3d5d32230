"""Shared fixtures: the local RunComfy-compatible server on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.localserver.app import LocalRunComfyServer, LocalServerConfig

TOKEN = "rc-test-token-5f1d2c9a"


@pytest.fixture
async def local_server() -> AsyncIterator[LocalRunComfyServer]:
    server = LocalRunComfyServer(LocalServerConfig(token=TOKEN, queue_seconds=0.3,
                                                   run_seconds=0.4))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
