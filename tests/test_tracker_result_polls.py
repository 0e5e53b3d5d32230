"""A running job is polled through its result: its end, image included, is one call."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from bot import job_errors
from bot.jobs import JobStatus
from bot.localserver.app import LocalRunComfyServer
from bot.providers.errors import MalformedResponse
from bot.providers.retry import RetryPolicy
from bot.providers.runcomfy import RunComfyClient
from bot.providers.types import RemoteState, RequestResult, RequestStatus
from bot.store import Store
from bot.tracker import JobTracker, TrackerConfig
from bot.tracker.poller import RESULT_FAILURES_MAX
from tests.harness import eventually
from tests.helpers import FAST_POLLING, TOKEN, Recorder, make_job, tracker_running


class Noting(RunComfyClient):
    """The local server's client, noting each status and result answer: (kind, state)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answers: list[tuple[str, RemoteState]] = []

    async def status(self, request_id: str) -> RequestStatus:
        status = await super().status(request_id)
        self.answers.append(("status", status.state))
        return status

    async def result(self, request_id: str, *, include_cost: bool = True) -> RequestResult:
        result = await super().result(request_id, include_cost=include_cost)
        self.answers.append(("result", result.state))
        return result


@contextlib.asynccontextmanager
async def noted_tracker(store: Store, server: LocalRunComfyServer, *, queue: float,
                        run: float) -> AsyncIterator[tuple[JobTracker, Noting, Recorder]]:
    """A running tracker on the local server (jobs queued and run that long), its noting
    client and a recorder of its events."""
    server.state.config.queue_seconds = queue
    server.state.config.run_seconds = run
    async with Noting(token=TOKEN, base_url=server.base_url,
                      retry=RetryPolicy(attempts=1, base_delay=0.01)) as client:
        tracker = JobTracker(store, {"local": client},
                             config=TrackerConfig(polling=FAST_POLLING))
        recorder = Recorder(store)
        tracker.add_listener(recorder)
        async with tracker_running(tracker):
            yield tracker, client, recorder


async def test_a_running_job_is_asked_for_its_result_which_ends_it_in_one_call(
        store: Store, local_server: LocalRunComfyServer) -> None:
    async with noted_tracker(store, local_server, queue=0.3, run=0.8) as (
            tracker, client, recorder):
        job = await tracker.submit(make_job("a harbour at dawn"))
        final = await recorder.wait_terminal(job.id)
    assert final.status is JobStatus.COMPLETED and final.job.result_url is not None
    answers = client.answers
    started = answers.index(("status", RemoteState.RUNNING))
    assert {kind for kind, _ in answers[:started + 1]} == {"status"}  # queued: its place
    assert {kind for kind, _ in answers[started + 1:]} == {"result"}  # running: its result
    assert answers[-1] == ("result", RemoteState.COMPLETED)
    assert answers.count(("result", RemoteState.COMPLETED)) == 1  # no second fetch
    assert len(answers) > started + 2  # it was asked while still running, too


async def test_a_failed_result_poll_is_asked_again_and_a_nonsensical_one_ends_the_job(
        store: Store, local_server: LocalRunComfyServer) -> None:
    """A result poll that fails (the server errs) is asked again, as a status poll is; one
    whose answer makes no sense is asked a few times in a row, then the job fails."""
    async with noted_tracker(store, local_server, queue=0.1, run=0.6) as (
            tracker, client, recorder):
        local_server.state.faults.server_error(RESULT_FAILURES_MAX, kind="result")
        survives = await tracker.submit(make_job("errors come and go"))
        final = await recorder.wait_terminal(survives.id, limit=20)
        assert final.status is JobStatus.COMPLETED, final.job.error

        doomed = await tracker.submit(make_job("answers make no sense"))
        await eventually(lambda: ("status", RemoteState.RUNNING) in client.answers[-3:],
                         what="the job running")
        local_server.state.faults.malformed(100, kind="result")
        final = await recorder.wait_terminal(doomed.id, limit=20)
    local_server.state.faults.clear()
    assert final.status is JobStatus.FAILED
    assert final.job.error == job_errors.from_provider(MalformedResponse("unreadable"))
    assert local_server.state.request_counts["result"] >= RESULT_FAILURES_MAX
