"""A running job is polled through its result: its end, image included, is one call."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from bot import job_errors
from bot.jobs import JobStatus
from bot.localserver.app import LocalRunComfyServer
from bot.providers.errors import NoImageInResult
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
        #: Completed results come without their image, as the client reads them.
        self.images_missing = False

    async def status(self, request_id: str) -> RequestStatus:
        status = await super().status(request_id)
        self.answers.append(("status", status.state))
        return status

    async def result(self, request_id: str, *, include_cost: bool = True) -> RequestResult:
        result = await super().result(request_id, include_cost=include_cost)
        self.answers.append(("result", result.state))
        if self.images_missing and result.state is RemoteState.COMPLETED:
            raise NoImageInResult("completed result carried no image URL")
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
    async with noted_tracker(store, local_server, queue=0.3, run=1.5) as (
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



async def test_result_polls_that_fail_or_cannot_be_read_are_ridden_out(
        store: Store, local_server: LocalRunComfyServer) -> None:
    """A result poll the server fails is asked again later, as a status poll is. One it
    answers unreadably (a proxy's hiccup, or a result refused before the image is made)
    turns the job to status polls: either way the job ends with its image."""
    async with noted_tracker(store, local_server, queue=0.1, run=1.5) as (
            tracker, client, recorder):
        local_server.state.faults.server_error(RESULT_FAILURES_MAX, kind="result")
        erring = await tracker.submit(make_job("errors come and go"))
        final = await recorder.wait_terminal(erring.id, limit=20)
        assert final.status is JobStatus.COMPLETED, final.job.error

        unreadable = await tracker.submit(make_job("answers unreadable for a while"))
        await eventually(lambda: JobStatus.RUNNING in recorder.statuses(unreadable.id),
                         what="the job running")
        local_server.state.faults.malformed(RESULT_FAILURES_MAX, kind="result")
        seen = len(client.answers)
        await eventually(lambda: ("status", RemoteState.RUNNING) in client.answers[seen:],
                         what="its status asked instead")
        local_server.state.faults.clear()
        final = await recorder.wait_terminal(unreadable.id, limit=20)
    assert final.status is JobStatus.COMPLETED, final.job.error


async def test_a_result_completed_without_an_image_ends_the_job_after_a_few_tries(
        store: Store, local_server: LocalRunComfyServer) -> None:
    async with noted_tracker(store, local_server, queue=0.1, run=0.3) as (
            tracker, client, recorder):
        client.images_missing = True
        job = await tracker.submit(make_job("completed, yet no image"))
        final = await recorder.wait_terminal(job.id, limit=20)
    assert final.status is JobStatus.FAILED
    assert final.job.error == job_errors.from_provider(NoImageInResult("no image"))
    assert client.answers.count(("result", RemoteState.COMPLETED)) == RESULT_FAILURES_MAX
