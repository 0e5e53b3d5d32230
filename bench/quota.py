"""Benchmark: quota reservation decisions per second on a real SQLite file, and overspend.

Run from the repository root (no network; a temporary database; about a minute)::

    .venv/bin/python -m bench.quota
    .venv/bin/python -m bench.quota --requesters 500 --rounds 20 --busy-month 20000
    .venv/bin/python -m bench.quota --unbatched     # one transaction per decision

Each scenario runs ``--rounds`` rounds. A round starts ``--requesters`` coroutines at once,
one request each, through :meth:`bot.quota_service.QuotaService.reserve` (which decides
queued requests in arrival order, up to ``MAX_BATCH`` per ``BEGIN IMMEDIATE``
transaction), against a fresh server (guild) whose limit lets 50 through: with 500
requesters every round is 50 grants and 450 refusals. Decisions/s is all decisions over
the wall time of all rounds. Overspend counts, per round, the grants above what the limit
allows, checked twice: from the answers, and from the database after the store is closed
and opened again (a restart). Both must be 0.

``no limits`` grants everything (the insert path); ``busy month`` first loads
``--busy-month`` settled reservations into each server's month, to show that decisions do
not slow down as a month fills up (they read running totals, not sums of rows).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.inputs import GenerateInputs
from bot.jobs import JobRecord, new_job_id
from bot.quota import QuotaDenied, Window
from bot.quota_service import MAX_BATCH, QuotaService
from bot.store import Store

TARGET = 2000.0
LIMIT = 50
MOD = 1


@dataclass(frozen=True)
class Scenario:
    name: str
    limits: dict[str, float]
    one_member: bool  # every requester is the same member
    allowed: int | None  # grants one round may give (None: all)
    busy_month: bool = False


SCENARIOS = (
    Scenario("guild_daily 50, 500 members", {"guild_daily": LIMIT}, False, LIMIT),
    Scenario("user_daily 50, one member", {"user_daily": LIMIT}, True, LIMIT),
    Scenario("max_concurrent 50, one member", {"max_concurrent": LIMIT}, True, LIMIT),
    Scenario("budget $4.00 ($0.08 each)", {"guild_monthly_budget": LIMIT * 0.08}, False, LIMIT),
    Scenario("all five limits + budget", {
        "user_daily": 1000, "guild_daily": LIMIT, "guild_monthly": 100_000,
        "cooldown_seconds": 0, "max_concurrent": 1000, "guild_monthly_budget": 10_000.0},
        False, LIMIT),
    Scenario("guild_daily 50, busy month", {"guild_daily": LIMIT}, False, LIMIT, True),
    Scenario("no limits (all granted)", {}, False, None),
)


@dataclass
class Result:
    scenario: Scenario
    decisions: int
    seconds: float
    granted: int
    overspend: int
    overspend_db: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.decisions / self.seconds if self.seconds else 0.0


def make_job(guild_id: int, user_id: int) -> JobRecord:
    inputs = GenerateInputs(prompt="bench", seed=1)
    return JobRecord(id=new_job_id(), provider="local", model=inputs.model, guild_id=guild_id,
                     channel_id=1, user_id=user_id, inputs=inputs.to_payload(), seed=1)


def load_busy_month(path: Path, guild_id: int, count: int) -> None:
    """``count`` committed reservations earlier this month, written directly (setup only)."""
    window = Window.at(time.time())
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO usage_reservations (job_key, guild_id, user_id, units, cost_estimate,"
            " cost_actual, state, day, month, created_at) VALUES (?, ?, ?, 1, 0.08, 0.08,"
            " 'committed', ?, ?, ?)",
            [(new_job_id(), guild_id, 10_000 + i % 300, f"{window.month}-00", window.month,
              time.time() - 86_400) for i in range(count)])


async def timed(quota: QuotaService, job: JobRecord) -> tuple[bool, float]:
    start = time.perf_counter()
    try:
        await quota.reserve(job)
        granted = True
    except QuotaDenied:
        granted = False
    return granted, time.perf_counter() - start


async def run_scenario(index: int, scenario: Scenario, directory: Path, requesters: int,
                       rounds: int, busy: int, max_batch: int) -> Result:
    path = directory / f"scenario-{index}.db"
    store = await Store.open(path)
    quota = QuotaService(store, max_batch=max_batch)
    guilds = [index * 1000 + r for r in range(rounds)]
    for guild_id in guilds:
        if scenario.limits:
            await quota.set_limits(guild_id, MOD, scenario.limits)
    if scenario.busy_month:
        await store.close()
        for guild_id in guilds:
            load_busy_month(path, guild_id, busy)
        store = await Store.open(path)
        quota = QuotaService(store, max_batch=max_batch)

    latencies: list[float] = []
    granted_total = overspend = 0
    elapsed = 0.0
    for guild_id in guilds:
        jobs = [make_job(guild_id, 7 if scenario.one_member else 100 + i)
                for i in range(requesters)]
        start = time.perf_counter()
        answers = await asyncio.gather(*(timed(quota, j) for j in jobs))
        elapsed += time.perf_counter() - start
        granted = sum(1 for ok, _ in answers if ok)
        latencies.extend(lat for _, lat in answers)
        granted_total += granted
        if scenario.allowed is not None:
            overspend += max(0, granted - scenario.allowed)
    await store.close()

    overspend_db = 0
    if scenario.allowed is not None:  # a restart: what does the file say?
        reopened = await Store.open(path)
        try:
            for guild_id in guilds:
                snapshot, _ = await QuotaService(reopened).snapshot(guild_id, 7)
                counted = snapshot.usage.guild_day
                overspend_db += max(0, counted - scenario.allowed)
        finally:
            await reopened.close()
    latencies.sort()
    return Result(
        scenario=scenario, decisions=requesters * rounds, seconds=elapsed,
        granted=granted_total, overspend=overspend, overspend_db=overspend_db,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[int(len(latencies) * 0.99) - 1] * 1000,
    )


def table(results: list[Result], requesters: int, rounds: int, busy: int,
          max_batch: int) -> str:
    lines = [
        f"Quota reservations: {requesters} concurrent requesters × {rounds} rounds per "
        f"scenario; up to {max_batch} decision(s) per transaction; "
        f"SQLite {sqlite3.sqlite_version}, WAL, synchronous=NORMAL; "
        f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}. Busy month = {busy:,} "
        "settled reservations already this month.",
        "",
        "| scenario | decisions | granted | decisions/s | p50 wait ms | p99 wait ms "
        "| overspend (answers) | overspend (db after restart) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario.name} | {r.decisions:,} | {r.granted:,} | {r.rate:,.0f} | "
            f"{r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.overspend} | {r.overspend_db} |")
    worst = min(r.rate for r in results)
    total_overspend = sum(r.overspend + r.overspend_db for r in results)
    lines += ["", f"Slowest scenario: {worst:,.0f} decisions/s (target ≥ {TARGET:,.0f}/s: "
                  f"{'met' if worst >= TARGET else 'NOT met'}). Overspend: {total_overspend} "
                  f"(must be 0). Waits include queueing behind the other requesters: one "
                  "connection serves every decision in turn."]
    return "\n".join(lines)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requesters", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--busy-month", type=int, default=20_000)
    parser.add_argument("--only", help="run only scenarios whose name contains this")
    parser.add_argument("--unbatched", action="store_true",
                        help="one transaction per decision (MAX_BATCH = 1), for comparison")
    args = parser.parse_args(argv)
    max_batch = 1 if args.unbatched else MAX_BATCH
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-quota-") as tmp:
        for index, scenario in enumerate(SCENARIOS, start=1):
            if args.only and args.only not in scenario.name:
                continue
            results.append(await run_scenario(index, scenario, Path(tmp), args.requesters,
                                              args.rounds, args.busy_month, max_batch))
            print(f"… {scenario.name}: {results[-1].rate:,.0f}/s", file=sys.stderr)
    print(table(results, args.requesters, args.rounds, args.busy_month, max_batch))
    failed: Any = any(r.overspend or r.overspend_db for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
