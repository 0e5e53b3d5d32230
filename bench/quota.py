"""Benchmark: quota reservation decisions per second, and overspend, on a real SQLite file
and (with ``--database``) on PostgreSQL, side by side.

Run from the repository root (no network; temporary databases; about a minute per engine)::

    .venv/bin/python -m bench.quota
    .venv/bin/python -m bench.quota --requesters 500 --rounds 20 --busy-month 20000
    .venv/bin/python -m bench.quota --unbatched     # one transaction per decision
    .venv/bin/python -m bench.quota --database postgresql://postgres@127.0.0.1/test

With ``--database`` every scenario runs on SQLite and then on a scratch database made on
that PostgreSQL server (and dropped afterwards), in one process; "PostgreSQL × 2" runs
each round's requesters from two processes at once (two event loops, half each), as two
bot processes sharing the server would.

Each scenario runs ``--rounds`` rounds. A round starts ``--requesters`` coroutines at once,
one request each, through :meth:`bot.quota_service.QuotaService.reserve` (which decides
queued requests in arrival order, up to ``MAX_GROUP`` per ``BEGIN IMMEDIATE``
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
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.postgres import scratch_database
from bot.inputs import GenerateInputs
from bot.jobs import JobRecord, new_job_id
from bot.quota import QuotaDenied, Window
from bot.quota_admin import QuotaAdmin
from bot.quota_service import MAX_GROUP, QuotaService
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


async def load_busy_month(store: Store, guild_id: int, count: int) -> None:
    """``count`` committed reservations earlier this month, written directly (setup only)."""
    window = Window.at(time.time())
    async with store.transaction():
        await store._executemany(
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


async def run_scenario(index: int, scenario: Scenario, database: str, requesters: int,
                       rounds: int, busy: int, max_group: int, processes: int = 1) -> Result:
    path = database
    store = await Store.open(path)
    admin = QuotaAdmin(store)
    guilds = [index * 1000 + r for r in range(rounds)]
    for guild_id in guilds:
        if scenario.limits:
            await admin.set_limits(guild_id, MOD, scenario.limits)
    if scenario.busy_month:
        for guild_id in guilds:
            await load_busy_month(store, guild_id, busy)
    await store.close()

    latencies: list[float] = []
    granted_total = overspend = 0
    elapsed = 0.0
    for guild_id in guilds:
        jobs = [make_job(guild_id, 7 if scenario.one_member else 100 + i)
                for i in range(requesters)]
        answers, seconds = run_round(path, jobs, max_group, processes)
        elapsed += seconds
        granted = sum(1 for ok, _ in answers if ok)
        latencies.extend(lat for _, lat in answers)
        granted_total += granted
        if scenario.allowed is not None:
            overspend += max(0, granted - scenario.allowed)

    overspend_db = 0
    if scenario.allowed is not None:  # a restart: what does the file say?
        reopened = await Store.open(path)
        try:
            for guild_id in guilds:
                snapshot = await QuotaService(reopened).snapshot(guild_id, 7)
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


def run_round(database: str, jobs: list[JobRecord], max_group: int,
              processes: int) -> tuple[list[tuple[bool, float]], float]:
    """One round: every job's request at once, from ``processes`` event loops (threads),
    each with its own store; returns the answers and the wall time from the common start."""
    parts = [jobs[i::processes] for i in range(processes)]
    ready = threading.Barrier(processes + 1)
    answers: list[list[tuple[bool, float]]] = [[] for _ in parts]
    finished: list[float] = [0.0] * processes

    def process(index: int) -> None:
        async def run() -> None:
            store = await Store.open(database)
            try:
                quota = QuotaService(store, max_group=max_group)
                ready.wait()
                answers[index] = await asyncio.gather(*(timed(quota, j) for j in parts[index]))
                finished[index] = time.perf_counter()
            finally:
                await store.close()
        asyncio.run(run())

    threads = [threading.Thread(target=process, args=(i,)) for i in range(processes)]
    for thread in threads:
        thread.start()
    ready.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return [a for part in answers for a in part], max(finished) - start


def table(results: list[Result], requesters: int, rounds: int, busy: int,
          max_group: int) -> str:
    lines = [
        f"Quota reservations: {requesters} concurrent requesters × {rounds} rounds per "
        f"scenario; up to {max_group} decision(s) per transaction; "
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


def side_by_side(engines: dict[str, list[Result]], requesters: int, rounds: int) -> str:
    names = list(engines)
    lines = [
        f"Quota decisions per second, {requesters} concurrent requesters × {rounds} rounds "
        f"per scenario ({os.cpu_count()} CPUs; SQLite {sqlite3.sqlite_version} WAL; "
        "PostgreSQL on 127.0.0.1, READ COMMITTED, guild-month row locks):",
        "",
        "| scenario | " + " | ".join(f"{n} decisions/s | {n} p99 ms" for n in names)
        + " | overspend |",
        "|---|" + "---:|---:|" * len(names) + "---:|",
    ]
    for i, first in enumerate(engines[names[0]]):
        cells = []
        overspend = 0
        for name in names:
            r = engines[name][i]
            cells.append(f"{r.rate:,.0f} | {r.p99_ms:.0f}")
            overspend += r.overspend + r.overspend_db
        lines.append(f"| {first.scenario.name} | " + " | ".join(cells) + f" | {overspend} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="also run on PostgreSQL: a postgresql:// URL "
                        "whose role may create (scratch) databases")
    parser.add_argument("--requesters", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--busy-month", type=int, default=20_000)
    parser.add_argument("--only", help="run only scenarios whose name contains this")
    parser.add_argument("--unbatched", action="store_true",
                        help="one transaction per decision (MAX_GROUP = 1), for comparison")
    args = parser.parse_args(argv)
    max_group = 1 if args.unbatched else MAX_GROUP
    scenarios = [(i, s) for i, s in enumerate(SCENARIOS, start=1)
                 if not args.only or args.only in s.name]
    engines: dict[str, list[Result]] = {"SQLite": []}
    with tempfile.TemporaryDirectory(prefix="bench-quota-") as tmp:
        for index, scenario in scenarios:
            url = f"sqlite:///{Path(tmp) / f'scenario-{index}.db'}"
            engines["SQLite"].append(_run_sync(index, scenario, url, args, max_group, 1))
            print(f"… SQLite, {scenario.name}: {engines['SQLite'][-1].rate:,.0f}/s",
                  file=sys.stderr)
    if args.database:
        for label, processes in (("PostgreSQL", 1), ("PostgreSQL × 2", 2)):
            engines[label] = []
            for index, scenario in scenarios:
                with scratch_database(args.database, "bench_quota") as url:
                    engines[label].append(
                        _run_sync(index, scenario, url, args, max_group, processes))
                print(f"… {label}, {scenario.name}: {engines[label][-1].rate:,.0f}/s",
                      file=sys.stderr)
        print(side_by_side(engines, args.requesters, args.rounds))
    else:
        print(table(engines["SQLite"], args.requesters, args.rounds, args.busy_month,
                    max_group))
    failed: Any = any(r.overspend or r.overspend_db for rs in engines.values() for r in rs)
    return 1 if failed else 0


def _run_sync(index: int, scenario: Scenario, url: str, args: argparse.Namespace,
              max_group: int, processes: int) -> Result:
    return asyncio.run(run_scenario(index, scenario, url, args.requesters, args.rounds,
                                    args.busy_month, max_group, processes))


if __name__ == "__main__":
    raise SystemExit(main())
