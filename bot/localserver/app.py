"""The local server as an aiohttp application, and the runner that serves it on loopback.

:func:`create_app` wires the state, middlewares and routes (:mod:`.routes`);
:class:`LocalRunComfyServer` runs it in the current event loop. The other names imported
from here are re-exported for the callers (tests, the bot's launch path) that import them
from this module; their homes are :mod:`.config`, :mod:`.simulation` and
:mod:`.ideogram_compatible`.
"""

from __future__ import annotations

import logging
from typing import Final

from aiohttp import web

from bot.localserver.access import count_and_answer_errors_as_json, require_token
from bot.localserver.config import LocalServerConfig
from bot.localserver.faults import FAULTS_KEY, Faults, fault_middleware
from bot.localserver.ideogram_compatible import MAGIC_SUFFIX
from bot.localserver.ideogram_requests import ideogram_request_error
from bot.localserver.input_schemas import load_validators
from bot.localserver.routes import VALIDATORS_KEY, add_routes
from bot.localserver.simulation import STATE_KEY, ServerState

__all__ = [
    "MAGIC_SUFFIX",
    "STATE_KEY",
    "LocalRunComfyServer",
    "LocalServerConfig",
    "ServerState",
    "create_app",
    "ideogram_request_error",
]

logger = logging.getLogger(__name__)

#: How long ``stop()`` lets in-flight requests (e.g. a ``slow`` fault) finish.
SHUTDOWN_TIMEOUT: Final = 1.0


def create_app(config: LocalServerConfig) -> web.Application:
    """The aiohttp app. Its :class:`ServerState` is ``app[STATE_KEY]``."""
    app = web.Application(middlewares=[
        count_and_answer_errors_as_json, require_token, fault_middleware,
    ])
    faults = Faults()
    state = ServerState(config, faults)
    app[STATE_KEY] = state
    app[FAULTS_KEY] = faults
    app[VALIDATORS_KEY] = load_validators()

    async def close_state(_app: web.Application) -> None:
        await state.aclose()

    app.on_cleanup.append(close_state)
    add_routes(app.router)
    return app


class LocalRunComfyServer:
    """Runs the app on ``host`` (127.0.0.1) in the current event loop.

    Single use: ``start()`` once, ``stop()`` once (or ``async with``). ``state`` is usable
    before start.
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
        logger.info("local RunComfy-compatible server listening on %s", self._base_url)

    async def stop(self) -> None:
        """Stop serving, letting in-flight requests finish for up to a second."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            logger.info("local RunComfy-compatible server stopped")

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
