"""Two job trackers on one PostgreSQL database, as two bot processes. A job ended by the
process that does not follow it (a cancel asked of the other one, e.g. through ``/queue``)
is announced there, at once and once; the process that follows it is told, stops following
it and lets its reply go, so that no progress edit of its own lands after the end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.jobs import JobStatus
from bot.localserver.app import LocalRunComfyServer
from bot.providers.retry import RetryPolicy
from bot.providers.runcomfy import RunComfyClient
from bot.providers.types import CancelOutcome
from bot.store import LeaseConfig, Store
from bot.tracker import JobTracker, TrackerConfig
from tests.harness import eventually
from tests.helpers import FAST_POLLING, TOKEN, Recorder, make_job, tracker_running


@pytest.fixture
async def client(local_server: LocalRunComfyServer) -> AsyncIterator[RunComfyClient]:
    async with RunComfyClient(token=TOKEN, base_url=local_server.base_url,
                              retry=RetryPolicy(attempts=2, base_delay=0.01)) as c:
        yield c


@pytest.mark.parametrize("notice", ["heard", "lost"])
async def test_a_cancel_made_elsewhere_is_announced_there_and_the_follower_lets_go(
        pg_url: str, client: RunComfyClient, local_server: LocalRunComfyServer,
        notice: str, monkeypatch: pytest.MonkeyPatch) -> None:
    local_server.state.config.queue_seconds = 30.0  # it stays queued
    config = TrackerConfig(polling=FAST_POLLING)
    async with await Store.open(pg_url) as mine, await Store.open(pg_url) as theirs:
        mine.configure_leases(LeaseConfig(owner="host/first", lease_seconds=30))
        theirs.configure_leases(LeaseConfig(owner="host/second", lease_seconds=30))
        follower = JobTracker(mine, {"local": client}, config=config)
        if notice == "lost":  # a notice connection that dropped: its own poll finds the end
            async def deaf(job_id: str | None) -> None:
                return None

            monkeypatch.setattr(follower, "_ended_elsewhere", deaf)
        other = JobTracker(theirs, {"local": client}, config=config)
        heard, told = Recorder(mine), Recorder(theirs)
        follower.add_listener(heard)
        other.add_listener(told)
        released: list[set[str]] = []
        follower.add_release_listener(released.append)
        async with tracker_running(follower), tracker_running(other):
            job = await follower.submit(make_job())
            assert job.status is JobStatus.QUEUED and follower.tracks(job.id)
            assert not other.tracks(job.id)

            assert await other.cancel(job.id) is CancelOutcome.CANCELLED
            final = await told.wait_terminal(job.id, limit=5)  # shown at once, there
            assert final.status is JobStatus.CANCELLED and final.announce
            await eventually(lambda: released == [{job.id}], timeout=5,
                             what="the follower told, letting the job's reply go")
            assert not follower.tracks(job.id)  # no more polls
            assert [e.status for e in heard.events] == [JobStatus.QUEUED]  # announced once
            assert await other.cancel(job.id) is CancelOutcome.NOT_CANCELLABLE
    assert local_server.state.request_counts["cancel"] == 1
