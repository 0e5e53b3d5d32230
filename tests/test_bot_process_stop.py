"""A real ``python -m bot`` in the container's layout, stopped with a real SIGTERM mid-job.

The layout of the Docker image, simulated without Docker: the bot runs as PID 1 of a new
PID namespace and as an unprivileged user (``unshare --user --pid --fork``, when this
machine allows it; else as a plain child process), in a read-only application folder
holding a ``.env`` copied from ``.env.example`` with only the tokens filled in, with the
image's environment (its Dockerfile ``ENV``) except that ``DATA_DIR`` points at a temporary
"volume" and the metrics listen on a free loopback port. It talks to the fake Discord
(gateway included) and the local RunComfy-compatible server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.localserver.app import LocalRunComfyServer
from tests.harness import BotProcess, FakeDiscord, InteractionRecord, bot_process_env, chat_input
from tests.harness.process import BOT_TOKEN
from tests.harness.waiting import eventually
from tests.helpers import free_port
from tests.test_bot_process import image_delivered
from tests.test_config_docs import ENV_EXAMPLE, dockerfile_env

GRACE_SECONDS = 4.0
GENERATE = "ideogram/ideogram-v2/generate"


def namespace_launcher() -> tuple[str, ...]:
    """``unshare`` as Docker would start the bot: PID 1, not root (when it works here)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    command = (unshare, "--user", "--pid", "--fork", "--kill-child")
    probe = subprocess.run([*command, "true"], capture_output=True, check=False, timeout=10)
    return command if probe.returncode == 0 else ()


