"""Jobs another process took over (job leases on PostgreSQL): this process forgets their
replies and stops counting them in flight, single jobs and batches alike."""

from __future__ import annotations

from pathlib import Path

from bot import metrics
from bot.jobs import JobStatus
from bot.localserver.app import LocalRunComfyServer
from cogs.core.bot import IdeogramBot
from tests.harness import FakeDiscord, chat_input, dispatch, eventually
from tests.helpers import db_rows


def in_flight() -> float:
    return sum(metrics.REGISTRY.get_sample_value("ideogram_jobs_in_flight", {"status": s})
               or 0.0 for s in ("pending", "queued", "running"))


async def test_let_go_jobs_leave_no_reply_and_no_gauge_behind(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        db: Path) -> None:
    local_server.state.config.queue_seconds = 30.0  # they stay queued
    before = in_flight()
    await dispatch(bot, chat_input("ideogram", {"prompt": "a lone owl"}))
    await dispatch(bot, chat_input("ideogram", {"prompt": "two owls", "count": 2}))
    await eventually(lambda: len(bot.tracker.polled_ids()) == 3, what="three jobs polled")
    [(batch_id,)] = db_rows(db, "SELECT DISTINCT batch_id FROM jobs WHERE batch_id IS NOT NULL")
    job_ids = {row[0] for row in db_rows(db, "SELECT id FROM jobs")}
    delivery = bot.result_delivery
    assert batch_id in delivery._replies and in_flight() == before + 3

    [first, _second] = [row[0] for row in db_rows(
        db, "SELECT id FROM jobs WHERE batch_id IS NOT NULL ORDER BY batch_index")]
    bot.tracker.let_go({first})  # half of the batch: its reply stays for the other half
    assert batch_id in delivery._replies and in_flight() == before + 2
    bot.tracker.let_go(job_ids | {"not-polled-here"})
    assert not bot.tracker.polled_ids() and in_flight() == before
    assert not set(delivery._replies) & (job_ids | {batch_id})
    assert not delivery._batch_of
    statuses = {row[0] for row in db_rows(db, "SELECT status FROM jobs")}
    assert statuses == {JobStatus.QUEUED.value}  # the rows are the other process's now


async def test_a_job_let_go_has_no_progress_edit_left_to_land(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    """Another process shows the job now (it took it over, or cancelled it): an edit this
    process had scheduled must not land after the other's, and hide it."""
    import asyncio

    from bot.tracker import JobEvent
    from tests.helpers import wait_for_job

    local_server.state.config.queue_seconds = 30.0  # it stays queued
    payload = chat_input("ideogram", {"prompt": "a kite"})
    await dispatch(bot, payload)
    job = await wait_for_job(bot, lambda j: j.status is JobStatus.QUEUED)
    await eventually(lambda: fake.edits_of_original(payload["token"]), what="a first edit")
    delivery = bot.result_delivery
    await delivery.on_job_event(JobEvent(job=job.evolve(queue_position=7)))
    scheduled = delivery.reply_for(job.id).flush
    assert scheduled is not None and not scheduled.done()  # waiting for its interval
    edits = len(fake.edits_of_original(payload["token"]))
    bot.tracker.found_ended(job.id)
    await asyncio.sleep(delivery._interval + 0.3)
    assert scheduled.cancelled()
    assert len(fake.edits_of_original(payload["token"])) == edits
