"""The shared helpers of the tests (fixtures live in conftest.py).

* servers: :func:`local_provider` (the local RunComfy-compatible server with the tests'
  token), :func:`serve_on_loopback` (any aiohttp app on a free 127.0.0.1 port),
  :func:`free_port` (one nothing listens on);
* the bot: :func:`ideogram_bot` runs the real IdeogramBot against the fake Discord and the
  local provider server, on a real SQLite file (:func:`build_bot` builds one,
  :func:`start_unmanaged_bot` starts one a test will kill);
* jobs: :func:`make_job` builds one; :func:`wait_for_job` and :func:`wait_delivered` wait
  for one in a running bot's store; :class:`Recorder` follows a tracker's events;
  :func:`tracker_running` starts a tracker and stops it at the end; :func:`run_to_end`
  submits jobs and waits until all have ended;
* what Discord was told: :func:`answer`, :func:`run_command`, :func:`callback`,
  :func:`custom_ids`, :func:`final_edit`;
* the database file: :func:`db_rows`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.config import load_settings
from bot.inputs import GenerateInputs, IdeogramGenerateInputs
from bot.jobs import JobRecord, JobStatus, new_job_id
from bot.localserver.app import LocalRunComfyServer, LocalServerConfig
from bot.net import AllowList, SafeFetcher
from bot.polling import PollingConfig
from bot.providers.retry import RetryPolicy
from bot.store import Store
from bot.tracker import JobEvent, JobTracker
from cogs.core.bot import IdeogramBot
from cogs.core.services import build_services
from tests.harness import (
    FakeDiscord,
    RecordedRequest,
    chat_input,
    dispatch,
    eventually,
    ids,
    running_bot,
)

TOKEN = "rc-test-token-5f1d2c9a"  # the local provider server's token in tests

#: Retries for a local provider on loopback: one more try, at once.
FAST_RETRY = RetryPolicy(attempts=2, base_delay=0.01)
#: Polling for a local provider that finishes in tenths of a second.
FAST_POLLING = PollingConfig(first_delay=0.05, backoff=1.5, cap=0.3, near_interval=0.05,
                             min_interval=0.02, default_run_low=0.1, default_run_high=2.0)


# ---------------------------------------------------------------------------- servers


def local_provider(*, queue_seconds: float = 0.3, run_seconds: float = 0.4
                   ) -> LocalRunComfyServer:
    """The local RunComfy-compatible server with the tests' token, not started yet: use it
    as ``async with local_provider() as server:``."""
    return LocalRunComfyServer(LocalServerConfig(token=TOKEN, queue_seconds=queue_seconds,
                                                 run_seconds=run_seconds))


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (as this returns)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def serve_on_loopback(app: web.Application) -> tuple[web.AppRunner, str]:
    """Start *app* on a free port of 127.0.0.1: its runner (``await runner.cleanup()``
    stops it) and its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


# ---------------------------------------------------------------------------- the bot


async def build_bot(fake: FakeDiscord, provider: LocalRunComfyServer, db: Path, *,
                    min_edit_interval: float = 0.0, queue_timeout: float = 600.0,
                    ideogram: bool = False, ideogram_auth: str = "bearer",
                    default_provider: str = "runcomfy", runcomfy: bool = True,
                    ) -> IdeogramBot:
    """A fully wired bot on a real SQLite file, not yet logged in (see :func:`ideogram_bot`);
    its services come from ``build_services``, as in production.

    ``ideogram``: also serve the synchronous API (the local server's ``/ideogram/generate``,
    with ``ideogram_auth``); ``default_provider``: ``PROVIDER``; ``runcomfy=False``: no
    RunComfy at all (as with PROVIDER=ideogram and no RUNCOMFY_API_TOKEN).
    """
    env: dict[str, object] = {"PROVIDER": default_provider}
    if runcomfy:
        env |= {"RUNCOMFY_API_TOKEN": TOKEN, "RUNCOMFY_BASE_URL": provider.base_url}
    if ideogram:
        env |= {"IDEOGRAM_BASE_URL": provider.base_url, "IDEOGRAM_API_KEY": TOKEN,
                "IDEOGRAM_AUTH": ideogram_auth}
    settings = load_settings(None, DISCORD_TOKEN="harness-bot-token",
                             DATABASE_URL=f"sqlite:///{db}", IDEOGRAM_TIMEOUT_SECONDS=10,
                             JOB_QUEUE_TIMEOUT_SECONDS=queue_timeout, **env)
    services = await build_services(settings, retry=FAST_RETRY, polling=FAST_POLLING)
    # The fake Discord (standing in for Discord's CDN) lives on 127.0.0.1 too: allowed by
    # name, as the bot allows its configured provider.
    await services.downloads.aclose()
    services.downloads = SafeFetcher(allow=AllowList.of([provider.base_url, fake.url]))
    return IdeogramBot(settings, services, min_edit_interval=min_edit_interval)


