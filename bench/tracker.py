"""Benchmark: the adaptive JobTracker against a plain once-a-second poller.

Run from the repository root (loopback only, stops by itself)::

    .venv/bin/python -m bench.tracker                   # sizes 50, 500, 2000 (~5.5 min)
    .venv/bin/python -m bench.tracker --sizes 50,500
    .venv/bin/python -m bench.tracker --quick           # smoke run: 20 jobs, short timings
    .venv/bin/python -m bench.tracker --variants warm,baseline   # skip the cold tracker
    .venv/bin/python -m bench.tracker --sizes 2000 --variants warm \
        --database postgresql://postgres@127.0.0.1/test   # SQLite and PostgreSQL side by side

With ``--database`` every tracker row runs twice: on an SQLite file and on a scratch
database made on that PostgreSQL server (its role must be allowed to create databases;
the scratch database is dropped afterwards).

For every size and variant the parent starts a fresh local RunComfy server
(``python -m bot.localserver``) in its own process, then runs the implementation in its
own child process (``--child``), so CPU seconds and peak RSS are the bot side's only. The
child submits N jobs at once, records for each job the ``time.monotonic()`` at which it
heard of the completion, and prints one JSON line. The parent then reads the server's
``GET /_control/state`` (request counts, per-job ``completed_at_monotonic``) and prints a
markdown table and the targets.

Clocks: the server stamps jobs with ``time.monotonic()`` in its own process. On Linux
``CLOCK_MONOTONIC`` is one system-wide clock (per time namespace), so values from different
processes compare directly. This is checked, not assumed: the processes' time namespaces
(``/proc/<pid>/ns/time``) must be equal, and for every completed job the server's submit
time (``completed_at_monotonic - queue_seconds - run_seconds``) must lie between the
child's clock readings just before and just after the submit request.

Variants: ``warm`` is the tracker whose store was seeded with 20 completed jobs of
realistic durations (drawn from the server's distributions with another seed), as after
any period of use; ``cold`` has an empty store (default run window 3-30 s);
``baseline`` polls each job's status every 1.0 s until it is completed, then fetches the
result, through the same concurrency bound as the tracker (``TrackerConfig().concurrency``)
and the same ``RunComfyClient``; it keeps nothing in SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    LocalProvider,
    markdown_table,
    proc_cpu,
    rusage,
    same_time_namespace,
    seed_history,
    value_range,
)
from bench.postgres import engine_name, scratch_database

DEFAULT_SIZES = (50, 500, 2000)
VARIANTS = ("warm", "cold", "baseline")
IMPL_NAMES = {"warm": "tracker (warm)", "cold": "tracker (cold)", "baseline": "baseline 1 s"}
SEED_JOBS = 20
REALISTIC_QUEUE = "0-20"
REALISTIC_RUN = "5-15"
BASELINE_INTERVAL = 1.0
CLOCK_SLACK = 1e-6  # float rounding when rebuilding the server's submit time
# Targets.
P95_TARGET = 1.0
STATUS_RATIO_TARGET = 0.3
RSS_TARGET_MB = 200.0
RSS_TARGET_N = 10_000


# ============================================================================ child side


def _child(args: argparse.Namespace) -> None:
    # Every variant imports the same modules, so their RSS baselines match.
    import logging

    import bot.providers.runcomfy
    import bot.store
    import bot.tracker  # noqa: F401  (imported for the RSS baseline of every variant)

    logging.basicConfig(level=logging.WARNING)
    cpu0, rss_idle = rusage()
    result = asyncio.run(_child_run(args))
    cpu1, rss_peak = rusage()
    result.update(cpu_s=cpu1 - cpu0, rss_peak_mb=rss_peak, rss_idle_mb=rss_idle)
    print(json.dumps(result), flush=True)


def _make_client(base_url: str, token: str) -> Any:
    from bot.providers.runcomfy import RunComfyClient
    from bot.providers.types import SubmitReceipt

    class TimedClient(RunComfyClient):
        """The real client; also brackets each submit with two clock readings."""

        submit_times: dict[str, tuple[float, float]]

        async def submit(self, model: str, inputs: Any) -> SubmitReceipt:
            before = time.monotonic()
            receipt = await super().submit(model, inputs)
            self.submit_times[receipt.request_id] = (before, time.monotonic())
            return receipt

    client = TimedClient(token=token, base_url=base_url)
    client.submit_times = {}
    return client


def _payload(i: int) -> dict[str, Any]:
    from bot.inputs import GenerateInputs

    return GenerateInputs(prompt=f"benchmark lighthouse number {i}", seed=i).to_payload()


async def _child_run(args: argparse.Namespace) -> dict[str, Any]:
    client = _make_client(args.base_url, args.token)
    try:
        if args.child == "baseline":
            out = await _run_baseline(client, args.n, args.deadline)
        else:
            out = await _run_tracker(client, args)
    finally:
        await client.aclose()
    from bot.tracker import TrackerConfig

    out["submit_times"] = client.submit_times
    out["concurrency"] = TrackerConfig().concurrency
    return out


async def _run_tracker(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    from bot.inputs import GENERATE_MODEL
    from bot.jobs import JobRecord, JobStatus, new_job_id
    from bot.store import Store
    from bot.tracker import JobEvent, JobTracker

    n: int = args.n
    heard: dict[str, float] = {}
    ended = 0
    all_ended = asyncio.Event()

    class Listener:
        async def on_job_event(self, event: JobEvent) -> None:
            nonlocal ended
            if event.resumed or not event.status.terminal:
                return
            if event.status is JobStatus.COMPLETED and event.job.request_id:
                heard[event.job.request_id] = time.monotonic()
            ended += 1
            if ended >= n:
                all_ended.set()

    with tempfile.TemporaryDirectory(prefix="bench-tracker-") as tmp:
        store = await Store.open(args.database_url or Path(tmp) / "bot.db")
        try:
            if args.child == "warm":
                await seed_history(store, SEED_JOBS, value_range(args.queue), value_range(args.run),
                                    args.seed + 1)
            tracker = JobTracker(store, {"runcomfy": client})  # default TrackerConfig
            tracker.add_listener(Listener())
            await tracker.start()
            jobs = [
                JobRecord(id=new_job_id(), provider="runcomfy", model=GENERATE_MODEL,
                          channel_id=1, user_id=1, inputs=_payload(i), seed=i)
                for i in range(n)
            ]
            started = time.monotonic()
            try:
                await asyncio.gather(*(tracker.submit(job) for job in jobs))
                submitted = time.monotonic() - started
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(all_ended.wait(), args.deadline)
                wall = time.monotonic() - started
            finally:
                await tracker.stop()
        finally:
            await store.close()
    return {"impl": args.child, "n": n, "heard": heard, "ended": ended,
            "submit_s": submitted, "wall_s": wall}


async def _run_baseline(client: Any, n: int, deadline: float) -> dict[str, Any]:
    from bot.inputs import GENERATE_MODEL
    from bot.providers.errors import ProviderError
    from bot.providers.types import RemoteState
    from bot.tracker import TrackerConfig

    limit = asyncio.Semaphore(TrackerConfig().concurrency)  # same bound as the tracker
    heard: dict[str, float] = {}
    ended = 0
    started = time.monotonic()
    stop_at = started + deadline

    async def one(i: int) -> None:
        nonlocal ended
        try:
            async with limit:
                receipt = await client.submit(GENERATE_MODEL, _payload(i))
        except ProviderError:
            ended += 1
            return
        request_id = receipt.request_id
        next_call = time.monotonic() + BASELINE_INTERVAL
        while next_call < stop_at:  # bounded: at most deadline / interval calls
            await asyncio.sleep(max(0.0, next_call - time.monotonic()))
            next_call = time.monotonic() + BASELINE_INTERVAL
            try:
                async with limit:
                    status = await client.status(request_id)
                if status.state is RemoteState.COMPLETED:
                    async with limit:
                        result = await client.result(request_id)
                    if result.state is RemoteState.COMPLETED:
                        heard[request_id] = time.monotonic()
                        ended += 1
                        return
                elif status.state in (RemoteState.FAILED, RemoteState.CANCELLED):
                    ended += 1
                    return
            except ProviderError:
                continue

    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.monotonic() - started
    return {"impl": "baseline", "n": n, "heard": heard, "ended": ended,
            "submit_s": None, "wall_s": wall}


# ============================================================================ parent side


@dataclass
class Row:
    impl: str
    n: int
    done: int
    asks_per_job: float  # status and result calls
    other_per_job: float
    delays: list[float]
    cpu_s: float
    rss_peak_mb: float
    rss_idle_mb: float
    wall_s: float
    server_cpu_s: float
    concurrency: int
    #: status and result calls per job a poller keeping exactly to 1 s would make (from the
    #: server's per-job queue and run times): what the baseline would do on a fast enough
    #: machine.
    nominal_asks_per_job: float
    notes: list[str] = field(default_factory=list)

    def pct(self, p: float) -> float:
        if not self.delays:
            return math.nan
        ordered = sorted(self.delays)
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)]  # nearest rank


def _run_one(variant: str, n: int, args: argparse.Namespace, database: str = "") -> Row:
    """One row: ``database`` is the store's URL ("" = a temporary SQLite file)."""
    if database.startswith("postgres"):
        with scratch_database(database, "bench_tracker") as url:
            row = _run_one_on(variant, n, args, url)
    else:
        row = _run_one_on(variant, n, args, "")
    if variant != "baseline" and args.database:
        row.impl += f" · {engine_name(database)}"
    return row


