"""The burst benchmark's rows, tables and targets (``bench/burst.py`` measures them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.common import markdown_table, percentile

# Targets (printed, not asserted).
TARGET_P99_1000 = 1.0
TARGET_P99_100 = 0.1
TARGET_BASELINE_FACTOR = 2.0
TARGET_DELIVERY_P95_500 = 3.0


@dataclass
class Row:
    variant: str
    level: str
    n: int
    guilds: int
    acks: list[float]
    late: int
    unknown_10062: int
    channel_posts: int
    cpu_per_1000: float
    rss_mb: float
    log_mb: float
    deliveries: list[float] = field(default_factory=list)
    delivered: int = 0
    #: Provider completion → the tracker's terminal event; that event → image at the fake.
    noticing: list[float] = field(default_factory=list)
    sending: list[float] = field(default_factory=list)
    #: The burst handed over → the provider took the job (its submit): what a faster end
    #: must not buy with slower starts.
    submitting: list[float] = field(default_factory=list)
    #: The burst handed over → the image at the fake: what the member waited in all.
    waiting: list[float] = field(default_factory=list)
    #: Per job: the provider's status and result calls, every request Discord got (the
    #: answer included), and the bot's CPU from the last answer until all were delivered.
    provider_calls: dict[str, float] = field(default_factory=dict)
    discord_requests: float = 0.0
    cpu_delivery_ms: float = 0.0


def fmt_ms(x: float) -> str:
    return f"{x * 1000:.0f}"


def ack_table(rows: Sequence[Row]) -> str:
    head = ("variant", "log", "N", "servers", "ack p50 ms", "p90 ms", "p99 ms", "max ms",
            "acks > 3 s", "10062", "channel posts", "CPU s / 1000", "peak RSS MB", "log MB")
    return markdown_table(head, (
        (r.variant, r.level, r.n, r.guilds, fmt_ms(percentile(r.acks, 50)),
         fmt_ms(percentile(r.acks, 90)), fmt_ms(percentile(r.acks, 99)),
         fmt_ms(max(r.acks, default=float("nan"))), r.late, r.unknown_10062, r.channel_posts,
         f"{r.cpu_per_1000:.2f}", f"{r.rss_mb:.0f}", f"{r.log_mb:.1f}")
        for r in rows))


def delivery_table(rows: Sequence[Row]) -> str:
    head = ("N", "delivered", "completion → image p50 s", "p95 s", "max s",
            "completion → noticed p50 s", "p95 s", "noticed → image p50 s", "p95 s",
            "command → submitted p50 s", "p95 s", "command → image p50 s", "p95 s")
    return markdown_table(head, (
        (r.n, f"{r.delivered}/{r.n}", *(f"{value:.2f}" for value in (
            percentile(r.deliveries, 50), percentile(r.deliveries, 95), max(r.deliveries),
            percentile(r.noticing, 50), percentile(r.noticing, 95),
            percentile(r.sending, 50), percentile(r.sending, 95),
            percentile(r.submitting, 50), percentile(r.submitting, 95),
            percentile(r.waiting, 50), percentile(r.waiting, 95))))
        for r in rows if r.deliveries or r.delivered))


def work_table(rows: Sequence[Row]) -> str:
    """What each delivered job cost: provider calls, Discord requests, the bot's CPU."""
    head = ("N", "status calls / job", "result calls / job", "Discord requests / job",
            "bot CPU ms / job (deliveries)")
    return markdown_table(head, (
        (r.n, f"{r.provider_calls.get('status', 0):.2f}",
         f"{r.provider_calls.get('result', 0):.2f}", f"{r.discord_requests:.2f}",
         f"{r.cpu_delivery_ms:.1f}")
        for r in rows if r.deliveries or r.delivered))


def targets(rows: Sequence[Row]) -> list[str]:
    out = []
    floor = {(r.level, r.n): percentile(r.acks, 99) for r in rows if r.variant == "defer-first"}
    for r in rows:
        if r.variant != "launch":
            continue
        p99 = percentile(r.acks, 99)
        if r.n == 1000:
            ok = r.late == 0 and p99 <= TARGET_P99_1000
            out.append(f"{'PASS' if ok else 'FAIL'}  {r.level} N=1000: every ack < 3 s "
                       f"({r.late} late), p99 {p99 * 1000:.0f} ms <= 1000 ms")
        if r.n == 100:
            ok = p99 <= TARGET_P99_100
            out.append(f"{'PASS' if ok else 'FAIL'}  {r.level} N=100: p99 {p99 * 1000:.0f} ms "
                       "<= 100 ms")
        base = floor.get((r.level, r.n))
        if base is not None and r.n in (100, 1000):
            ok = p99 <= TARGET_BASELINE_FACTOR * base
            out.append(f"{'PASS' if ok else 'FAIL'}  {r.level} N={r.n}: p99 {p99 * 1000:.0f} ms "
                       f"<= 2 x defer-first p99 {base * 1000:.0f} ms")
        if r.n == 500 and r.deliveries:
            p95 = percentile(r.deliveries, 95)
            ok = p95 <= TARGET_DELIVERY_P95_500 and r.delivered == r.n
            out.append(f"{'PASS' if ok else 'FAIL'}  N=500: completion → image p95 {p95:.2f} s "
                       f"<= 3 s ({r.delivered}/{r.n} delivered)")
    return out
