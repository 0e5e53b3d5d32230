"""Run the real ``python -m bot`` as a child process against a fake Discord on loopback.

The child gets a clean environment (none of the developer's bot settings leak in, and it
runs in the database's folder, so no ``.env`` is read) with ``DISCORD_API_BASE`` pointing
at the :class:`~tests.harness.server.FakeDiscord`: it logs in over REST, syncs its
commands, asks ``GET /gateway/bot`` for the websocket and connects to the fake gateway.

Typical use::

    async with BotProcess(fake, bot_process_env(fake, db, provider=local_server)) as bot:
        record = await bot.send(chat_input("ideogram", {"prompt": "a cat"}))
        await fake.wait_for(method="POST", path=r"/callback$")
        await bot.kill()             # SIGKILL, as a crash would
        await bot.start()            # the same environment, so the same database file

Output (stdout and stderr) goes to a log file, read with :meth:`BotProcess.output`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from bot.config import Settings
from tests.harness.waiting import eventually

if TYPE_CHECKING:
    from bot.localserver.app import LocalRunComfyServer
    from tests.harness.gateway import GatewaySession
    from tests.harness.records import InteractionRecord
    from tests.harness.server import FakeDiscord

REPO_ROOT = Path(__file__).resolve().parents[2]
BOT_TOKEN = "harness-bot-token"  # what the fake accepts; never a real token
#: Wait at most this long for a start (imports, login, command sync, READY).
START_TIMEOUT = 30.0

_log_numbers = itertools.count(1)


def bot_process_env(
    fake: FakeDiscord,
    database: Path,
    *,
    provider: LocalRunComfyServer | None = None,
    **overrides: str,
) -> dict[str, str]:
    """The environment of a ``python -m bot`` child: the fake Discord, the SQLite file
    *database*, and RunComfy's model API at *provider* (a started local server; without
    one the bot starts its own local preview provider). *overrides* add or replace
    variables (e.g. ``LOG_LEVEL="DEBUG"``)."""
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env |= {
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        "DISCORD_TOKEN": BOT_TOKEN,
        "DISCORD_API_BASE": fake.api_base,
        "DATABASE_URL": f"sqlite:///{database}",
        "LOG_LEVEL": "INFO",
    }
    if provider is not None:
        env |= {"RUNCOMFY_API_TOKEN": provider.config.token, "RUNCOMFY_BASE_URL": provider.base_url}
    return env | overrides


class BotProcess:
    """One bot, run as ``python -m bot``, started and stopped as often as a test needs.

    Every :meth:`start` runs a new process with the same environment (so the same database
    file: a restart) and waits until it synced its commands and its gateway session(s) for
    *shards* are READY. :meth:`kill` is a crash (SIGKILL), :meth:`terminate` a stop
    (SIGTERM). Leaving ``async with`` kills a process still running."""

    def __init__(
        self,
        fake: FakeDiscord,
        env: Mapping[str, str],
        *,
        shards: tuple[int, ...] = (0,),
        wait_for_sync: bool = True,
        workdir: Path | None = None,
        launcher: Sequence[str] = (),
    ) -> None:
        self.fake = fake
        self.env = dict(env)
        self.shards = shards
        self.wait_for_sync = wait_for_sync
        if workdir is None:
            url = self.env.get("DATABASE_URL", "")
            if not url.startswith("sqlite:///"):
                raise ValueError("pass workdir=: DATABASE_URL names no SQLite file to run beside")
            workdir = Path(url.removeprefix("sqlite:///")).parent
        self.workdir = workdir
        #: A command that runs ``python -m bot`` inside it, e.g. ``unshare --pid --fork``.
        self.launcher = tuple(launcher)
        self.process: asyncio.subprocess.Process | None = None
        self.sessions: list[GatewaySession] = []
        self.log_paths: list[Path] = []

    # ------------------------------------------------------------- life cycle

    async def start(self, *, timeout: float = START_TIMEOUT) -> list[GatewaySession]:  # noqa: ASYNC109
        """Start a new process and wait until it is ready; returns its gateway sessions."""
        if self.running:
            raise RuntimeError("the bot process is already running")
        log_path = self.workdir / f"bot-process-{next(_log_numbers)}.log"
        self.log_paths.append(log_path)
        sessions_before = len(self.fake.gateway.sessions)
        requests_before = len(self.fake.requests)
        with log_path.open("wb") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                *self.launcher, sys.executable, "-m", "bot",
                env=self.env, cwd=self.workdir,
                stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=asyncio.subprocess.STDOUT,
            )
        ready = asyncio.create_task(self._ready(sessions_before, requests_before, timeout))
        exited = asyncio.create_task(self.process.wait())
        try:
            done, _ = await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
            if not ready.done():
                ready.cancel()
        if ready not in done:
            raise AssertionError(
                f"python -m bot exited with {self.process.returncode} before it was ready:\n"
                f"{self.output()}"
            )
        try:
            self.sessions = ready.result()
        except (AssertionError, TimeoutError) as exc:
            await self.kill()
            raise AssertionError(f"{exc}\n--- bot output ---\n{self.output()}") from None
        return self.sessions

    async def _ready(
        self, sessions_before: int, requests_before: int, timeout: float  # noqa: ASYNC109
    ) -> list[GatewaySession]:
        async with asyncio.timeout(timeout):
            if self.wait_for_sync:
                await self.fake.wait_for(
                    method="PUT", path=r"^/applications/\d+/(guilds/\d+/)?commands$",
                    since=requests_before, timeout=timeout,
                )
            return await self.fake.gateway.wait_ready(
                self.shards, since=sessions_before, timeout=timeout
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the bot process was never started")
        return self.process.pid

    async def kill(self) -> int:
        """SIGKILL the process (a crash: nothing is flushed or closed) and reap it."""
        return await self._signal(signal.SIGKILL, timeout=10.0)

    async def terminate(self, *, timeout: float = 15.0) -> int:  # noqa: ASYNC109
        """SIGTERM the process and wait up to *timeout* seconds for it to exit; returns the
        exit code (AssertionError, after a SIGKILL, if it did not exit in time)."""
        return await self._signal(signal.SIGTERM, timeout=timeout)

    async def _signal(self, signum: signal.Signals, *, timeout: float) -> int:  # noqa: ASYNC109
        process = self.process
        if process is None:
            raise RuntimeError("the bot process was never started")
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)
        try:
            async with asyncio.timeout(timeout):
                return await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(
                f"python -m bot did not exit within {timeout}s of {signum.name}:\n{self.output()}"
            ) from None

    async def restart(self, *, timeout: float = START_TIMEOUT) -> list[GatewaySession]:  # noqa: ASYNC109
        """Kill the process if it still runs, then start a new one on the same database."""
        if self.running:
            await self.kill()
        return await self.start(timeout=timeout)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.running:
            await self.kill()

    # ------------------------------------------------------------ interaction

    async def send(self, payload: Mapping[str, Any]) -> InteractionRecord:
        """Deliver an interaction (built by :func:`chat_input` and friends) through the
        fake gateway to this bot; returns the fake's record of it."""
        if not self.running:
            raise RuntimeError("the bot process is not running")
        return await self.fake.gateway.push_interaction(payload)

    async def wait_for_output(
        self, pattern: str, *, timeout: float = 10.0  # noqa: ASYNC109
    ) -> re.Match[str]:
        """Wait until the latest run's output matches the regex *pattern* (e.g. the
        ``Logged in as`` line that follows ``on_ready``); returns the match."""
        compiled = re.compile(pattern)
        try:
            return await eventually(
                lambda: compiled.search(self.output()), timeout=timeout, interval=0.02
            )
        except AssertionError:
            raise AssertionError(
                f"the bot did not print {pattern!r} within {timeout}s:\n{self.output()}"
            ) from None

    def output(self, *, all_runs: bool = False) -> str:
        """What the bot printed: the latest run, or every run (*all_runs*) in order."""
        paths = self.log_paths if all_runs else self.log_paths[-1:]
        return "".join(p.read_text("utf-8", "replace") for p in paths if p.exists())