def _run_one_on(variant: str, n: int, args: argparse.Namespace, database: str) -> Row:
    queue_high, run_high = value_range(args.queue)[1], value_range(args.run)[1]
    # Long enough for the submit burst, the slowest job and a saturated poller; bounded.
    deadline = queue_high + run_high + 30.0 + n * 0.02
    server = LocalProvider(queue=args.queue, run=args.run, seed=args.seed)
    try:
        server.wait_ready()
        child = subprocess.run(
            [sys.executable, "-m", "bench.tracker", "--child", variant, "--n", str(n),
             "--base-url", f"http://127.0.0.1:{server.port}", "--token", server.token,
             "--queue", args.queue, "--run", args.run, "--seed", str(args.seed),
             "--deadline", str(deadline), "--database-url", database],
            cwd=ROOT, capture_output=True, text=True, timeout=deadline + 120,
        )
        if child.returncode != 0:
            raise RuntimeError(f"{variant} child failed ({child.returncode}):\n"
                               f"{child.stderr[-3000:]}")
        out = json.loads(child.stdout.strip().splitlines()[-1])
        same_ns = same_time_namespace(server.proc.pid)
        state = server.state()
        server_cpu = proc_cpu(server.proc.pid) - server.cpu_ready
    finally:
        server.stop()
    return _row(variant, n, out, state, same_ns, server_cpu)


