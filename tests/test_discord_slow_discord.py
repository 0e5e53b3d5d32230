"""Discord slow to answer: a send that gets no answer within its deadline counts as refused
for now (tried again, logged), and never holds a send slot for as long as Discord takes."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import pytest

import cogs.core.owed_deliveries as owed_deliveries
import cogs.core.reply_sender as reply_sender
import cogs.core.result_delivery as result_delivery
from bot.jobs import JobRecord, JobStatus
from bot.localserver.app import LocalRunComfyServer
from cogs.core.bot import IdeogramBot
from tests.harness import FakeDiscord, chat_input, dispatch, eventually
from tests.helpers import ideogram_bot, wait_delivered, wait_for_job


async def test_a_final_edit_without_an_answer_is_tried_again(
        fake: FakeDiscord, bot: IdeogramBot, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reply_sender, "SEND_DEADLINE_SECONDS", 0.5)
    monkeypatch.setattr(owed_deliveries, "REDELIVERY_DELAYS", (0.2, 0.5))
    caplog.set_level(logging.INFO)
    payload = chat_input("ideogram", {"prompt": "a cat", "seed": 7})
    fake.stall_next("PATCH", rf"/{payload['token']}/messages/@original$", 5.0, times=99)
    await dispatch(bot, payload)
    job = await wait_for_job(bot, lambda j: j.status.terminal)

    def unanswered() -> bool:
        return any("got no answer" in r.getMessage() and job.short_id in r.getMessage()
                   for r in caplog.records if r.levelno == logging.WARNING)

    await eventually(unanswered, timeout=10, what="a final edit without an answer, logged")
    fake.stalls.clear()  # Discord answers again
    delivered = await wait_delivered(bot, job.id, limit=15)
    assert delivered.delivered_at is not None
    edits = fake.calls("PATCH", rf"^/webhooks/\d+/{payload['token']}/messages/")
    assert any(edit.files and edit.status == 200 for edit in edits)  # in its own reply


async def test_one_slow_reply_does_not_hold_a_send_slot(
        fake: FakeDiscord, local_server: LocalRunComfyServer, db: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # One slot (16 in production) that one reply Discord does not answer would fill.
    monkeypatch.setattr(result_delivery, "SEND_CONCURRENCY", 1)
    monkeypatch.setattr(reply_sender, "SEND_DEADLINE_SECONDS", 1.0)
    first = chat_input("ideogram", {"prompt": "a slow one", "seed": 1})
    fake.stall_next("PATCH", rf"/{first['token']}/messages/@original$", 30.0, times=99)
    async with ideogram_bot(fake, local_server, db) as bot:
        await dispatch(bot, first)
        slow = await wait_for_job(bot, lambda j: j.status.terminal)
        second = chat_input("ideogram", {"prompt": "an unrelated one", "seed": 2})
        await dispatch(bot, second)
        other = await wait_for_job(bot, lambda j: j.id != slow.id and j.status.terminal)
        finished = time.time()
        await wait_delivered(bot, other.id, limit=30)
        waited = time.time() - finished
        fake.stalls.clear()
    assert waited < 4, f"an unrelated image waited {waited:.0f} s for a send slot"


async def test_a_restart_does_not_wait_long_on_a_slow_discord_to_confirm_a_reply(
        fake: FakeDiscord, bot: IdeogramBot, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.jobs import TOKEN_LIFETIME_SECONDS
    from tests.harness import ids
    from tests.helpers import make_job

    monkeypatch.setattr(result_delivery, "CONFIRM_DEADLINE_SECONDS", 0.5)
    job = make_job("a harbour", guild_id=ids.GUILD_ID, channel_id=ids.CHANNEL_ID).evolve(
        application_id=fake.application_id, interaction_id=1,
        sealed_token=bot.token_sealer.seal("crashed-interaction-token"),
        token_expires_at=time.time() + TOKEN_LIFETIME_SECONDS)
    fake.stall_next("GET", r"/crashed-interaction-token/messages/@original$", 30.0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await bot.result_delivery.confirm_reply(job)
    assert time.monotonic() - started < 2  # adoption then leaves it for the reconciliation


async def test_job_does_not_wait_long_for_a_slow_discord_to_give_the_message_back(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reply_sender, "LOOKUP_DEADLINE_SECONDS", 0.5)
    await dispatch(bot, chat_input("ideogram", {"prompt": "a paper crane", "seed": 3}))
    job = await wait_delivered(bot)
    fake.stall_next("GET", rf"/messages/{job.message_id}$", 30.0)
    files_before = local_server.state.request_counts["file"]
    started = time.monotonic()
    payload = chat_input("job", {"id": job.short_id})
    await dispatch(bot, payload)
    await eventually(lambda: [e for e in fake.edits_of_original(payload["token"]) if e.files],
                     timeout=10, what="the recalled image")
    assert time.monotonic() - started < 5
    assert local_server.state.request_counts["file"] == files_before + 1  # the provider's copy


async def test_an_error_message_does_not_wait_long_on_a_slow_discord(
        fake: FakeDiscord, bot: IdeogramBot, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import cogs.core.errors as errors

    monkeypatch.setattr(errors, "REPORT_DEADLINE_SECONDS", 0.5)
    payload = chat_input("history-export", {})  # not a moderator: refused
    fake.stall_next("POST", rf"/{payload['token']}/callback$", 30.0)
    started = time.monotonic()
    await dispatch(bot, payload, timeout=10)
    assert time.monotonic() - started < 5
    assert any("Could not tell user about an error" in r.getMessage() for r in caplog.records)


async def test_an_export_discord_does_not_take_in_time_says_to_try_again(
        fake: FakeDiscord, bot: IdeogramBot, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.harness import ids
    from tests.helpers import make_job

    export = type(bot.get_cog("ExportCog"))  # the module as the bot loaded it
    monkeypatch.setattr(sys.modules[export.__module__], "UPLOAD_DEADLINE_SECONDS", 0.5)
    await bot.store.insert_job(make_job("a lighthouse", guild_id=ids.GUILD_ID,
                                        channel_id=ids.CHANNEL_ID))
    payload = chat_input("history-export", {}, user_id=ids.MOD_USER_ID)
    fake.stall_next("PATCH", rf"/{payload['token']}/messages/@original$", 30.0)
    started = time.monotonic()
    await dispatch(bot, payload, timeout=10)
    assert time.monotonic() - started < 5
    told = [e.json.get("content", "") for e in fake.edits_of_original(payload["token"])
            if not e.files]
    assert any("did not take the file in time" in text for text in told), told


async def test_a_later_export_part_discord_does_not_take_leaves_the_first_as_it_is(
        fake: FakeDiscord, bot: IdeogramBot, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.harness import ids
    from tests.helpers import make_job

    export = sys.modules[type(bot.get_cog("ExportCog")).__module__]
    monkeypatch.setattr(export, "UPLOAD_DEADLINE_SECONDS", 0.5)
    for n in range(150):
        await bot.store.insert_job(make_job(f"a lighthouse, take {n}", guild_id=ids.GUILD_ID,
                                            channel_id=ids.CHANNEL_ID))
    payload = chat_input("history-export", {}, user_id=ids.MOD_USER_ID,
                         attachment_size_limit=1500)  # several parts
    fake.stall_next("POST", rf"/webhooks/\d+/{payload['token']}$", 30.0)  # part 2
    await dispatch(bot, payload, timeout=10)
    assert len([e for e in fake.edits_of_original(payload["token"]) if e.files]) == 1
    assert not [e for e in fake.edits_of_original(payload["token"]) if not e.files]
    said = [f.json.get("content", "") for f in fake.followups(payload["token"])]
    assert any(text.startswith("Part 2 of") and "did not take the file in time" in text
               for text in said), said
    assert "gzip" in (fake.original_message(payload["token"]) or {}).get("content", "")

    # Refused rather than unanswered (too large, say): the same, with its own words.
    refused = chat_input("history-export", {}, user_id=ids.MOD_USER_ID,
                         attachment_size_limit=1500)
    fake.fail_next("POST", rf"/webhooks/\d+/{refused['token']}$", status=413,
                   body={"message": "Request entity too large", "code": 40005})
    await dispatch(bot, refused, timeout=10)
    said = [f.json.get("content", "") for f in fake.followups(refused["token"])]
    assert any(text.startswith("Part 2 of") and "did not accept the file" in text
               for text in said), said
    assert "gzip" in (fake.original_message(refused["token"]) or {}).get("content", "")


async def test_an_owed_try_skips_a_job_delivered_meanwhile(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The reconciliation (or a restart) may deliver an owed result first: the owed try
    then sends nothing more (a second final message, a second download)."""
    from bot.tracker import JobEvent
    from tests.helpers import make_job

    monkeypatch.setattr(owed_deliveries, "REDELIVERY_DELAYS", (0.0, 0.0))
    job = make_job().evolve(status=JobStatus.COMPLETED)
    rows = {job.id: job.evolve(delivered_at=1.0), "owed": job.evolve(id="f" * 32)}
    delivered: list[JobEvent] = []

    async def load(job_id: str) -> JobRecord | None:
        return rows.get(job_id)

    async def deliver(event: JobEvent) -> None:
        delivered.append(event)

    owed = owed_deliveries.OwedDeliveries(load, deliver)
    owed.owed(job.id, job.id)  # delivered meanwhile: skipped
    owed.owed("owed", "owed")  # still owed: tried again
    await eventually(lambda: not owed.waiting, what="both tries made")
    assert [event.job.id for event in delivered] == ["f" * 32]
    await owed.close()
