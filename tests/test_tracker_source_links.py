"""The tracker renews a reframe's expiring source link before sending it, without Discord:
a renewer that fails, hangs or gives nothing never sends a dead link, nor blocks the job."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bot import job_errors
from bot.inputs import ReframeInputs
from bot.jobs import JobRecord, JobStatus, new_job_id
from bot.localserver.app import LocalRunComfyServer
from bot.providers.retry import RetryPolicy
from bot.providers.runcomfy import RunComfyClient
from bot.store import Store
from bot.tracker import JobTracker, TrackerConfig, submission
from tests.helpers import FAST_POLLING, TOKEN, run_to_end, tracker_running

PLAIN = "https://cdn.discordapp.com/attachments/1/2/cat.png"


def signed(expires_in: float) -> str:
    expires = int(time.time() + expires_in)
    return f"{PLAIN}?ex={expires:x}&is={expires - 86400:x}&hm=5eed"


def reframe_job(link: str) -> JobRecord:
    inputs = ReframeInputs(image_url=link, seed=5)
    return JobRecord(id=new_job_id(), provider="local", model=inputs.model, guild_id=1,
                     channel_id=2, user_id=3, inputs=inputs.to_payload(), seed=5)


@pytest.fixture
async def tracker(store: Store, local_server: LocalRunComfyServer
                  ) -> AsyncIterator[JobTracker]:
    async with RunComfyClient(token=TOKEN, base_url=local_server.base_url,
                              retry=RetryPolicy(attempts=2, base_delay=0.01)) as client:
        tracker = JobTracker(store, {"local": client}, config=TrackerConfig(
            polling=FAST_POLLING))
        async with tracker_running(tracker):
            yield tracker


class Renewer:
    """Gives ``answer`` for every link it is asked to renew, and records the links."""

    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.asked: list[str] = []

    async def __call__(self, url: str) -> str | None:
        self.asked.append(url)
        return self.answer


def sent_image(local_server: LocalRunComfyServer, job: JobRecord) -> str:
    return str(local_server.state.jobs[job.request_id or ""].inputs["image"])


async def test_a_renewed_link_is_sent_and_kept(tracker: JobTracker, store: Store,
                                               local_server: LocalRunComfyServer) -> None:
    fresh = signed(86_400)
    renew = Renewer(fresh)
    tracker.renew_links_with(renew)
    stale = signed(-5)
    [done] = await run_to_end(tracker, store, [reframe_job(stale)])
    assert renew.asked == [stale] and done.status is JobStatus.COMPLETED
    assert sent_image(local_server, done) == fresh and done.inputs["image"] == fresh


async def test_links_far_from_expiry_and_other_jobs_are_not_renewed(
        tracker: JobTracker, store: Store, local_server: LocalRunComfyServer) -> None:
    renew = Renewer(None)
    tracker.renew_links_with(renew)
    link = signed(20_000)
    done = await run_to_end(tracker, store, [reframe_job(link), reframe_job(PLAIN)])
    assert renew.asked == [] and [sent_image(local_server, j) for j in done] == [link, PLAIN]


async def test_a_failing_renewer_leaves_a_working_link_and_ends_a_dead_one(
        tracker: JobTracker, store: Store, local_server: LocalRunComfyServer) -> None:
    async def renew(url: str) -> str | None:
        raise RuntimeError("Discord is down")

    tracker.renew_links_with(renew)
    submits = local_server.state.request_counts["submit"]
    working, dead = await run_to_end(tracker, store,
                                     [reframe_job(signed(600)), reframe_job(signed(-5))])
    assert working.status is JobStatus.COMPLETED
    assert sent_image(local_server, working) == working.inputs["image"]
    assert dead.status is JobStatus.FAILED and dead.error == job_errors.SOURCE_EXPIRED
    assert dead.submitting_at is None and dead.request_id is None
    assert local_server.state.request_counts["submit"] == submits + 1


@pytest.mark.parametrize("answer", ["same", "expired"])
async def test_a_renewed_link_that_does_not_work_is_not_sent(
        tracker: JobTracker, store: Store, local_server: LocalRunComfyServer,
        answer: str) -> None:
    stale = signed(-5)

    async def renew(url: str) -> str | None:
        return url if answer == "same" else signed(-1)

    tracker.renew_links_with(renew)
    submits = local_server.state.request_counts["submit"]
    [dead] = await run_to_end(tracker, store, [reframe_job(stale)])
    assert dead.status is JobStatus.FAILED and dead.error == job_errors.SOURCE_EXPIRED
    assert local_server.state.request_counts["submit"] == submits


async def test_a_long_queue_limit_widens_the_renewal_margin(
        store: Store, local_server: LocalRunComfyServer) -> None:
    async with RunComfyClient(token=TOKEN, base_url=local_server.base_url) as client:
        tracker = JobTracker(store, {"local": client}, config=TrackerConfig(
            polling=FAST_POLLING, queue_timeout=3600.0))
        fresh = signed(86_400)
        renew = Renewer(fresh)
        tracker.renew_links_with(renew)
        async with tracker_running(tracker):
            # 3 h left: enough for the margin alone, not for two hour-long waits as well.
            [done] = await run_to_end(tracker, store, [reframe_job(signed(3 * 3600))])
    assert len(renew.asked) == 1 and sent_image(local_server, done) == fresh


async def test_a_job_whose_send_another_process_claimed_is_not_ended_here(
        tracker: JobTracker, store: Store) -> None:
    tracker.renew_links_with(Renewer(None))
    job = await store.insert_job(reframe_job(signed(-5)))
    # The new owner (after a lease takeover) claimed the send first.
    claimed = await store.mark_submitting(job.id, submitting_at=time.time())
    assert claimed is not None
    tracker.accept(job)  # this (stalled) process still had it to send
    await tracker.wait_idle()
    after = await store.get_job(job.id)
    assert after is not None and after.status is JobStatus.PENDING and after.error is None


async def test_a_hung_renewer_is_given_up_on_its_deadline(
        tracker: JobTracker, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(submission, "RENEW_DEADLINE_SECONDS", 0.05)

    async def renew(url: str) -> str | None:
        await asyncio.sleep(60)
        return None

    tracker.renew_links_with(renew)
    [dead] = await run_to_end(tracker, store, [reframe_job(signed(-5))], limit=3.0)
    assert dead.status is JobStatus.FAILED and dead.error == job_errors.SOURCE_EXPIRED