@contextlib.asynccontextmanager
async def ideogram_bot(fake: FakeDiscord, provider: LocalRunComfyServer, db: Path,
                       **options: Any) -> AsyncIterator[IdeogramBot]:
    """A fully wired bot (see :func:`build_bot`), logged in to the fake Discord and closed
    at the end; a second one on the same file = a restart."""
    bot = await build_bot(fake, provider, db, **options)
    try:
        async with running_bot(fake, bot) as running:
            yield running
            await running.result_delivery.wait_idle()
    finally:
        await bot.services.aclose()


async def start_unmanaged_bot(fake: FakeDiscord, provider: LocalRunComfyServer, db: Path,
                              **options: Any) -> IdeogramBot:
    """A bot logged in to the fake like :func:`ideogram_bot`, but nobody will close it:
    for tests that kill it (:mod:`tests.process_death`)."""
    bot = await build_bot(fake, provider, db, **options)
    await bot.login("harness-bot-token")  # runs setup_hook
    state: Any = bot._connection
    for guild in fake.guilds.values():
        if state._get_guild(int(guild["id"])) is None:
            state._add_guild_from_data(copy.deepcopy(guild))
    bot._ready.set()
    return bot


# --------------------------------------------------------------------------- jobs


def make_job(prompt: str = "a lighthouse at dusk", *, seed: int = 1234, provider: str = "local",
             guild_id: int = 1, channel_id: int = 2, user_id: int = 3) -> JobRecord:
    """An /ideogram job (RunComfy's generate model) as the launch path stores it."""
    inputs = GenerateInputs(prompt=prompt, seed=seed)
    return JobRecord(id=new_job_id(), provider=provider, model=inputs.model, guild_id=guild_id,
                     channel_id=channel_id, user_id=user_id, inputs=inputs.to_payload(),
                     seed=inputs.seed)


def make_sync_job(prompt: str = "a lighthouse at dusk", *, guild_id: int = 1) -> JobRecord:
    """An /ideogram job for the Ideogram-compatible synchronous API."""
    inputs = IdeogramGenerateInputs(prompt=prompt, seed=1234, ideogram_model="V_2_TURBO")
    return JobRecord(id=new_job_id(), provider="ideogram", model=inputs.model, guild_id=guild_id,
                     channel_id=2, user_id=3, inputs=inputs.to_payload(), seed=inputs.seed)


def delivered(job: JobRecord) -> bool:
    return job.delivered_at is not None


async def wait_for_job(bot: IdeogramBot, predicate: Callable[[JobRecord], object], *,
                       user_id: int | None = None, newest_only: bool = False,
                       limit: float = 10.0) -> JobRecord:
    """The newest job of the test guild (of ``user_id``, when given) matching ``predicate``;
    with ``newest_only``, wait until the newest job itself matches."""
    count = 1 if newest_only else 20

    async def matching() -> JobRecord | None:
        jobs = await (bot.store.jobs_for_guild(ids.GUILD_ID, limit=count) if user_id is None
                      else bot.store.jobs_for_user(ids.GUILD_ID, user_id, limit=count))
        return next((job for job in jobs if predicate(job)), None)

    return await eventually(matching, timeout=limit, interval=0.02, what="a matching job")


async def wait_delivered(bot: IdeogramBot, job_id: str | None = None, *,
                         user_id: int | None = ids.USER_ID, newest_only: bool = False,
                         limit: float = 10.0) -> JobRecord:
    """The job *job_id* once delivered; without it, the newest delivered job of *user_id*
    (``newest_only``: wait until the user's newest job is delivered)."""
    if job_id is None:
        return await wait_for_job(bot, delivered, user_id=user_id, newest_only=newest_only,
                                  limit=limit)

    async def done() -> JobRecord | None:
        job = await bot.store.get_job(job_id)
        return job if job is not None and delivered(job) else None

    return await eventually(done, timeout=limit, interval=0.02, what=f"job {job_id} delivered")


async def queued_and_shown(fake: FakeDiscord, bot: IdeogramBot,
                           provider: LocalRunComfyServer,
                           options: Mapping[str, Any] | None = None,
                           **context: Any) -> dict[str, Any]:
    """Run ``/ideogram`` (default: a heron) with a queue long enough to act on its reply
    before the result comes: its payload, once the first progress edit is shown."""
    provider.state.config.queue_seconds = 0.8
    payload = chat_input("ideogram", dict(options or {"prompt": "a heron"}), **context)
    await dispatch(bot, payload)
    await fake.wait_for(method="PATCH", path=r"/messages/@original$")
    return payload