def _row(variant: str, n: int, out: dict[str, Any], state: dict[str, Any],
         same_ns: bool | None, server_cpu: float) -> Row:
    counts: dict[str, int] = state["request_counts"]
    # The calls that ask about a job: a status poll, or a result (the tracker asks a
    # running job for its result, which also fetches the image; the baseline fetches the
    # result once, after the status said completed).
    asks = counts.get("status", 0) + counts.get("result", 0)
    other = sum(v for k, v in counts.items() if k not in ("status", "result", "control"))
    jobs = {j["request_id"]: j for j in state["jobs"]}
    brackets: dict[str, list[float]] = out["submit_times"]
    delays: list[float] = []
    bad_clock = 0
    for request_id, heard_at in out["heard"].items():
        job = jobs.get(request_id)
        if job is None or job["completed_at_monotonic"] is None:
            bad_clock += 1  # heard of a completion the server does not know: impossible
            continue
        completed = float(job["completed_at_monotonic"])
        submitted = completed - job["queue_seconds"] - job["run_seconds"]
        before, after = brackets[request_id]
        if not before - CLOCK_SLACK <= submitted <= after + CLOCK_SLACK or heard_at < completed:
            bad_clock += 1
        delays.append(heard_at - completed)
    row = Row(
        impl=IMPL_NAMES[variant], n=n, done=len(delays),
        asks_per_job=asks / n, other_per_job=other / n, delays=delays,
        cpu_s=out["cpu_s"], rss_peak_mb=out["rss_peak_mb"], rss_idle_mb=out["rss_idle_mb"],
        wall_s=out["wall_s"], server_cpu_s=server_cpu, concurrency=out["concurrency"],
        nominal_asks_per_job=sum(
            math.ceil((j["queue_seconds"] + j["run_seconds"]) / BASELINE_INTERVAL) + 1
            for j in state["jobs"]) / n,
    )
    if same_ns is False:
        row.notes.append("server runs in another time namespace: delays not comparable")
    if bad_clock:
        row.notes.append(f"clock check failed for {bad_clock} job(s)")
    if row.done < n:
        row.notes.append(f"only {row.done}/{n} completions heard before the deadline")
    return row


