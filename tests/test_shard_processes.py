"""Two real ``python -m bot`` processes on one PostgreSQL database, each running one of two
shards of the fake Discord gateway: jobs split by guild, a crash hands a process's jobs to
the other, and a settings change made in one is enforced by the other.

Each process reaches the local provider through its own recording proxy, so the test can
tell which process polled which job."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.localserver.app import LocalRunComfyServer
from tests import postgres
from tests.harness import (
    BotProcess,
    FakeDiscord,
    InteractionRecord,
    RecordedRequest,
    bot_process_env,
    channel_payload,
    chat_input,
    component,
    eventually,
    guild_payload,
    ids,
    shard_for,
)
from tests.helpers import local_provider, serve_on_loopback

#: ids.GUILD_ID is on shard 1 of 2; this one on shard 0, with its own channels.
GUILD_A = ids.GUILD_ID + (1 << 22)
CHANNEL_A, LOG_CHANNEL_A = ids.CHANNEL_ID + 100, ids.LOG_CHANNEL_ID + 100
GUILD_B, CHANNEL_B = ids.GUILD_ID, ids.CHANNEL_ID
LEASE_SECONDS = 3.0  # the keeper renews every second; a dead process's jobs move after
#                     the lease, plus a third of it for another shard's process
#: A poll: a queued job's status, or a running job's result.
POLL = re.compile(r"^/v1/requests/([^/]+)/(?:status|result)$")


@dataclass
class RecordingProxy:
    """Forwards everything to the provider and notes when each poll came."""

    target: str
    polls: dict[str, list[float]] = field(default_factory=dict)
    runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self.runner, self.url = await serve_on_loopback(app)

    async def stop(self) -> None:
        await self._session.close()
        if self.runner is not None:
            await self.runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        match = POLL.match(request.path)
        if match:
            self.polls.setdefault(match.group(1), []).append(time.monotonic())
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("authorization", "content-type", "host", "api-key")}
        async with self._session.request(
                request.method, self.target + request.path_qs, headers=headers,
                data=await request.read(), allow_redirects=False) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items()
                    if k.lower() in ("content-type", "retry-after")}
            return web.Response(status=answer.status, body=body, headers=kept)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    guild_a = guild_payload(GUILD_A, name="Shard Zero Guild", channels=[
        channel_payload(CHANNEL_A, guild_id=GUILD_A, position=0),
        channel_payload(LOG_CHANNEL_A, guild_id=GUILD_A, position=1)])
    async with FakeDiscord(guilds=[guild_a, guild_payload()], shard_count=2) as running:
        yield running
    assert not running.server_errors, running.server_errors


@pytest.fixture
async def provider() -> AsyncIterator[LocalRunComfyServer]:
    async with local_provider(queue_seconds=0.2) as server:
        yield server


@pytest.fixture
def database() -> Iterator[str]:
    yield from postgres.temporary_database("bot_shards")


@dataclass
class Process:
    bot: BotProcess
    proxy: RecordingProxy


@pytest.fixture
async def processes(fake: FakeDiscord, provider: LocalRunComfyServer, database: str,
                    tmp_path: Path) -> AsyncIterator[dict[int, Process]]:
    """Process 0 runs shard 0 (GUILD_A), process 1 runs shard 1 (GUILD_B)."""
    assert shard_for(GUILD_A, 2) == 0 and shard_for(GUILD_B, 2) == 1
    started: dict[int, Process] = {}
    try:
        for shard in (0, 1):
            proxy = RecordingProxy(provider.base_url)
            await proxy.start()
            env = bot_process_env(fake, tmp_path / "unused.db", provider=provider)
            env |= {"DATABASE_URL": database, "SHARD_COUNT": "2", "SHARD_IDS": str(shard),
                    "JOB_LEASE_SECONDS": str(LEASE_SECONDS), "RUNCOMFY_BASE_URL": proxy.url}
            workdir = tmp_path / f"shard-{shard}"
            workdir.mkdir()
            started[shard] = Process(BotProcess(fake, env, shards=(shard,), workdir=workdir),
                                     proxy)
        # Started: commands synced and each shard READY (its guilds follow on the same
        # websocket, before any interaction the test sends).
        await asyncio.gather(*(each.bot.start() for each in started.values()))
        yield started
    finally:
        for each in started.values():
            if each.bot.running:
                await each.bot.kill()
            await each.proxy.stop()


async def image_delivered(fake: FakeDiscord, record: InteractionRecord,
                          timeout: float) -> RecordedRequest:  # noqa: ASYNC109
    """The edit of the interaction's own reply that carries the image (webhook or channel)."""
    reply = rf"^/webhooks/\d+/{record.token}/messages/(@original|{record.original_id})$"
    by_channel = rf"^/channels/{record.channel_id}/messages/{record.original_id}$"
    return await fake.wait_for(
        lambda r: bool(r.files) and r.status == 200 and re.search(f"{reply}|{by_channel}", r.path),
        method="PATCH", timeout=timeout)