async def delivered_result(fake: FakeDiscord, bot: IdeogramBot,
                           options: Mapping[str, Any] | None = None
                           ) -> tuple[JobRecord, dict[str, Any]]:
    """Run ``/ideogram`` with *options* (default: a kite, seed 7) until its result is
    delivered: the job, and its reply as Discord holds it (with the result's buttons)."""
    payload = chat_input("ideogram", dict(options or {"prompt": "a kite", "seed": 7}))
    await dispatch(bot, payload)
    job = await wait_delivered(bot)
    message = fake.original_message(payload["token"])
    assert message is not None
    return job, message


@contextlib.asynccontextmanager
async def tracker_running(tracker: JobTracker) -> AsyncIterator[JobTracker]:
    """*tracker* started for the block, stopped after it (whatever the block raised)."""
    await tracker.start()
    try:
        yield tracker
    finally:
        await tracker.stop()


async def run_to_end(tracker: JobTracker, store: Store, jobs: Iterable[JobRecord], *,
                     limit: float = 5.0) -> list[JobRecord]:
    """Submit *jobs* to the running *tracker*; once every one has ended, their stored rows
    (an AssertionError after *limit* seconds)."""
    submitted = list(jobs)
    for job in submitted:
        await tracker.submit(job)

    async def all_ended() -> list[JobRecord] | None:
        ended = [await store.get_job(job.id) for job in submitted]
        done = [j for j in ended if j is not None and j.status.terminal]
        return done if len(done) == len(submitted) else None

    return await eventually(all_ended, timeout=limit, interval=0.02, what="every job ended")


class Recorder:
    """A tracker listener that records every event and checks it was persisted first."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.events: list[JobEvent] = []
        self.persisted_first = True
        self.changed = asyncio.Condition()

    async def on_job_event(self, event: JobEvent) -> None:
        stored = await self.store.get_job(event.job.id)
        if stored is None or stored.status is not event.status:
            self.persisted_first = False
        async with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def statuses(self, job_id: str) -> list[JobStatus]:
        out: list[JobStatus] = []
        for e in self.events:
            if e.job.id == job_id and (not out or out[-1] is not e.status):
                out.append(e.status)
        return out

    async def wait_terminal(self, job_id: str, limit: float = 10.0) -> JobEvent:
        async with asyncio.timeout(limit), self.changed:
            while True:
                for e in self.events:
                    if e.job.id == job_id and e.status.terminal:
                        return e
                await self.changed.wait()


# ------------------------------------------------------------ what Discord was told


def callback(fake: FakeDiscord, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The one interaction callback the bot sent for *payload*."""
    [answer] = fake.interaction_callbacks(payload["id"])
    return answer


async def answer(fake: FakeDiscord, bot: IdeogramBot, payload: dict[str, Any]
                 ) -> dict[str, Any]:
    """Dispatch *payload* to *bot*; the one interaction callback it sent for it."""
    await dispatch(bot, payload)
    return callback(fake, payload)


async def run_command(fake: FakeDiscord, bot: IdeogramBot, name: str, options: Any = None, *,
                      subcommand: str | None = None, **ctx: Any) -> dict[str, Any]:
    """Run the slash command *name* (``chat_input``'s arguments); its one callback."""
    return await answer(fake, bot, chat_input(name, options, subcommand=subcommand, **ctx))


def custom_ids(body: Mapping[str, Any]) -> list[str]:
    """The custom ids of a message body's buttons and menus, row by row."""
    return [c["custom_id"] for row in body.get("components", []) for c in row["components"]]


def final_edit(requests: list[RecordedRequest]) -> RecordedRequest:
    """The last of *requests* that carried a file: the result's image."""
    with_files = [r for r in requests if r.files]
    assert with_files, "no edit carried the image"
    return with_files[-1]


# ---------------------------------------------------------------------- the database


def db_rows(path: Path, query: str, *params: object) -> list[tuple[Any, ...]]:
    """Run a read-only *query* on the SQLite file at *path* (its own connection)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(query, params).fetchall()


async def store_rows(store: Store, query: str, *params: object) -> list[tuple[Any, ...]]:
    """Run *query* (``?`` placeholders; SQL both engines understand) through *store*."""
    return [tuple(row) for row in await store._fetchall(query, params)]


async def url_rows(database_url: str, query: str, *params: object) -> list[tuple[Any, ...]]:
    """:func:`store_rows` on a store of its own, opened on *database_url* for the query."""
    async with await Store.open(database_url) as store:
        return await store_rows(store, query, *params)