def _table(rows: Sequence[Row]) -> str:
    head = ("impl", "N", "done", "status+result calls/job", "other calls/job", "delay p50 s",
            "delay p95 s", "delay max s", "bot CPU s", "bot peak RSS MB", "wall s")
    return markdown_table(head, (
        (r.impl, r.n, r.done, f"{r.asks_per_job:.2f}", f"{r.other_per_job:.2f}",
         f"{r.pct(0.5):.2f}", f"{r.pct(0.95):.2f}", f"{max(r.delays, default=math.nan):.2f}",
         f"{r.cpu_s:.1f}", f"{r.rss_peak_mb:.0f}", f"{r.wall_s:.1f}")
        for r in rows))


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _status_bound(run: tuple[float, float], nominal: float) -> float:
    """The fewest status+result calls per job any poller can make and still see 95% of
    completions within ``P95_TARGET`` seconds, as a share of the 1 s poller's ``nominal``.

    Run times spread over ``run``: after the start, a completion can come at any moment of
    a window ``run[1] - run[0]`` wide, and a poller that is to notice 95% of them within
    P95_TARGET must ask at least once every ~P95_TARGET/0.95 s across that window, plus the
    first call and the one that sees the job start."""
    window = max(0.0, run[1] - run[0])
    return (window / (P95_TARGET / 0.95) + 2) / nominal if nominal else math.nan


def _targets(rows: Sequence[Row], run: tuple[float, float] = (5.0, 15.0)) -> list[str]:
    lines: list[str] = []
    trackers = [r for r in rows if r.impl.startswith("tracker")]
    for r in trackers:
        p95 = r.pct(0.95)
        ok = r.done == r.n and p95 <= P95_TARGET
        lines.append(f"{_verdict(ok)}  {r.impl}, N={r.n}: p95 delay {p95:.2f} s "
                     f"<= {P95_TARGET:g} s (all {r.n} heard: {r.done == r.n})")
    for r in trackers:
        base = next((b for b in rows if b.n == r.n and b.impl.startswith("baseline")), None)
        if base is None:
            continue
        ratio = r.asks_per_job / base.asks_per_job if base.asks_per_job else math.nan
        line = (f"{_verdict(ratio <= STATUS_RATIO_TARGET)}  {r.impl}, N={r.n}: "
                f"status+result calls/job {r.asks_per_job:.2f} vs baseline "
                f"{base.asks_per_job:.2f} = {ratio:.2f}x <= {STATUS_RATIO_TARGET}x")
        kept = base.asks_per_job / base.nominal_asks_per_job
        if kept < 0.9:
            line += (f" (baseline kept only {kept:.0%} of its 1 s rate, bot CPU-bound; vs its "
                     f"nominal {base.nominal_asks_per_job:.2f}/job: "
                     f"{r.asks_per_job / base.nominal_asks_per_job:.2f}x)")
        lines.append(line)
        bound = _status_bound(run, base.nominal_asks_per_job)
        if bound > STATUS_RATIO_TARGET:
            lines.append(f"      (no poller can meet both: with run times spread over "
                         f"{run[0]:g}-{run[1]:g} s, a p95 of {P95_TARGET:g} s needs at least "
                         f"{bound:.2f}x the baseline's calls)")
    big = [r for r in trackers if r.n == RSS_TARGET_N]
    for r in big:
        lines.append(f"{_verdict(r.rss_peak_mb < RSS_TARGET_MB and r.done == r.n)}  "
                     f"{r.impl}, N={r.n}: peak RSS {r.rss_peak_mb:.0f} MB < "
                     f"{RSS_TARGET_MB:.0f} MB")
    if not big:
        lines.append(f"n/a   peak RSS target needs N={RSS_TARGET_N} (not in --sizes)")
    return lines


