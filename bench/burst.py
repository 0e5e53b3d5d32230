"""Benchmark: N slash commands at once, across many servers: when is each one answered,
and how soon after the provider finishes is each image in Discord?

Run from the repository root (loopback only, stops by itself)::

    .venv/bin/python -m bench.burst                        # 100, 500, 1000, 2000 (~6 min)
    .venv/bin/python -m bench.burst --sizes 100,1000 --levels INFO
    .venv/bin/python -m bench.burst --quick                # smoke run, ~1 min

Three processes per row, so each one's CPU is its own:

- the fake Discord of the test suite (``tests/harness/``), serving the REST API
  and recording, with ``time.monotonic()``, when each interaction's first response and
  each final image arrive; it answers a first response later than 3 s after the command
  was sent with 10062 "Unknown interaction", as Discord does;
- the local RunComfy-compatible server (``python -m bot.localserver``);
- the bot: the real ``IdeogramBot`` from ``build_services``, logged in to the fake. All N
  INTERACTION_CREATE payloads (``/ideogram``, G servers, many members) are handed to
  discord.py's own gateway handler (``ConnectionState.parse_interaction_create``: the real
  ``Interaction``, the real ``CommandTree`` dispatch) in one go, at ``t0``.

Variants: ``launch`` is the bot as shipped; ``defer-first`` answers with a deferral before
any check and does nothing else: the floor for this machine.

Columns: ack latency = arrival of the first response at the fake minus ``t0`` (one
CLOCK_MONOTONIC for all processes on Linux, checked through /proc/<pid>/ns/time); late =
acks after 3 s; CPU = the bot process's user + system seconds from ``t0`` until its last
answer, per 1,000 commands; RSS = its peak. Delivery (launch at INFO only) = arrival of
the image at the fake minus the provider's ``completed_at_monotonic``; submitted = the
provider's submit time (its completion minus its queue and run times) minus ``t0``; image
= the image's arrival minus ``t0``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.burst_report import Row, ack_table, delivery_table, targets, work_table
from bench.common import (
    ROOT,
    LocalProvider,
    get_json,
    percentile,
    post_json,
    rusage,
    same_time_namespace,
    seed_history,
    value_range,
)

DEFAULT_SIZES = (100, 500, 1000, 2000)
DEFAULT_LEVELS = ("INFO", "DEBUG")
VARIANTS = ("launch", "defer-first")
GUILD_BASE = 1_210_000_000_000_000_000
CHANNEL_BASE = 1_310_000_000_000_000_000
USER_BASE = 1_410_000_000_000_000_000
MEMBERS_PER_GUILD = 40
QUEUE = "0.5-2"
RUN = "1-3"
ACK_LIMIT = 3.0


def _guilds(n: int) -> int:
    """Servers for a burst of ``n``: 10 for small bursts, up to 50."""
    return max(10, min(50, n // 20))


# ============================================================================ fake Discord


def _discord_main(args: argparse.Namespace) -> None:
    asyncio.run(_serve_discord(args))


async def _serve_discord(args: argparse.Namespace) -> None:
    from tests.harness import FakeDiscord, RecordedRequest, channel_payload, guild_payload

    class TimedDiscord(FakeDiscord):
        """The test suite's fake Discord, also stamping arrivals and taking payloads from
        the benchmark (``POST /_control/register``, ``GET /_control/report``)."""

        def __init__(self) -> None:
            super().__init__(guilds=[
                guild_payload(GUILD_BASE + g, channels=[
                    channel_payload(CHANNEL_BASE + g, guild_id=GUILD_BASE + g, position=0)])
                for g in range(args.guilds)], ack_deadline=ACK_LIMIT)
            self.acks: dict[str, float] = {}  # interaction id -> arrival
            self.late: dict[str, int] = {}  # interaction id -> answer code
            self.images: dict[str, float] = {}  # token -> arrival of the final image
            self.channel_posts = 0
            self.bot_requests = 0  # every request of the bot's (not the bench's own)

        def _notify(self, rec: RecordedRequest) -> None:
            now = time.monotonic()
            parts = rec.path.split("/")
            if not rec.path.startswith("/_control/"):
                self.bot_requests += 1
            if rec.method == "POST" and rec.path.endswith("/callback"):
                if rec.status == 200:
                    self.acks.setdefault(parts[2], now)
                else:
                    self.late[parts[2]] = int((rec.response or {}).get("code", 0))
            elif rec.method == "PATCH" and rec.path.startswith("/webhooks/") and rec.files:
                self.images.setdefault(parts[3], now)
            elif rec.method == "POST" and rec.path.startswith("/channels/"):
                self.channel_posts += 1
            rec.files = []  # the fake keeps what it serves; the record need not (RAM)
            super()._notify(rec)

        async def _route(self, rec: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
            if rec.path == "/_control/register":
                for payload in rec.json:
                    self.register_interaction(payload)
                return 200, {"registered": len(rec.json)}, {}
            if rec.path == "/_control/report":
                return 200, {"acks": self.acks, "late": self.late, "images": self.images,
                             "channel_posts": self.channel_posts,
                             "bot_requests": self.bot_requests,
                             "token_ids": {t: str(r.id) for t, r in self.interactions.items()},
                             "violations": self.violations[:20]}, {}
            return await super()._route(rec)

    fake = TimedDiscord()
    await fake.start()
    Path(args.ready_file).write_text(  # noqa: ASYNC240  (once, before serving)
        json.dumps({"url": fake.url, "api": fake.api_base}))
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()  # until the parent terminates us


# ============================================================================ the bot


def _bot_main(args: argparse.Namespace) -> None:
    import bot.tracker  # noqa: F401  (imports before the baseline reading)
    import cogs.core.bot  # noqa: F401

    result = asyncio.run(_bot_run(args))
    print(json.dumps(result), flush=True)


def _payloads(n: int, guilds: int) -> list[dict[str, Any]]:
    from tests.harness import chat_input

    out = []
    for i in range(n):
        g = i % guilds
        out.append(chat_input(
            "ideogram", {"prompt": "a lighthouse in a storm, benchmark", "seed": 7},
            guild_id=GUILD_BASE + g, channel_id=CHANNEL_BASE + g,
            user_id=USER_BASE + g * MEMBERS_PER_GUILD + (i // guilds) % MEMBERS_PER_GUILD))
    return out


def _defer_first() -> None:
    """Make the bot answer before any check, and do nothing else: the floor."""
    import discord

    from cogs.core.launch import JobLauncher

    async def launch(self: JobLauncher, interaction: discord.Interaction,
                     inputs: Any, **options: Any) -> list[Any]:
        return await self._answer_and_hand_over(interaction, [])

    async def answer_only(self: JobLauncher, interaction: discord.Interaction,
                          jobs: Any) -> list[Any]:
        await interaction.response.defer(thinking=True)
        return []

    JobLauncher.launch = launch  # type: ignore[method-assign]  # the bench's stand-in
    JobLauncher._answer_and_hand_over = answer_only  # type: ignore[method-assign]  # the bench's stand-in


async def _bot_run(args: argparse.Namespace) -> dict[str, Any]:
    import discord
    from discord.http import Route

    from bot.config import load_settings
    from bot.logging_setup import configure_logging
    from bot.store import Store
    from cogs.core.bot import IdeogramBot
    from cogs.core.launch import JobLauncher
    from cogs.core.services import build_services
    from tests.harness import channel_payload, guild_payload

    log_file = open(args.log_file, "w")  # noqa: SIM115, ASYNC230  (closed at exit)
    stop_logging = configure_logging(args.level, stream=log_file, background=True)
    if args.variant == "defer-first":
        _defer_first()

    answered = 0
    all_answered = asyncio.Event()
    cpu_at_last: list[float] = []
    original = JobLauncher._answer_and_hand_over

    async def counting(self: JobLauncher, interaction: discord.Interaction, jobs: Any) -> Any:
        nonlocal answered
        try:
            return await original(self, interaction, jobs)
        finally:
            answered += 1
            if answered >= args.n:
                cpu_at_last.append(rusage()[0])
                all_answered.set()

    JobLauncher._answer_and_hand_over = counting  # type: ignore[method-assign]  # the bench's stand-in

    with tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
        db = Path(tmp) / "bot.db"
        async with await Store.open(db) as store:
            q, r = value_range(QUEUE), value_range(RUN)
            await seed_history(store, 20, q, r, seed=5)
        settings = load_settings(
            None, DISCORD_TOKEN="bench-bot-token", DATABASE_URL=f"sqlite:///{db}",
            RUNCOMFY_API_TOKEN=args.token, RUNCOMFY_BASE_URL=args.provider, LOG_LEVEL=args.level)
        services = await build_services(settings)
        Route.BASE = args.api
        bot = IdeogramBot(settings, services)
        payloads = _payloads(args.n, args.guilds)
        post_json(args.discord + "/_control/register", payloads)
        out: dict[str, Any] = {}
        noticed: dict[str, float] = {}
        try:
            async with bot:
                await bot.login("bench-bot-token")
                state: Any = bot._connection
                for g in range(args.guilds):
                    state._add_guild_from_data(guild_payload(GUILD_BASE + g, channels=[
                        channel_payload(CHANNEL_BASE + g, guild_id=GUILD_BASE + g)]))
                bot._ready.set()
                profiler = _profiler(args.profile)
                cpu0, _ = rusage()
                t0 = time.monotonic()
                for payload in payloads:
                    state.parse_interaction_create(payload)
                dispatched = time.monotonic() - t0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(all_answered.wait(), 60)
                cpu_ack = (cpu_at_last[0] if cpu_at_last else rusage()[0]) - cpu0
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(args.profile)
                out.update(t0=t0, dispatched_s=dispatched, cpu_ack_s=cpu_ack,
                           answered=answered)
                if args.deliveries:
                    bot.tracker.add_listener(_EndNoticer(noticed))
                    later = _profiler(args.profile_delivery)
                    cpu_before, _ = rusage()
                    out.update(await _wait_deliveries(bot, args.n, args.guilds))
                    out["cpu_delivery_s"] = rusage()[0] - cpu_before
                    out["noticed"] = noticed
                    if later is not None:
                        later.disable()
                        later.dump_stats(args.profile_delivery)
                await bot.result_delivery.wait_idle()
        finally:
            await services.aclose()
    stop_logging()
    out["rss_peak_mb"] = rusage()[1]
    out["log_bytes"] = log_file.tell()
    log_file.close()
    return out


def _profiler(path: str | None) -> Any:
    """A running cProfile.Profile when ``--profile FILE`` was given (the ack phase)."""
    if not path:
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


class _EndNoticer:
    """A tracker listener noting when the bot learnt that each job ended (by request id)."""

    def __init__(self, noticed: dict[str, float]) -> None:
        self.noticed = noticed

    async def on_job_event(self, event: Any) -> None:
        if event.status.terminal and event.job.request_id:
            self.noticed.setdefault(event.job.request_id, time.monotonic())


async def _wait_deliveries(bot: Any, n: int, guilds: int) -> dict[str, Any]:
    """Wait until every job was delivered (or 3 minutes); the jobs' ids for the parent."""
    from bot.jobs import JobStatus

    give_up = time.monotonic() + 180
    jobs: list[Any] = []
    while time.monotonic() < give_up:
        jobs = []
        for g in range(guilds):
            jobs += await bot.store.jobs_for_guild(GUILD_BASE + g, limit=None)
        if len(jobs) >= n and all(j.delivered_at is not None for j in jobs):
            break
        await asyncio.sleep(0.5)
    return {"jobs": [{"interaction_id": str(j.interaction_id), "request_id": j.request_id,
                      "completed": j.status is JobStatus.COMPLETED} for j in jobs]}


