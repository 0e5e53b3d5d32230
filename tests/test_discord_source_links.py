"""A reframe's source link expires (Discord signs attachment links for about a day): a
Reroll from the result, or after ``/job``, is sent with a fresh link, or ends unsent."""

from __future__ import annotations

import time
from typing import Any

from bot import job_errors
from bot.jobs import JobRecord, JobStatus
from bot.localserver.app import LocalRunComfyServer
from cogs.core.bot import IdeogramBot
from tests.harness import (
    FakeDiscord,
    attachment_option,
    chat_input,
    component,
    dispatch,
    ids,
    png_bytes,
)
from tests.harness.ids import new_snowflake
from tests.helpers import wait_delivered, wait_for_job

REFRESH = r"^/attachments/refresh-urls$"


async def reframe_with_link(fake: FakeDiscord, bot: IdeogramBot, expires_in: float
                            ) -> tuple[dict[str, Any], JobRecord, str]:
    """A delivered /reframe of an image whose signed link expires in ``expires_in`` s:
    the command's payload, its job, and the attachment's link without its signature."""
    attachment_id = new_snowflake()
    plain = fake.attachment_url(ids.CHANNEL_ID, attachment_id, "cat.png")
    option = attachment_option("image", filename="cat.png", content_type="image/png",
                               data=png_bytes(64, 48), attachment_id=attachment_id,
                               url=fake.signed_link(plain, time.time() + expires_in))
    payload = chat_input("reframe", [option])
    await dispatch(bot, payload)
    job = await wait_delivered(bot, newest_only=True)
    return payload, job, plain


async def age_source_link(bot: IdeogramBot, fake: FakeDiscord, job: JobRecord, plain: str,
                          expires_in: float) -> None:
    """Make the stored source link of ``job`` one that expires in ``expires_in`` s (a day
    has passed, as far as the link can tell)."""
    aged = fake.signed_link(plain, time.time() + expires_in)
    await bot.store.update_job(job.id, inputs={**job.inputs, "image": aged})


async def reroll(fake: FakeDiscord, bot: IdeogramBot, payload: dict[str, Any],
                 job: JobRecord) -> dict[str, Any]:
    message = fake.original_message(payload["token"])
    assert message is not None
    press = component(f"job:{job.id}:reroll", message=message)
    await dispatch(bot, press)
    assert fake.interaction_callbacks(press["id"]) == [{"type": 5}]
    return press


async def test_a_fresh_link_is_sent_as_it_is(fake: FakeDiscord, bot: IdeogramBot,
                                             local_server: LocalRunComfyServer) -> None:
    _, job, _ = await reframe_with_link(fake, bot, expires_in=86_000)
    sent = local_server.state.jobs[job.request_id or ""].inputs["image"]
    assert sent == job.inputs["image"] and fake.link_works(sent)
    assert not fake.calls("POST", REFRESH)


async def test_reroll_after_the_link_expired_sends_a_renewed_link(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload, job, plain = await reframe_with_link(fake, bot, expires_in=86_000)
    await age_source_link(bot, fake, job, plain, expires_in=-60)
    stale = (await bot.store.get_job(job.id) or job).inputs["image"]
    assert not fake.link_works(stale)

    press = await reroll(fake, bot, payload, job)
    again = await wait_delivered(bot, newest_only=True)
    assert again.id != job.id and again.status is JobStatus.COMPLETED
    [asked] = fake.calls("POST", REFRESH)
    assert asked.auth_scheme == "Bot" and asked.json == {"attachment_urls": [stale]}
    sent = local_server.state.jobs[again.request_id or ""].inputs["image"]
    assert sent.startswith(plain + "?") and sent != stale and fake.link_works(sent)
    assert again.inputs["image"] == sent  # kept, so a restart or Info uses it too
    assert [e for e in fake.edits_of_original(press["token"]) if e.files]


async def test_a_link_expiring_within_the_margin_is_renewed_too(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload, job, plain = await reframe_with_link(fake, bot, expires_in=86_000)
    await age_source_link(bot, fake, job, plain, expires_in=600)  # still works, not for long
    aged = (await bot.store.get_job(job.id) or job).inputs["image"]
    await reroll(fake, bot, payload, job)
    again = await wait_delivered(bot, newest_only=True)
    assert [r.json for r in fake.calls("POST", REFRESH)] == [{"attachment_urls": [aged]}]
    sent = local_server.state.jobs[again.request_id or ""].inputs["image"]
    assert fake.link_works(sent) and sent not in (aged, job.inputs["image"])
    assert again.inputs["image"] == sent


async def test_an_expiring_link_discord_will_not_renew_is_sent_while_it_works(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload, job, plain = await reframe_with_link(fake, bot, expires_in=86_000)
    await age_source_link(bot, fake, job, plain, expires_in=600)
    fake.attachment_data.clear()  # the message with the image was deleted
    await reroll(fake, bot, payload, job)
    again = await wait_for_job(bot, lambda j: j.id != job.id and j.request_id is not None,
                               user_id=ids.USER_ID)
    assert len(fake.calls("POST", REFRESH)) == 1
    stored = (await bot.store.get_job(job.id) or job).inputs["image"]
    assert local_server.state.jobs[again.request_id or ""].inputs["image"] == stored


async def test_an_expired_link_discord_will_not_renew_ends_the_job_unsent(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload, job, plain = await reframe_with_link(fake, bot, expires_in=86_000)
    await age_source_link(bot, fake, job, plain, expires_in=-60)
    fake.attachment_data.clear()  # the message with the image was deleted
    submits = local_server.state.request_counts["submit"]

    press = await reroll(fake, bot, payload, job)
    ended = await wait_delivered(bot, newest_only=True)
    assert ended.id != job.id and ended.status is JobStatus.FAILED
    assert ended.error == job_errors.SOURCE_EXPIRED and ended.submitting_at is None
    assert local_server.state.request_counts["submit"] == submits  # nothing was sent
    final = fake.edits_of_original(press["token"])[-1].json
    assert "Discord no longer serves the source image" in final["content"]
    assert "Upload it again with" in final["content"]
    snapshot = await bot.quota.snapshot(ids.GUILD_ID, ids.USER_ID)
    assert snapshot.usage.user_day == 1  # the first reframe only: the failed one is given back
