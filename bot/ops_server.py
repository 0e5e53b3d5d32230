"""``/healthz`` and ``/metrics`` on the bot's own aiohttp server (on when METRICS_PORT is set).

- ``GET /healthz``: 200 with a JSON body when the gateway is connected and the database
  takes a write; 503 with the same body and a ``reason`` otherwise. Each check has a short
  deadline, so a stuck database answers 503, not a hanging request.
- ``GET /metrics``: the Prometheus text format of :data:`bot.metrics.REGISTRY`.

Nothing here knows Discord: the caller passes a function that says how the gateway is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot import metrics

log = logging.getLogger(__name__)

DATABASE_PROBE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class GatewayState:
    """``connected`` false comes with the ``reason``; ``latency`` in seconds when known."""

    connected: bool
    reason: str = ""
    latency: float | None = None


GatewayProbe = Callable[[], GatewayState]
DatabaseProbe = Callable[[], Awaitable[None]]


async def check_health(gateway: GatewayProbe, database: DatabaseProbe, *,
                       probe_seconds: float = DATABASE_PROBE_SECONDS,
                       ) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of one health check."""
    reasons: list[str] = []
    state = gateway()
    if not state.connected:
        reasons.append(f"gateway: {state.reason or 'not connected'}")
    started = time.perf_counter()
    db_error: str | None
    try:
        async with asyncio.timeout(probe_seconds):
            await database()
    except TimeoutError:
        db_ok, db_error = False, f"no answer to a write within {probe_seconds:g} s"
    except Exception as exc:
        db_ok, db_error = False, f"write failed ({type(exc).__name__})"
        log.warning("Health check: the database write probe failed: %s", exc)
    else:
        db_ok, db_error = True, None
    db_ms = round((time.perf_counter() - started) * 1000, 1)
    if not db_ok:
        reasons.append(f"database: {db_error}")
    body: dict[str, Any] = {
        "status": "ok" if not reasons else "unavailable",
        "gateway": {"connected": state.connected,
                    "latency_ms": None if state.latency is None
                    else round(state.latency * 1000, 1)},
        "database": {"writable": db_ok, "probe_ms": db_ms},
    }
    if reasons:
        body["reason"] = "; ".join(reasons)
    return (200 if not reasons else 503), body


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


class SharedProbe:
    """A database probe run as a task of its own, one at a time.

    A health request that stops waiting at its deadline leaves the probe running (a
    cancelled write may take seconds to let go: SQLite's busy timeout, a PostgreSQL
    connection being reset), so it answers 503 on time; requests meanwhile share that
    probe instead of piling more writes on a stuck database.
    """

    def __init__(self, probe: DatabaseProbe) -> None:
        self._probe = probe
        self._task: asyncio.Task[None] | None = None

    async def __call__(self) -> None:
        """Wait for the probe in progress, or start one."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="health-probe")
        await asyncio.shield(self._task)

    async def _run(self) -> None:
        await self._probe()

    async def aclose(self) -> None:
        """Cancel a probe still running, and give it a moment (at most 1 s) to end."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        task.add_done_callback(_retrieve)  # ending later, it leaves no "never retrieved"
        await asyncio.wait({task}, timeout=1.0)


class OpsServer:
    """The health and metrics endpoints; :meth:`start` binds, :meth:`stop` unbinds."""

    def __init__(self, host: str, port: int, gateway: GatewayProbe,
                 database: DatabaseProbe) -> None:
        self.host = host
        self.port = port
        self._gateway = gateway
        self._database = SharedProbe(database)
        self._runner: web.AppRunner | None = None

    @property
    def bound_port(self) -> int | None:
        """The port actually listened on (useful with port 0 in tests)."""
        if self._runner is None or not self._runner.addresses:
            return None
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        """Start serving ``/healthz`` and ``/metrics``."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise OSError(exc.errno, f"cannot listen on {self.host}:{self.port} "
                                     f"({exc.strerror})") from None
        log.info("Health and metrics at http://%s:%s/healthz and /metrics", self.host,
                 self.bound_port)

    async def stop(self) -> None:
        """Stop serving, and end a health probe still running (safe to call twice)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._database.aclose()

    async def _healthz(self, request: web.Request) -> web.Response:
        status, body = await check_health(self._gateway, self._database)
        return web.json_response(body, status=status,
                                 headers={"Cache-Control": "no-store"})

    async def _metrics(self, request: web.Request) -> web.Response:
        payload, content_type = metrics.render()
        response = web.Response(body=payload)
        response.headers["Content-Type"] = content_type
        return response
