"""A running job is polled through its result: its end, image included, is one call."""

from __future__ import annotations

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


def noting(server: LocalRunComfyServer) -> Noting:
    return Noting(token=TOKEN, base_url=server.base_url,
                  retry=RetryPolicy(attempts=1, base_delay=0.01))


def tracker_for(store: Store, client: RunComfyClient) -> JobTracker:
    return JobTracker(store, {"local": client}, config=TrackerConfig(polling=FAST_POLLING))


async def test_a_running_job_is_asked_for_its_result_which_ends_it_in_one_call(
        store: Store, local_server: LocalRunComfyServer) -> None:
    local_server.state.config.queue_seconds = 0.3
    local_server.state.config.run_seconds = 0.8
    async with noting(local_server) as client:
        tracker = tracker_for(store, client)
        recorder = Recorder(store)
        tracker.add_listener(recorder)
        async with tracker_running(tracker):
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
    local_server.state.config.queue_seconds = 0.1
    local_server.state.config.run_seconds = 0.6
    async with noting(local_server) as client:
        tracker = tracker_for(store, client)
        recorder = Recorder(store)
        tracker.add_listener(recorder)
        async with tracker_running(tracker):
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