def ideogram(guild_id: int, channel_id: int, prompt: str, seed: int) -> dict[str, object]:
    return chat_input("ideogram", {"prompt": prompt, "seed": seed}, guild_id=guild_id,
                      channel_id=channel_id)


async def test_jobs_split_by_shard_and_a_dead_processs_jobs_are_delivered_by_the_other(
        fake: FakeDiscord, provider: LocalRunComfyServer,
        processes: dict[int, Process]) -> None:
    provider.config.queue_seconds, provider.config.run_seconds = 0.2, 2.5
    sent: dict[int, list[InteractionRecord]] = {0: [], 1: []}
    for i in range(3):
        sent[0].append(await processes[0].bot.send(ideogram(GUILD_A, CHANNEL_A, f"a{i}", i)))
        sent[1].append(await processes[1].bot.send(ideogram(GUILD_B, CHANNEL_B, f"b{i}", i)))
    await eventually(lambda: len(provider.state.jobs) == 6, timeout=10, what="six submits")
    # Each process submitted (and polls) the jobs of its own guild only.
    await eventually(lambda: len(processes[0].proxy.polls) == 3
                     and len(processes[1].proxy.polls) == 3, timeout=10, what="polls")
    assert not set(processes[0].proxy.polls) & set(processes[1].proxy.polls)
    # Replies recorded before the crash (the reply's message id comes with the deferral).
    for record in sent[0]:
        await eventually(lambda r=record: fake.original_message(r.token) is not None,
                         timeout=5, what="the reply exists")

    killed_at = time.monotonic()
    await processes[0].bot.kill()  # mid-job: the provider is still running them
    for record in sent[0] + sent[1]:
        await image_delivered(fake, record, timeout=LEASE_SECONDS * 2 + 10)
    delivered_in = time.monotonic() - killed_at
    # Within the lease, another shard's grace, a keeper round and the rest of the run.
    assert delivered_in < LEASE_SECONDS * 4 / 3 + 1 + 2.5 + 3, delivered_in
    assert len(provider.state.jobs) == 6, "nothing submitted twice"
    # The survivor polled the dead process's jobs only after it died.
    taken = set(processes[0].proxy.polls)
    assert taken and all(processes[1].proxy.polls.get(r) for r in taken)
    for request_id in taken:
        assert all(t > killed_at for t in processes[1].proxy.polls.get(request_id, []))
        assert all(t < killed_at for t in processes[0].proxy.polls[request_id])
    assert "Taking over 3 job(s)" in processes[1].bot.output()
    assert not fake.violations


async def to_process(fake: FakeDiscord, shard: int, payload: dict[str, object]
                     ) -> InteractionRecord:
    """Deliver an interaction to the process of ``shard``, whatever guild it comes from."""
    record = fake.register_interaction(payload)
    [session] = [s for s in fake.gateway.live_sessions() if s.shard_id == shard]
    await session.dispatch("INTERACTION_CREATE", payload)
    return record