def _parent(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r}; choose from {', '.join(VARIANTS)}")
    print(f"# tracker benchmark: sizes {sizes}, variants {variants}, queue {args.queue} s, "
          f"run {args.run} s (uniform per job), seed {args.seed}", flush=True)
    rows: list[Row] = []
    for n in sizes:
        for variant, database in [(v, d) for v in variants for d in (
                ("", args.database) if args.database and v != "baseline" else ("",))]:
            began = time.monotonic()
            row = _run_one(variant, n, args, database)
            rows.append(row)
            print(f"#   {row.impl:15} N={n:<5} done in {time.monotonic() - began:5.1f} s; "
                  f"bot CPU busy {row.cpu_s / row.wall_s:.0%} of wall; "
                  f"server CPU {row.server_cpu_s:.1f} s; bot RSS after imports "
                  f"{row.rss_idle_mb:.0f} MB" + "".join(f"; {x}" for x in row.notes),
                  flush=True)
    print()
    print(_table(rows))
    print()
    print("Targets:")
    if (args.queue, args.run) != (REALISTIC_QUEUE, REALISTIC_RUN):
        print(f"(the targets are meant for the realistic timings, queue {REALISTIC_QUEUE} s and "
              f"run {REALISTIC_RUN} s; this run used others)")
    for line in _targets(rows, value_range(args.run)):
        print(line)
    print()
    clock_ok = not any("clock" in note or "namespace" in note for r in rows for note in r.notes)
    print(
        "Notes: delay = time.monotonic() when the bot heard COMPLETED minus the server's "
        "completed_at_monotonic (CLOCK_MONOTONIC is shared across processes on Linux; "
        f"checked per job via the submit bracket and /proc/*/ns/time: "
        f"{'ok' if clock_ok else 'FAILED'}). Status+result calls = every call asking about "
        "a job; other calls = submit (+ cancel/file). "
        f"Bot CPU = user+system seconds of the child from setup to the last completion "
        f"(imports excluded); RSS = ru_maxrss of the child. 'warm' = store seeded with "
        f"{SEED_JOBS} completed jobs of realistic durations; 'cold' = empty store. Baseline: "
        f"status every {BASELINE_INTERVAL:.0f} s per job, same bound of "
        f"{rows[0].concurrency if rows else '?'} concurrent calls as the tracker, no SQLite. "
        f"All N jobs are submitted at once; one fresh server process per row."
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tracker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="comma-separated job counts (50,500,2000)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated: warm, cold, baseline (all three)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 20 jobs, queue 0-4 s, run 1-3 s")
    parser.add_argument("--queue", default=REALISTIC_QUEUE,
                        help=f"queue seconds LOW-HIGH ({REALISTIC_QUEUE})")
    parser.add_argument("--run", default=REALISTIC_RUN,
                        help=f"run seconds LOW-HIGH ({REALISTIC_RUN})")
    parser.add_argument("--seed", type=int, default=20240611, help="seed of the timings")
    parser.add_argument("--database", default="",
                        help="also run the tracker on PostgreSQL: a postgresql:// URL whose "
                             "role may create (scratch) databases")
    parser.add_argument("--database-url", default="", help=argparse.SUPPRESS)
    # Child mode (used by the parent).
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--token", default="", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=120.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if not args.base_url.startswith("http://127.0.0.1:"):
            raise SystemExit("the benchmark only talks to 127.0.0.1")
        _child(args)
        return
    if args.quick:
        args.sizes, args.queue, args.run = "20", "0-4", "1-3"
    _parent(args)


if __name__ == "__main__":
    main()