def container_env(fake: FakeDiscord, provider: LocalRunComfyServer, app: Path,
                  volume: Path, port: int) -> dict[str, str]:
    """The process environment and the app folder's .env, as the container would see them."""
    env = bot_process_env(fake, volume / "unused.db", provider=provider)
    for name in ("DATABASE_URL", "DISCORD_TOKEN", "RUNCOMFY_API_TOKEN"):
        env.pop(name)  # the tokens come from .env; the database from the image's DATA_DIR
    env |= dockerfile_env()
    env |= {"DATA_DIR": str(volume), "METRICS_HOST": "127.0.0.1", "METRICS_PORT": str(port),
            "SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS), "LOG_FORMAT": "json"}
    dotenv = ENV_EXAMPLE.read_text(encoding="utf-8")
    dotenv = dotenv.replace("DISCORD_TOKEN=\n", f"DISCORD_TOKEN={BOT_TOKEN}\n")
    dotenv = dotenv.replace("RUNCOMFY_API_TOKEN=\n",
                            f"RUNCOMFY_API_TOKEN={provider.config.token}\n")
    (app / ".env").write_text(dotenv, encoding="utf-8")
    return env


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def healthy(url: str) -> tuple[int, str] | None:
    status, body = await get(url)
    if status == 200:
        return status, body
    assert status == 503 and "reason" in json.loads(body)
    return None


def metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def children_of(pid: int) -> list[int]:
    """The child processes of ``pid`` (none once it has gone)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def catches_sigterm(pid: int) -> bool:
    """Whether the process has its SIGTERM handler in place (``SigCgt`` in its status).

    As PID 1 of a namespace, a SIGTERM before that is dropped by the kernel: Docker's
    ``--init`` is for a program that never installs one; the bot installs it first thing.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next((line.split()[1] for line in status.splitlines()
                   if line.startswith("SigCgt:")), "0")
    return bool(int(caught, 16) & (1 << (signal.SIGTERM - 1)))


def stop_target(bot: BotProcess) -> int:
    """The pid to signal: the bot itself (PID 1 inside the namespace), as Docker does."""
    if not bot.launcher:
        return bot.pid
    children = children_of(bot.pid)
    assert len(children) == 1, children
    return children[0]


def image_edits(fake: FakeDiscord, record: InteractionRecord) -> int:
    return sum(1 for r in fake.requests if r.method == "PATCH" and r.files and r.status == 200
               and (record.token in r.path or r.path.endswith(f"/{record.original_id}")))


def log_lines(output: str) -> list[dict[str, object]]:
    """Every line the bot wrote is one JSON object (LOG_FORMAT=json)."""
    return [json.loads(line) for line in output.splitlines() if line.strip()]


async def test_sigterm_mid_job_exits_0_within_the_grace_and_the_restart_delivers_once(
        fake_discord: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path) -> None:
    fake, provider = fake_discord, local_server
    provider.config.queue_seconds, provider.config.run_seconds = 0.2, 3.0
    app, volume = tmp_path / "app", tmp_path / "volume"
    app.mkdir()
    volume.mkdir()
    port = free_port()
    env = container_env(fake, provider, app, volume, port)
    app.chmod(0o555)  # the image's /app belongs to root; the bot cannot write there
    bot = BotProcess(fake, env, workdir=app, launcher=namespace_launcher())
    try:
        await bot.start()
        health = f"http://127.0.0.1:{port}/healthz"
        # 503 until discord.py is ready (every guild received), then 200.
        _, body = await eventually(lambda: healthy(health), timeout=10,
                                   what="a healthy /healthz")
        assert json.loads(body)["gateway"]["connected"] and json.loads(body)["database"]

        record = await bot.send(chat_input("ideogram", {"prompt": "a harbour", "seed": 5}))
        await eventually(lambda: provider.state.submit_count == 1, what="the submit")
        await fake.wait_for(method="PATCH", path=rf"/webhooks/\d+/{record.token}/")
        _, exposition = await get(f"http://127.0.0.1:{port}/metrics")
        in_flight = sum(metric(exposition, "ideogram_jobs_in_flight", status=s)
                        for s in ("queued", "running"))
        assert in_flight == 1

        started = time.monotonic()
        os.kill(stop_target(bot), signal.SIGTERM)
        assert bot.process is not None
        code = await asyncio.wait_for(bot.process.wait(), GRACE_SECONDS + 10)
        elapsed = time.monotonic() - started
        output = bot.output()
        assert code == 0, output
        assert elapsed < GRACE_SECONDS, f"{elapsed:.1f} s\n{output}"
        lines = log_lines(output)
        messages = [str(line["message"]) for line in lines]
        assert any(m.startswith("SIGTERM: stopping.") for m in messages), output
        assert messages[-1] == "Stopped.", output
        assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
        assert image_edits(fake, record) == 0  # the job was still being made
        assert (volume / "bot.db").is_file() and not (volume / "bot.db-wal").exists()
        assert sorted(p.name for p in app.iterdir() if not p.name.startswith("bot-process"))\
            == [".env"], "nothing but the harness's logs was written into the app folder"

        provider.config.run_seconds = 0.3
        await bot.start()  # the same layout and database: a restart
        final = await image_delivered(fake, record)
        assert final.files[0].data[:8] == b"\x89PNG\r\n\x1a\n"
        await eventually(lambda: image_edits(fake, record) == 1, what="the one delivery")
        await asyncio.sleep(0.3)  # nothing more arrives
        assert image_edits(fake, record) == 1 and provider.state.submit_count == 1
        _, exposition = await get(f"http://127.0.0.1:{port}/metrics")
        assert metric(exposition, "ideogram_jobs_total", model=GENERATE,
                      status="completed") == 1
        assert not fake.violations
    finally:
        app.chmod(0o755)
        with contextlib.suppress(Exception):
            await bot.__aexit__(None, None, None)


@pytest.mark.parametrize("after", [0.05, 0.4, 0.8])
async def test_a_sigterm_while_the_bot_is_still_starting_is_not_lost(
        fake_discord: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path,
        after: float) -> None:
    """A stop at any moment of the start ends the bot with exit 0: during the imports
    (before the event loop's handlers exist: as PID 1 it would otherwise be dropped, as a
    child it would kill), while opening the database, logging in or syncing commands."""
    launcher = namespace_launcher()
    env = bot_process_env(fake_discord, tmp_path / "bot.db", provider=local_server)
    process = await asyncio.create_subprocess_exec(
        *launcher, sys.executable, "-m", "bot", env=env, cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        target = process.pid
        if launcher:  # the bot is unshare's child, PID 1 of its namespace
            children = await eventually(lambda: children_of(process.pid), timeout=10,
                                        what="the bot under unshare")
            target = children[0]
        # Python itself may still be starting: the bot's first act is the handler.
        await eventually(lambda: catches_sigterm(target), timeout=10,
                         what="the bot's SIGTERM handler")
        await asyncio.sleep(after)  # 0.05 s: Python is up, the bot's modules importing
        os.kill(target, signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
        text = output.decode("utf-8", "replace")
        assert process.returncode == 0, text
        assert "SIGTERM: stopping." in text and "Traceback" not in text, text
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_sigterm_while_the_start_waits_on_a_slow_discord_stops_within_the_grace(
        fake_discord: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path) -> None:
    """At a start, a job written just before a crash (its reply id not yet known) makes
    the bot ask Discord whether it was answered, before the gateway. Discord is slow to
    say; a SIGTERM meanwhile stops the bot within its grace all the same."""
    from bot.jobs import TOKEN_LIFETIME_SECONDS
    from bot.reply_token import TokenSealer
    from bot.store import Store
    from tests.harness import ids
    from tests.helpers import make_job

    db = tmp_path / "bot.db"
    async with await Store.open(f"sqlite:///{db}") as store:
        job = make_job("a harbour", provider="runcomfy", guild_id=ids.GUILD_ID,
                       channel_id=ids.CHANNEL_ID, user_id=ids.USER_ID)
        await store.insert_job(job.evolve(
            application_id=fake_discord.application_id, interaction_id=1,
            sealed_token=TokenSealer(BOT_TOKEN).seal("crashed-interaction-token"),
            token_expires_at=time.time() + TOKEN_LIFETIME_SECONDS))
    asked = fake_discord.stall_next(
        "GET", r"/crashed-interaction-token/messages/@original$", 60.0)
    env = bot_process_env(fake_discord, db, provider=local_server, SHUTDOWN_GRACE_SECONDS="2")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        await asyncio.wait_for(asked.wait(), 30)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
        elapsed = time.monotonic() - started
        text = output.decode("utf-8", "replace")
        assert process.returncode == 0, text
        assert elapsed < 4, f"{elapsed:.1f} s after SIGTERM (grace 2 s)\n{text}"
        assert "Stopped while starting" in text and "Traceback" not in text, text
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