async def settings_change_is_enforced_by_the_other_within_5s(
        fake: FakeDiscord, provider: LocalRunComfyServer,
        processes: dict[int, Process]) -> None:
    """A settings change in process 0 is enforced by process 1 within 5 s."""
    # The moderator blocks a word on shard 0's guild, through process 0.
    change = await processes[0].bot.send(chat_input(
        "settings", {"words": "zorblax"}, subcommand="blocked-words-add", guild_id=GUILD_A,
        channel_id=CHANNEL_A, user_id=ids.MOD_USER_ID))
    await fake.wait_for(method="POST", path=rf"^/interactions/{change.id}/", timeout=10)
    changed_at = time.monotonic()
    # Process 1 gets a command for that guild (a guild can move between processes, e.g.
    # when shards are rebalanced): its cache must already refuse the word.
    record = await to_process(fake, 1, ideogram(GUILD_A, CHANNEL_A, "a zorblax at dawn", 1))
    answer = await fake.wait_for(method="POST", path=rf"^/interactions/{record.id}/",
                                 timeout=10)
    assert time.monotonic() - changed_at < 5
    assert answer.json["type"] == 4 and answer.json["data"]["flags"] & 64, answer.json
    assert "doesn't allow" in answer.json["data"]["content"]
    assert not provider.state.jobs, "nothing was sent to the provider"


async def test_the_other_process_enforces_settings_and_lists_and_cancels_jobs(
        fake: FakeDiscord, provider: LocalRunComfyServer,
        processes: dict[int, Process]) -> None:
    """A guild's commands can reach a process that does not run its shard (e.g. while
    shards are rebalanced): settings, /queue and Cancel work there all the same."""
    await settings_change_is_enforced_by_the_other_within_5s(fake, provider, processes)
    provider.config.queue_seconds = 30.0  # it stays queued
    launched = await processes[0].bot.send(ideogram(GUILD_A, CHANNEL_A, "a kite", 9))

    def cancel_button() -> tuple[str, dict[str, object]] | None:
        reply = fake.original_message(launched.token)
        shown = [c["custom_id"] for row in (reply or {}).get("components", [])
                 for c in row["components"]]
        found = [i for i in shown if i.endswith(":cancel")]
        return (found[0], reply) if found and reply else None

    custom_id, reply = await eventually(cancel_button, timeout=10, what="the Cancel button")
    job_id = custom_id.split(":")[1]

    listing = await to_process(fake, 1, chat_input("queue", {}, guild_id=GUILD_A,
                                                   channel_id=CHANNEL_A))
    answer = await fake.wait_for(method="POST", path=rf"^/interactions/{listing.id}/",
                                 timeout=10)
    assert "a kite" in str(answer.json["data"]), answer.json

    click = await to_process(fake, 1, component(custom_id, message=reply, guild_id=GUILD_A,
                                                channel_id=CHANNEL_A))
    await fake.wait_for(lambda r: "Cancelled" in str(r.json), method="PATCH",
                        path=rf"/{launched.token}/messages/", timeout=10)
    assert fake.interaction_callbacks(click.id)[0]["type"] == 5
    [job] = provider.state.jobs.values()
    assert job.status().value == "cancelled"
    assert provider.state.request_counts["cancel"] == 1
    # The owner stops following the job once it has ended.
    polls = len(processes[0].proxy.polls.get(job.request_id, []))
    await asyncio.sleep(1.5)
    assert len(processes[0].proxy.polls.get(job.request_id, [])) <= polls + 1, job_id
    # The owner showed the end, after its own progress edits: the reply's last edit.
    edits = fake.calls("PATCH", rf"/{launched.token}/messages/")
    assert "Cancelled" in str(edits[-1].json) and len(
        [e for e in edits if "Cancelled" in str(e.json)]) == 1, [e.json for e in edits]
