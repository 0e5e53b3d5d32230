"""The job tracker against the local provider server and a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bot.inputs import GENERATE_MODEL
from bot.job_errors import FAILED_REMOTELY, render_job_error
from bot.jobs import JobRecord, JobStatus
from bot.localserver.app import LocalRunComfyServer
from bot.polling import DurationHistory, PollingConfig, PollState, next_delay
from bot.providers.errors import ProviderUnavailable
from bot.providers.retry import RetryPolicy
from bot.providers.runcomfy import RunComfyClient
from bot.providers.types import CancelOutcome
from bot.store import Store
from bot.tracker import (
    INTERRUPTED,
    TIMED_OUT_QUEUED,
    JobEvent,
    JobTracker,
    TrackerConfig,
    adoption,
)
from tests.harness import eventually
from tests.helpers import FAST_POLLING, TOKEN, Recorder, make_job, tracker_running


@pytest.fixture
async def client(local_server: LocalRunComfyServer) -> AsyncIterator[RunComfyClient]:
    async with RunComfyClient(token=TOKEN, base_url=local_server.base_url,
                              retry=RetryPolicy(attempts=2, base_delay=0.01)) as c:
        yield c


def tracker_for(store: Store, client: RunComfyClient, **config: Any) -> JobTracker:
    cfg = TrackerConfig(polling=FAST_POLLING, **config)
    return JobTracker(store, {"local": client}, config=cfg)


async def run_one_job(tracker: JobTracker, store: Store) -> tuple[JobRecord, JobEvent]:
    """Start the tracker, submit one job, wait for its end, stop: (submitted, final event)."""
    recorder = Recorder(store)
    tracker.add_listener(recorder)
    async with tracker_running(tracker):
        job = await tracker.submit(make_job())
        return job, await recorder.wait_terminal(job.id)


async def test_full_life_persisted_before_announced(store: Store, client: RunComfyClient,
                                                    local_server: LocalRunComfyServer) -> None:
    tracker = tracker_for(store, client)
    recorder = Recorder(store)
    tracker.add_listener(recorder)
    async with tracker_running(tracker):
        job = await tracker.submit(make_job())
        assert job.status is JobStatus.QUEUED and job.request_id in local_server.state.jobs
        final = await recorder.wait_terminal(job.id)
    assert recorder.statuses(job.id) == [JobStatus.QUEUED, JobStatus.RUNNING,
                                         JobStatus.COMPLETED]
    assert recorder.persisted_first
    assert final.job.result_urls and final.job.result_urls[0].startswith(local_server.base_url)
    assert final.job.cost == pytest.approx(0.08)
    stored = await store.get_job(job.id)
    assert stored is not None and stored.status is JobStatus.COMPLETED
    assert stored.submitted_at and stored.started_at and stored.finished_at
    assert stored.submitted_at <= stored.started_at <= stored.finished_at
    queued = [e for e in recorder.events if e.status is JobStatus.QUEUED]
    assert queued[0].eta is not None and queued[0].eta > time.time() - 1
    assert any(e.job.queue_position == 1 for e in queued)
    assert tracker.tracked == 0


async def test_failed_and_cancelled(store: Store, client: RunComfyClient,
                                    local_server: LocalRunComfyServer) -> None:
    local_server.state.config.queue_seconds = 2.0
    tracker = tracker_for(store, client)
    recorder = Recorder(store)
    tracker.add_listener(recorder)
    async with tracker_running(tracker):
        failing = await tracker.submit(make_job("boom [fail]"))
        to_cancel = await tracker.submit(make_job("never mind"))
        assert await tracker.cancel(to_cancel.id) is CancelOutcome.CANCELLED
        cancelled = await recorder.wait_terminal(to_cancel.id)
        failed = await recorder.wait_terminal(failing.id)
        assert await tracker.cancel(failing.id) is CancelOutcome.NOT_CANCELLABLE
    assert cancelled.status is JobStatus.CANCELLED
    assert local_server.state.jobs[to_cancel.request_id or ""].status().value == "cancelled"
    assert failed.status is JobStatus.FAILED
    # The provider's own reason goes to the log, the job carries the bot's words.
    assert failed.job.error == FAILED_REMOTELY
    assert recorder.persisted_first


async def test_submit_refused_ends_the_job(store: Store, client: RunComfyClient,
                                           local_server: LocalRunComfyServer) -> None:
    local_server.state.faults.insufficient_balance(1)
    tracker = tracker_for(store, client)
    recorder = Recorder(store)
    tracker.add_listener(recorder)
    job = await tracker.submit(make_job())
    assert job.status is JobStatus.FAILED and job.error == "insufficient_balance"
    assert recorder.statuses(job.id) == [JobStatus.FAILED]
    assert local_server.state.jobs == {}


async def test_submit_timeout_is_failed_and_not_resubmitted(
        store: Store, local_server: LocalRunComfyServer) -> None:
    import httpx
    local_server.state.faults.slow(1.0, kind="submit")
    async with RunComfyClient(token=TOKEN, base_url=local_server.base_url,
                              timeout=httpx.Timeout(2.0, read=0.2)) as client:
        tracker = tracker_for(store, client)
        job = await tracker.submit(make_job())
    assert job.status is JobStatus.FAILED and job.error == "submit_uncertain"
    await asyncio.sleep(0.9)
    assert local_server.state.submit_count == 1 and len(local_server.state.jobs) == 1


async def test_a_submit_past_the_trackers_deadline_is_uncertain_not_a_restart(
        store: Store, local_server: LocalRunComfyServer) -> None:
    # The tracker's own deadline ends the wait (the client's is longer): the member reads
    # that the service did not answer in time, not that the bot restarted.
    local_server.state.faults.slow(1.0, kind="submit")
    async with RunComfyClient(token=TOKEN, base_url=local_server.base_url) as client:
        job = await tracker_for(store, client, call_deadline=0.3).submit(make_job())
    assert job.status is JobStatus.FAILED and job.error == "submit_uncertain"
    assert "did not answer while taking the job" in render_job_error(job.error)
    await asyncio.sleep(0.9)
    assert local_server.state.submit_count == 1  # never resent


async def test_restart_resumes_and_completes(database_url: str, client: RunComfyClient,
                                             local_server: LocalRunComfyServer) -> None:
    local_server.state.config.queue_seconds = 0.6
    async with await Store.open(database_url) as store1, \
            tracker_running(tracker_for(store1, client)) as tracker1:
        job = await tracker1.submit(make_job())

    store2 = await Store.open(database_url)
    tracker2 = tracker_for(store2, client)
    recorder = Recorder(store2)
    tracker2.add_listener(recorder)
    try:
        await tracker2.start()
        assert recorder.events and recorder.events[0].resumed
        final = await recorder.wait_terminal(job.id)
    finally:
        await tracker2.stop()
        await store2.close()
    assert final.status is JobStatus.COMPLETED and final.resumed is False
    assert local_server.state.submit_count == 1  # resumed, never resubmitted


async def test_job_maybe_sent_at_restart_fails_without_resubmitting(
        store: Store, client: RunComfyClient, local_server: LocalRunComfyServer) -> None:
    pending = make_job().evolve(submitting_at=time.time(), message_id=42)
    await store.insert_job(pending)  # a crash between "submitting" and the request id
    tracker = tracker_for(store, client)
    recorder = Recorder(store)
    tracker.add_listener(recorder)
    await tracker.start()
    await tracker.stop()
    assert recorder.statuses(pending.id) == [JobStatus.FAILED]
    assert recorder.events[0].job.error == INTERRUPTED and recorder.events[0].resumed
    assert recorder.events[0].announce
    assert local_server.state.submit_count == 0


async def test_job_never_sent_at_restart_is_sent_once(
        store: Store, client: RunComfyClient, local_server: LocalRunComfyServer) -> None:
    pending = make_job().evolve(message_id=42)  # answered, then the process died
    await store.insert_job(pending)
    tracker = tracker_for(store, client)
    recorder = Recorder(store)
    tracker.add_listener(recorder)
    async with tracker_running(tracker):
        final = await recorder.wait_terminal(pending.id)
    assert final.status is JobStatus.COMPLETED
    assert local_server.state.submit_count == 1
    stored = await store.get_job(pending.id)
    assert stored is not None and stored.message_id == 42 and stored.submitting_at is not None


async def test_job_whose_command_was_never_answered_is_dropped_silently(
        store: Store, client: RunComfyClient, local_server: LocalRunComfyServer) -> None:
    pending = make_job()  # written, then the process died before answering Discord
    await store.insert_job(pending)
    asked: list[str] = []

    async def no_reply(job: JobRecord) -> int | None:
        asked.append(job.id)
        return None

    tracker = tracker_for(store, client)
    tracker.set_reply_confirmer(no_reply)
    recorder = Recorder(store)
    tracker.add_listener(recorder)
    await tracker.start()
    await tracker.stop()
    assert asked == [pending.id]
    assert recorder.statuses(pending.id) == [JobStatus.FAILED]
    assert recorder.events[0].announce is False
    stored = await store.get_job(pending.id)
    assert stored is not None and stored.delivered_at is not None
    assert local_server.state.submit_count == 0


async def test_a_job_discord_cannot_say_about_is_kept_for_the_next_reconciliation(
        store: Store, client: RunComfyClient, local_server: LocalRunComfyServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adoption, "ADOPT_AFTER_SECONDS", 0.0)
    pending = make_job()  # written; answered or not, the process died before knowing
    await store.insert_job(pending)
    discord_down = True

    async def confirm(job: JobRecord) -> int | None:
        if discord_down:
            raise OSError("no connection")
        return 77

    tracker = tracker_for(store, client, reconcile_interval=0)
    tracker.set_reply_confirmer(confirm)
    recorder = Recorder(store)
    tracker.add_listener(recorder)
    async with tracker_running(tracker):
        stored = await store.get_job(pending.id)
        assert stored is not None and stored.status is JobStatus.PENDING  # not dropped
        assert not tracker.tracks(pending.id) and recorder.events == []
        discord_down = False
        assert await tracker.reconcile() == 1
        final = await recorder.wait_terminal(pending.id)
    assert final.status is JobStatus.COMPLETED and final.job.message_id == 77
    assert local_server.state.submit_count == 1


async def test_reply_ids_are_written_soon_even_while_the_send_waits(
        store: Store, client: RunComfyClient) -> None:
    tracker = tracker_for(store, client)
    async with tracker_running(tracker):
        slots = tracker.slot("local", "submit")
        held = 0
        while not slots.locked():  # every submit slot taken: the send must wait
            await slots.acquire()
            held += 1
        job = await store.insert_job(make_job())
        tracker.accept(job.evolve(message_id=5150))

        async def written() -> JobRecord | None:
            row = await store.get_job(job.id)
            return row if row is not None and row.message_id == 5150 else None

        row = await eventually(written, timeout=2.0, what="the reply id written")
        assert row.status is JobStatus.PENDING and row.submitting_at is None
        for _ in range(held):
            slots.release()


async def test_at_a_start_replies_are_checked_a_few_at_a_time(
        store: Store, client: RunComfyClient) -> None:
    jobs = [make_job(f"left {i}") for i in range(20)]  # written, answers unknown
    for job in jobs:
        await store.insert_job(job)
    running = most = 0

    async def slow_no_reply(job: JobRecord) -> int | None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.02)
        running -= 1
        return None

    tracker = tracker_for(store, client)
    tracker.set_reply_confirmer(slow_no_reply)
    await tracker.start()
    await tracker.stop()
    assert most == tracker.config.adopt_concurrency
    for job in jobs:
        stored = await store.get_job(job.id)
        assert stored is not None and stored.status is JobStatus.FAILED


async def test_a_cancel_past_its_deadline_is_a_provider_error_and_changes_nothing(
        store: Store, client: RunComfyClient, local_server: LocalRunComfyServer) -> None:
    local_server.state.config.queue_seconds = 5.0
    tracker = tracker_for(store, client, call_deadline=0.3)
    async with tracker_running(tracker):
        job = await tracker.submit(make_job())
        local_server.state.faults.slow(2.0, kind="cancel")
        with pytest.raises(ProviderUnavailable):
            await tracker.cancel(job.id)
        stored = await store.get_job(job.id)
        assert stored is not None and stored.status is JobStatus.QUEUED


async def test_undelivered_results_are_announced_again(
        store: Store, client: RunComfyClient) -> None:
    tracker = tracker_for(store, client)
    job = await tracker.submit(make_job())
    recorder = Recorder(store)
    tracker.add_listener(recorder)
    await tracker.start()
    done = await recorder.wait_terminal(job.id)
    await tracker.stop()
    assert done.status is JobStatus.COMPLETED

    again = Recorder(store)
    tracker2 = tracker_for(store, client)
    tracker2.add_listener(again)
    await tracker2.start()
    await tracker2.stop()
    assert [e.job.id for e in again.events] == [job.id] and again.events[0].resumed
    await tracker2.mark_delivered(job.id)
    third = Recorder(store)
    tracker3 = tracker_for(store, client)
    tracker3.add_listener(third)
    await tracker3.start()
    await tracker3.stop()
    assert third.events == []


async def test_queue_time_limit(store: Store, client: RunComfyClient,
                                local_server: LocalRunComfyServer) -> None:
    local_server.state.config.queue_seconds = 30.0
    job, final = await run_one_job(tracker_for(store, client, queue_timeout=0.4), store)
    assert final.status is JobStatus.FAILED and final.job.error == TIMED_OUT_QUEUED
    # The tracker also withdrew it from the provider's queue.
    assert local_server.state.jobs[job.request_id or ""].status().value == "cancelled"


async def test_status_errors_back_off_and_recover(store: Store, client: RunComfyClient,
                                                  local_server: LocalRunComfyServer) -> None:
    local_server.state.faults.server_error(6, kind="status")
    local_server.state.faults.rate_limit(1, kind="status", retry_after=0.1)
    _, final = await run_one_job(tracker_for(store, client), store)
    assert final.status is JobStatus.COMPLETED


async def test_each_kind_of_provider_call_has_its_own_bound(
        store: Store, local_server: LocalRunComfyServer) -> None:
    """Submits, status polls and result fetches are bounded separately, so that a crowd of
    polls can never hold up the result fetches that lead to deliveries."""
    local_server.state.config.queue_seconds = 0.2
    local_server.state.config.run_seconds = 0.2

    def kind(path: str) -> str:
        return "submit" if path.startswith("/v1/models/") else path.rsplit("/", 1)[-1]

    class Counting(RunComfyClient):
        active: ClassVar[dict[str, int]] = {}
        peak: ClassVar[dict[str, int]] = {}

        async def _once(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
            k = kind(path)
            Counting.active[k] = Counting.active.get(k, 0) + 1
            Counting.peak[k] = max(Counting.peak.get(k, 0), Counting.active[k])
            try:
                await asyncio.sleep(0.01)
                return await super()._once(method, path, **kwargs)
            finally:
                Counting.active[k] -= 1

    async with Counting(token=TOKEN, base_url=local_server.base_url) as client:
        tracker = tracker_for(store, client, concurrency=3)
        recorder = Recorder(store)
        tracker.add_listener(recorder)
        async with tracker_running(tracker):
            jobs = await asyncio.gather(*(tracker.submit(make_job(f"p{i}")) for i in range(30)))
            for job in jobs:
                await recorder.wait_terminal(job.id, limit=20)
    assert set(Counting.peak) == {"submit", "status", "result"}
    assert all(peak <= 3 for peak in Counting.peak.values()), Counting.peak
    assert Counting.peak["submit"] == 3  # the bound is used, not only respected
    assert all(recorder.statuses(j.id)[-1] is JobStatus.COMPLETED for j in jobs)


def test_polling_is_sparse_early_and_dense_near_the_end() -> None:
    config = PollingConfig()
    history = DurationHistory(config)
    for run in (8.0, 9.0, 10.0, 11.0, 12.0, 9.5, 10.5):
        history.record(GENERATE_MODEL, 3.0, run)
    low, high = history.run_window(GENERATE_MODEL)
    assert low < 8.0 and high > 12.0
    queued = PollState(status=JobStatus.QUEUED, polls_in_status=10)
    assert next_delay(queued, GENERATE_MODEL, 0.0, history, config) == config.cap
    running = PollState(status=JobStatus.RUNNING, last_queued_poll=100.0,
                        running_seen_at=101.0)
    early = next_delay(running, GENERATE_MODEL, 101.0, history, config)
    assert early > config.near_interval  # nothing can finish yet
    assert 101.0 + early <= 100.0 + low + 1e-9  # but wake before the earliest finish
    assert next_delay(running, GENERATE_MODEL, 100.0 + low + 0.5, history,
                      config) == config.near_interval
    late = next_delay(running, GENERATE_MODEL, 100.0 + high + 20, history, config)
    assert config.near_interval < late <= config.cap


async def test_reconciliation_never_adopts_a_job_that_ended_after_the_list_was_read(
        store: Store, local_server: LocalRunComfyServer, monkeypatch: pytest.MonkeyPatch) -> None:
    async with RunComfyClient(token=TOKEN, base_url=local_server.base_url) as client:
        tracker = tracker_for(store, client)
        recorder = Recorder(store)
        tracker.add_listener(recorder)
        long_ago = time.time() - 3600
        stale = await store.insert_job(make_job().evolve(
            status=JobStatus.QUEUED, request_id="r-old", updated_at=long_ago))
        listed = [stale]  # the list as read, before the job ended
        await store.update_job(stale.id, status=JobStatus.COMPLETED, finished_at=long_ago,
                               delivered_at=long_ago)
        monkeypatch.setattr(store, "owned_unfinished_jobs", lambda: _returning(listed))
        assert await tracker.reconcile() == 0
        assert recorder.events == [] and not tracker.tracks(stale.id)


async def _returning(jobs: list[JobRecord]) -> list[JobRecord]:
    return jobs


async def test_a_job_waits_for_a_free_submit_no_longer_than_its_queue_limit(
        store: Store, local_server: LocalRunComfyServer) -> None:
    local_server.state.faults.slow(2.0, kind="submit")  # the first holds the only slot
    async with RunComfyClient(token=TOKEN, base_url=local_server.base_url) as client:
        tracker = tracker_for(store, client, concurrency=1, queue_timeout=0.5)
        first, second = make_job("first"), make_job("second")
        ended = await asyncio.gather(tracker.submit(first), tracker.submit(second))
    assert ended[0].status is JobStatus.QUEUED
    assert ended[1].status is JobStatus.FAILED and ended[1].error == TIMED_OUT_QUEUED
    assert ended[1].submitting_at is None  # never sent
    assert local_server.state.submit_count == 1


async def test_a_burst_of_sends_never_leaves_more_than_the_slots_without_their_request_id(
        tmp_path: Path, local_server: LocalRunComfyServer) -> None:
    """A provider that answers at once: each request id is on disk before its submit slot
    goes to the next job, so a crash can leave at most one sent-but-unrecorded job per
    slot (each ends "interrupted"), not the whole burst."""
    db = tmp_path / "burst.db"
    async with await Store.open(f"sqlite:///{db}") as store, \
            RunComfyClient(token=TOKEN, base_url=local_server.base_url) as client:
        tracker = tracker_for(store, client, concurrency=4)
        jobs = [make_job(f"p{i}") for i in range(120)]
        await store.insert_jobs(jobs)
        most = 0

        def unrecorded() -> int:
            with sqlite3.connect(db) as conn:
                [(recorded,)] = conn.execute(
                    "SELECT count(*) FROM jobs WHERE request_id IS NOT NULL").fetchall()
            return local_server.state.submit_count - int(recorded)

        async with tracker_running(tracker):
            for job in jobs:
                tracker.accept(job)
            await asyncio.sleep(0)  # the sends start
            deadline = time.monotonic() + 30
            while tracker.sending and time.monotonic() < deadline:
                most = max(most, unrecorded())
                await asyncio.sleep(0.002)
            assert not tracker.sending, "every job sent"
            await eventually(lambda: unrecorded() == 0, what="every request id written")
        assert most <= 4, most
