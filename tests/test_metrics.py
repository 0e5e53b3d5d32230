"""The metrics' feeders on their own: the tracker listener, the provider wrapper, the 429
counter, and the health check's verdicts (the end-to-end scrape is in test_discord_ops)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest

from bot import metrics
from bot.jobs import JobRecord, JobStatus, new_job_id
from bot.ops_server import GatewayState, SharedProbe, check_health
from bot.provider_metrics import MeteredProvider, MeteredSyncProvider, metered, outcome_of
from bot.providers.base import SyncProvider
from bot.providers.errors import (
    InputRejected,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    SubmitUncertain,
)
from bot.providers.types import CancelOutcome, RemoteState, RequestResult, SubmitReceipt
from bot.tracker import JobEvent

GENERATE = "ideogram/ideogram-v2/generate"


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def _job(status: JobStatus, *, finished_at: float | None = None) -> JobRecord:
    return JobRecord(id=new_job_id(), provider="runcomfy", model=GENERATE, channel_id=1,
                     user_id=2, inputs={}, seed=1, status=status, finished_at=finished_at)


async def test_jobs_are_counted_once_and_in_flight_follows_events() -> None:
    listener = metrics.JobMetrics()
    completed = sample("ideogram_jobs_total", model=GENERATE, status="completed")
    job = _job(JobStatus.QUEUED)
    await listener.on_job_event(JobEvent(job=job))
    assert sample("ideogram_jobs_in_flight", status="queued") == 1
    await listener.on_job_event(JobEvent(job=job.evolve(status=JobStatus.RUNNING)))
    assert sample("ideogram_jobs_in_flight", status="queued") == 0
    assert sample("ideogram_jobs_in_flight", status="running") == 1
    ended = job.evolve(status=JobStatus.COMPLETED, finished_at=time.time())
    await listener.on_job_event(JobEvent(job=ended, ended=True))
    assert sample("ideogram_jobs_in_flight", status="running") == 0
    assert sample("ideogram_jobs_total", model=GENERATE, status="completed") == completed + 1
    # The same end announced again (after a restart, by a reconciliation, at a takeover),
    # however recent: not counted again.
    await listener.on_job_event(JobEvent(job=ended, resumed=True))
    await metrics.JobMetrics().on_job_event(JobEvent(job=ended, resumed=True))
    assert sample("ideogram_jobs_total", model=GENERATE, status="completed") == completed + 1


async def test_a_command_discord_never_saw_answered_is_not_a_job_that_ended() -> None:
    failed = sample("ideogram_jobs_total", model=GENERATE, status="failed")
    dropped = _job(JobStatus.FAILED, finished_at=time.time())
    await metrics.JobMetrics().on_job_event(JobEvent(job=dropped, announce=False, ended=True))
    assert sample("ideogram_jobs_total", model=GENERATE, status="failed") == failed


def test_pending_is_read_from_the_tracker_when_scraped() -> None:
    sending = [3]
    metrics.JobMetrics().count_pending(lambda: sending[0])
    assert sample("ideogram_jobs_in_flight", status="pending") == 3
    sending[0] = 0
    assert sample("ideogram_jobs_in_flight", status="pending") == 0


async def test_jobs_another_process_took_over_leave_the_gauge() -> None:
    listener = metrics.JobMetrics()
    queued, running = _job(JobStatus.QUEUED), _job(JobStatus.RUNNING)
    await listener.on_job_event(JobEvent(job=queued))
    await listener.on_job_event(JobEvent(job=running))
    listener.release({queued.id, running.id, "never-seen"})
    assert sample("ideogram_jobs_in_flight", status="queued") == 0
    assert sample("ideogram_jobs_in_flight", status="running") == 0
    listener.release({queued.id})  # twice: still not below zero
    assert sample("ideogram_jobs_in_flight", status="queued") == 0


class FakePolled:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error

    async def submit(self, model: str, inputs: object) -> SubmitReceipt:
        if self.error is not None:
            raise self.error
        return SubmitReceipt(request_id="r-1")

    async def status(self, request_id: str) -> object:
        raise RateLimited("slow down")

    async def result(self, request_id: str, *, include_cost: bool = True) -> RequestResult:
        return RequestResult(request_id=request_id, state=RemoteState.FAILED,
                             raw_status="failed", error="no")

    async def cancel(self, request_id: str) -> CancelOutcome:
        return CancelOutcome.CANCELLED

    async def aclose(self) -> None:
        return None


class FakeSync:
    async def generate(self, model: str, inputs: object) -> RequestResult:
        await asyncio.sleep(10)
        raise AssertionError("cancelled before")

    async def aclose(self) -> None:
        return None


async def test_provider_calls_are_counted_by_outcome_and_keep_their_kind() -> None:
    wrapped = metered({"runcomfy": FakePolled(), "ideogram": FakeSync()})  # type: ignore[dict-item]  # fakes
    assert isinstance(wrapped["runcomfy"], MeteredProvider)
    assert not isinstance(wrapped["runcomfy"], SyncProvider)
    assert isinstance(wrapped["ideogram"], MeteredSyncProvider)
    assert isinstance(wrapped["ideogram"], SyncProvider)
    assert metered(wrapped) == wrapped  # no double wrapping

    def count(endpoint: str, outcome: str, provider: str = "runcomfy") -> float:
        return sample("ideogram_provider_requests_total", provider=provider,
                      endpoint=endpoint, outcome=outcome)

    before = {k: count(*k) for k in [("submit", "ok"), ("status", "rate_limited"),
                                     ("result", "failed"), ("cancel", "ok")]}
    polled = wrapped["runcomfy"]
    assert isinstance(polled, MeteredProvider)
    assert (await polled.submit(GENERATE, {})).request_id == "r-1"
    with pytest.raises(RateLimited):
        await polled.status("r-1")
    assert (await polled.result("r-1")).state is RemoteState.FAILED
    assert await polled.cancel("r-1") is CancelOutcome.CANCELLED
    for key, old in before.items():
        assert count(*key) == old + 1, key

    sync = wrapped["ideogram"]
    assert isinstance(sync, MeteredSyncProvider)
    cancelled = count("generate", "cancelled", "ideogram")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await sync.generate("ideogram/generate", {})
    assert count("generate", "cancelled", "ideogram") == cancelled + 1


@pytest.mark.parametrize(("error", "outcome"), [
    (RateLimited("x"), "rate_limited"), (SubmitUncertain("x"), "uncertain"),
    (ProviderUnavailable("x"), "unavailable"), (InputRejected("x"), "rejected"),
    (ProviderError("x"), "error"), (TimeoutError(), "timeout"), (ValueError(), "error"),
])
def test_outcome_labels(error: BaseException, outcome: str) -> None:
    assert outcome_of(error) == outcome


def test_unknown_label_values_are_folded_into_other() -> None:
    before = sample("ideogram_quota_refusals_total", limit="other")
    metrics.count_quota_refusal("user 1234 in guild 5678")
    assert sample("ideogram_quota_refusals_total", limit="other") == before + 1
    before = sample("ideogram_provider_requests_total", provider="other", endpoint="other",
                    outcome="other")
    metrics.count_provider_request("https://evil.example/1", "/v1/requests/abc", "weird")
    assert sample("ideogram_provider_requests_total", provider="other", endpoint="other",
                  outcome="other") == before + 1


def test_discord_429_warnings_are_counted() -> None:
    metrics.install_rate_limit_counter()
    metrics.install_rate_limit_counter()  # once only
    before = sample("ideogram_discord_rate_limited_total")
    logging.getLogger("discord.http").warning(
        "We are being rate limited. %s %s responded with 429. Retrying in %.2f seconds.",
        "PATCH", "https://discord.com/api/v10/x", 0.1)
    logging.getLogger("discord.webhook.async_").warning(
        "Webhook ID %s is rate limited. Retrying in %.2f seconds.", 1, 0.1)
    logging.getLogger("discord.http").warning(
        "We are being rate limited. %s %s responded with 429. Timeout of %.2f was too long, "
        "erroring instead.", "PATCH", "https://discord.com/api/v10/x", 120.0)
    logging.getLogger("discord.http").warning("Something else")
    assert sample("ideogram_discord_rate_limited_total") == before + 3


def test_the_429_counter_matches_what_this_discord_py_logs() -> None:
    """The counter reads discord.py's own warnings: a discord.py that words them otherwise
    would leave it at 0 without a sound. Every 429 warning format it logs must match."""
    import inspect
    import re

    import discord.http
    import discord.webhook.async_

    quoted = re.compile(r"'([^'\n]*rate limited[^'\n]*)'")
    formats = [fmt for module in (discord.http, discord.webhook.async_)
               for fmt in quoted.findall(inspect.getsource(module))]
    assert len(formats) >= 3, formats
    assert all(fmt.startswith(metrics.RATE_LIMIT_MESSAGES) for fmt in formats), formats


async def test_health_verdicts() -> None:
    async def writes() -> None:
        return None

    async def hangs() -> None:
        await asyncio.sleep(5)

    up = GatewayState(True, latency=0.042)
    status, body = await check_health(lambda: up, writes)
    assert status == 200 and body["status"] == "ok" and "reason" not in body
    assert body["gateway"] == {"connected": True, "latency_ms": 42.0}
    status, body = await check_health(lambda: up, hangs, probe_seconds=0.05)
    assert status == 503 and body["reason"] == "database: no answer to a write within 0.05 s"
    down = GatewayState(False, "not connected to Discord yet")
    status, body = await check_health(lambda: down, writes)
    assert status == 503 and body["reason"] == "gateway: not connected to Discord yet"
    assert body["database"]["writable"]


async def test_a_probe_slow_to_let_go_neither_holds_the_answer_nor_piles_up() -> None:
    """A cancelled write may take seconds to let go (SQLite's busy timeout, a PostgreSQL
    connection being reset): the answer is on time all the same, and requests meanwhile
    share the one probe."""
    started = 0
    release = asyncio.Event()

    async def stuck() -> None:
        nonlocal started
        started += 1
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    probe = SharedProbe(stuck)
    up = GatewayState(True, latency=0.01)
    clock = time.monotonic()
    answers = await asyncio.gather(*(check_health(lambda: up, probe, probe_seconds=0.1)
                                     for _ in range(3)))
    assert time.monotonic() - clock < 1.0
    assert [status for status, _ in answers] == [503] * 3 and started == 1
    status, _ = await check_health(lambda: up, probe, probe_seconds=0.1)  # still stuck
    assert status == 503 and started == 1
    release.set()
    await asyncio.sleep(0.05)
    status, _ = await check_health(lambda: up, probe, probe_seconds=0.1)  # a new probe
    assert status == 200 and started == 2
    await probe.aclose()


async def test_first_answers_are_timed_at_the_callback_route_only_when_discord_took_them(
        ) -> None:
    from types import SimpleNamespace

    from yarl import URL

    from cogs.core.ack_timing import ack_trace

    [on_end] = ack_trace().on_request_end
    created = time.time() - 0.25
    interaction_id = (int(created * 1000) - 1420070400000) << 22
    base = "https://discord.com/api/v10"

    async def end(method: str, path: str, status: int) -> None:
        params = SimpleNamespace(method=method, url=URL(base + path),
                                 response=SimpleNamespace(status=status))
        await on_end(None, SimpleNamespace(), params)  # type: ignore[arg-type]

    before = sample("ideogram_interaction_ack_seconds_count")
    before_sum = sample("ideogram_interaction_ack_seconds_sum")
    await end("POST", f"/interactions/{interaction_id}/secret-token/callback", 204)
    assert sample("ideogram_interaction_ack_seconds_count") == before + 1
    # Timed from the creation the id holds (0.25 s ago), not from when it was seen.
    assert 0.2 < sample("ideogram_interaction_ack_seconds_sum") - before_sum < 60
    # Refused (10062: too late), another route, a followup: not a first answer.
    await end("POST", f"/interactions/{interaction_id}/secret-token/callback", 404)
    await end("PATCH", "/webhooks/1/secret-token/messages/@original", 200)
    await end("POST", "/webhooks/1/secret-token", 200)
    assert sample("ideogram_interaction_ack_seconds_count") == before + 1