# ============================================================================ parent


def _run_one(variant: str, level: str, n: int, deliveries: bool,
             profile: str | None = None, profile_delivery: str | None = None) -> Row:
    guilds = _guilds(n)
    provider = LocalProvider(queue=QUEUE, run=RUN, seed=11)
    ready = Path(tempfile.mkstemp(prefix="bench-discord-")[1])
    ready.write_text("")
    discord_proc = subprocess.Popen(
        [sys.executable, "-m", "bench.burst", "--role", "discord", "--guilds", str(guilds),
         "--ready-file", str(ready)], cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        provider.wait_ready()
        give_up = time.monotonic() + 30
        while not ready.read_text() and time.monotonic() < give_up:
            time.sleep(0.05)
        endpoints = json.loads(ready.read_text())
        with tempfile.NamedTemporaryFile(prefix="bench-burst-log-") as log:
            child = subprocess.run(
                [sys.executable, "-m", "bench.burst", "--role", "bot", "--variant", variant,
                 "--level", level, "--n", str(n), "--guilds", str(guilds),
                 "--api", endpoints["api"], "--discord", endpoints["url"],
                 "--provider", provider.base_url, "--token", provider.token,
                 "--log-file", log.name] + (["--deliveries"] if deliveries else [])
                + (["--profile", profile] if profile and variant == "launch" else [])
                + (["--profile-delivery", profile_delivery]
                   if profile_delivery and deliveries else []),
                cwd=ROOT, capture_output=True, text=True, timeout=600)
        if child.returncode != 0:
            raise RuntimeError(f"bot child failed ({child.returncode}):\n{child.stderr[-3000:]}")
        out = json.loads(child.stdout.strip().splitlines()[-1])
        if same_time_namespace(discord_proc.pid) is False:
            raise RuntimeError("the fake Discord reads another CLOCK_MONOTONIC")
        report = get_json(endpoints["url"] + "/_control/report")
        state = provider.state() if deliveries else {}
    finally:
        discord_proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            discord_proc.wait(timeout=10)
        provider.stop()
        ready.unlink(missing_ok=True)
    t0 = float(out["t0"])
    acks = [at - t0 for at in report["acks"].values()]
    row = Row(variant=variant, level=level, n=n, guilds=guilds, acks=acks,
              late=sum(a > ACK_LIMIT for a in acks) + len(report["late"]),
              unknown_10062=sum(code == 10062 for code in report["late"].values()),
              channel_posts=int(report["channel_posts"]),
              cpu_per_1000=float(out["cpu_ack_s"]) * 1000 / n,
              rss_mb=float(out["rss_peak_mb"]), log_mb=float(out["log_bytes"]) / 1e6)
    if deliveries:
        completed = {j["request_id"]: j["completed_at_monotonic"] for j in state["jobs"]}
        row.submitting = [j["completed_at_monotonic"] - j["queue_seconds"] - j["run_seconds"]
                          - t0 for j in state["jobs"]]
        tokens = {iid: token for token, iid in report["token_ids"].items()}
        for job in out.get("jobs", []):
            done_at = completed.get(job["request_id"])
            token = tokens.get(job["interaction_id"])
            image_at = report["images"].get(token) if token else None
            if done_at is not None and image_at is not None:
                row.deliveries.append(image_at - float(done_at))
                row.waiting.append(image_at - t0)
                seen_at = out.get("noticed", {}).get(job["request_id"])
                if seen_at is not None:
                    row.noticing.append(float(seen_at) - float(done_at))
                    row.sending.append(image_at - float(seen_at))
        row.delivered = len(row.deliveries)
        counts = state.get("request_counts", {})
        row.provider_calls = {kind: counts.get(kind, 0) / n for kind in ("status", "result")}
        row.discord_requests = int(report["bot_requests"]) / n
        row.cpu_delivery_ms = float(out.get("cpu_delivery_s", 0.0)) * 1000 / n
    return row


def _parent(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    levels = [s.strip().upper() for s in args.levels.split(",")]
    variants = [v.strip() for v in args.variants.split(",")]
    if unknown := set(variants) - set(VARIANTS):
        raise SystemExit(f"unknown variant {', '.join(sorted(unknown))}: use "
                         f"{' or '.join(VARIANTS)}")
    print(f"# burst benchmark: sizes {sizes}, log levels {levels}, provider queue {QUEUE} s, "
          f"run {RUN} s", flush=True)
    rows: list[Row] = []
    for n in sizes:
        for level in levels:
            for variant in variants:
                deliveries = variant == "launch" and level == levels[0] and n <= 1000
                started = time.monotonic()
                row = _run_one(variant, level, n, deliveries, args.profile,
                               args.profile_delivery)
                rows.append(row)
                print(f"#   {variant:<11} {level:<5} N={n:<5} p99 "
                      f"{percentile(row.acks, 99) * 1000:.0f} ms, late {row.late}, "
                      f"{time.monotonic() - started:.0f} s", flush=True)
    print()
    print(ack_table(rows))
    print()
    print(delivery_table(rows))
    print()
    print(work_table(rows))
    print()
    print("Targets:")
    for line in targets(rows):
        print(line)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument("--levels", default=",".join(DEFAULT_LEVELS))
    parser.add_argument("--quick", action="store_true", help="sizes 100,500 at INFO")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="which of launch,defer-first to run (default both)")
    parser.add_argument("--role", choices=("parent", "discord", "bot"), default="parent",
                        help=argparse.SUPPRESS)
    parser.add_argument("--profile", help="bot side: write a cProfile of the ack phase here "
                        "(one size, one level, the launch variant)")
    parser.add_argument("--profile-delivery", help="bot side: a cProfile of the deliveries")
    for name in ("--variant", "--level", "--api", "--discord", "--provider", "--token",
                 "--log-file", "--ready-file"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--guilds", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--deliveries", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.levels = "100,500", "INFO"
    if args.role == "discord":
        _discord_main(args)
    elif args.role == "bot":
        _bot_main(args)
    else:
        _parent(args)


if __name__ == "__main__":
    main(sys.argv[1:])
