"""A result Discord will not take as it is still ends its reply: as text with a link when
the file or the embed is refused, after unarchiving a thread, as a followup when the reply
was deleted, and posted anew once however often the post is retried."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.jobs import JobRecord, JobStatus
from bot.localserver.app import LocalRunComfyServer
from bot.tracker import adoption
from cogs.core import owed_deliveries, reply_sender
from cogs.core.bot import IdeogramBot
from cogs.core.reply_sender import FinalSend
from tests.harness import FakeDiscord, chat_input, dispatch, eventually, ids
from tests.helpers import db_rows, queued_and_shown, wait_delivered, wait_for_job

THREAD_ID = 1_400_000_000_000_000_001


def quick_retries(monkeypatch: pytest.MonkeyPatch, *, send_deadline: float,
                  retry_after: float) -> None:
    """A send gives up after ``send_deadline`` s; an owed result is tried again every
    ``retry_after`` s."""
    monkeypatch.setattr(reply_sender, "SEND_DEADLINE_SECONDS", send_deadline)
    monkeypatch.setattr(owed_deliveries, "REDELIVERY_DELAYS", (retry_after,) * 3)


def reply_text(fake: FakeDiscord, token: str) -> str:
    message = fake.original_message(token)
    assert message is not None
    return str(message.get("content", ""))


async def test_an_image_over_the_limit_discord_applies_now_is_sent_as_a_link(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    """The server lost a boost since the command: Discord refuses the upload (40005)."""
    payload = chat_input("ideogram", {"prompt": "a heron"})
    await dispatch(bot, payload)
    fake.interaction(payload["token"]).attachment_size_limit = 1000
    job = await wait_delivered(bot, user_id=ids.USER_ID)
    assert job.status is JobStatus.COMPLETED
    text = reply_text(fake, payload["token"])
    assert text.startswith("✅ Done")
    assert ("Discord did not take the image: it is over what this channel takes now. Here is "
            "a link instead: [open it](") in text
    assert job.result_urls and job.result_urls[0] in text
    message = fake.original_message(payload["token"])
    assert message is not None and not message["attachments"] and not message["embeds"]
    assert message["components"]  # its buttons still work


def button_ids(message: dict[str, Any] | None) -> list[str]:
    assert message is not None
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


async def test_a_result_sent_as_text_with_a_link_has_no_reframe_button(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    """Reframe starts from the image attached to the message; a link to the provider's
    copy, which expires, is not one: the button would only ever refuse."""
    payload = chat_input("ideogram", {"prompt": "a heron in the reeds"})
    await dispatch(bot, payload)
    fake.interaction(payload["token"]).attachment_size_limit = 1000
    job = await wait_delivered(bot, user_id=ids.USER_ID)
    assert "Here is a link instead" in reply_text(fake, payload["token"])
    assert button_ids(fake.original_message(payload["token"])) == [
        f"job:{job.id}:{action}" for action in ("reroll", "info", "delete", "remix")]


async def test_no_attach_files_in_the_channel_after_the_token_sends_text_with_a_link(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the 15-minute token only the channel is left, where the bot may not attach."""
    monkeypatch.setattr(reply_sender, "DELIVERY_ATTEMPTS", 1)
    payload = await queued_and_shown(fake, bot, local_server)
    fake.expire_interaction(payload["token"])
    channel_messages = rf"^/channels/{ids.CHANNEL_ID}/messages"
    fake.fail_next("PATCH", channel_messages, status=403, times=50, with_files=True)
    fake.fail_next("POST", channel_messages, status=403, times=50, with_files=True)
    job = await wait_delivered(bot, user_id=ids.USER_ID)
    text = reply_text(fake, payload["token"])
    assert text.startswith("✅ Done"), text
    assert ("I may not attach images here: a moderator can give me Attach Files and Embed "
            "Links in this channel. Here is a link instead") in text
    # In its own reply, not a new message.
    assert not [r for r in fake.calls("POST", channel_messages + "$") if not r.files]
    reply = fake.original_message(payload["token"])
    assert reply is not None and job.message_id == int(reply["id"])


async def test_a_result_in_a_thread_archived_meanwhile_unarchives_it(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload = await queued_and_shown(fake, bot, local_server, channel_id=THREAD_ID,
                                     thread_parent_id=ids.CHANNEL_ID)
    fake.archived_threads.add(THREAD_ID)  # an hour without a word, while the bot was away
    await wait_delivered(bot, user_id=ids.USER_ID)
    assert fake.calls("PATCH", rf"^/channels/{THREAD_ID}$")
    message = fake.original_message(payload["token"])
    assert message is not None and message["attachments"]
    assert reply_text(fake, payload["token"]).startswith("✅ Done")


async def test_a_deleted_reply_in_a_channel_the_bot_may_not_post_in_gets_a_followup(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    """No channel permission needed while the token works: the interaction's own webhook
    posts it."""
    payload = await queued_and_shown(fake, bot, local_server)
    original = fake.original_message(payload["token"])
    assert original is not None
    fake.messages.pop(int(original["id"]))  # a moderator deleted it
    fake.fail_next("*", rf"^/channels/{ids.CHANNEL_ID}/", status=403, times=50)
    job = await wait_delivered(bot, user_id=ids.USER_ID)
    [followup] = fake.calls("POST", rf"^/webhooks/\d+/{payload['token']}$")
    assert followup.files and followup.json["content"].startswith(f"<@{ids.USER_ID}> ✅ Done")
    assert [int(u) for u in followup.json["allowed_mentions"]["users"]] == [ids.USER_ID]
    assert job.message_id is not None and job.message_id != int(original["id"])
    assert fake.message(job.message_id) is not None


async def test_a_post_whose_answer_was_lost_is_not_posted_twice(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Discord took the new post but answered too late: each try repeats it, and Discord
    answers a repeated nonce with the message it made."""
    quick_retries(monkeypatch, send_deadline=0.5, retry_after=0.05)
    payload = await queued_and_shown(fake, bot, local_server)
    fake.expire_interaction(payload["token"])
    original = fake.original_message(payload["token"])
    assert original is not None
    fake.messages.pop(int(original["id"]))
    posts = rf"^/channels/{ids.CHANNEL_ID}/messages$"
    fake.stall_next("POST", posts, 1.0, times=2)
    job = await wait_delivered(bot, user_id=ids.USER_ID)
    assert len(fake.calls("POST", posts)) >= 2  # tried again after a lost answer
    made = [m for m in fake.messages.values()
            if str(m.get("content", "")).startswith(f"<@{ids.USER_ID}> ✅")]
    assert len(made) == 1 and int(made[0]["id"]) == job.message_id


async def test_a_grid_refused_for_good_is_sent_as_links_to_each_image(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        db: Path) -> None:
    payload = chat_input("ideogram", {"prompt": "two herons", "count": 2})
    await dispatch(bot, payload)
    fake.interaction(payload["token"]).attachment_size_limit = 1000
    await eventually(lambda: db_rows(db, "SELECT count(*) FROM jobs WHERE "
                                     "delivered_at IS NOT NULL") == [(2,)], what="delivered")
    text = reply_text(fake, payload["token"])
    assert text.startswith("✅ 2 of 2 done"), text
    assert "Here are links instead: [1](" in text and " · [2](" in text


async def test_sooner_tries_are_not_started_over_by_each_reconciliation(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its sooner tries an owed result is the reconciliation's: one try each round."""
    monkeypatch.setattr(owed_deliveries, "REDELIVERY_DELAYS", (0.05, 0.05))
    monkeypatch.setattr(adoption, "ADOPT_AFTER_SECONDS", 0.0)
    sender = bot.result_delivery.sender
    tries: list[str] = []

    async def refused_for_now(reply: object, job: JobRecord, out: object, *,
                              what: str) -> FinalSend:
        tries.append(job.id)
        return FinalSend.LATER

    monkeypatch.setattr(sender, "send_final", refused_for_now)
    await dispatch(bot, chat_input("ideogram", {"prompt": "a heron"}))
    job = await wait_for_job(bot, lambda j: j.status is JobStatus.COMPLETED,
                             user_id=ids.USER_ID)
    await eventually(lambda: len(tries) == 3 and not bot.result_delivery.owed.waiting
                     and job.id not in bot.result_delivery._delivering, what="three tries")
    for _round in range(2):
        before = len(tries)
        await bot.tracker.reconcile()
        await asyncio.sleep(0.3)  # any sooner try (0.05 s) would have come by now
        await bot.result_delivery.wait_idle()
        assert len(tries) == before + 1


async def test_an_upload_discord_took_but_answered_late_is_not_sent_again(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    quick_retries(monkeypatch, send_deadline=0.5, retry_after=1.5)
    payload = await queued_and_shown(fake, bot, local_server)
    # The result's upload is taken, but answered in 1 s.
    fake.stall_next("PATCH", r"/messages/@original$", 1.0, with_files=True)
    await wait_delivered(bot, user_id=ids.USER_ID)
    uploads = [r for r in fake.calls("PATCH", rf"/{payload['token']}/messages/") if r.files]
    assert len(uploads) == 1  # seen on the reply at the next try, not uploaded again
    message = fake.original_message(payload["token"])
    assert message is not None and message["attachments"]


async def test_uploads_discord_never_answers_in_time_end_as_text_with_a_link(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    quick_retries(monkeypatch, send_deadline=0.3, retry_after=0.05)
    payload = await queued_and_shown(fake, bot, local_server)
    slow = fake.fail_next("PATCH", r"/messages/", status=503, delay=1.0, times=50,
                          with_files=True)
    job = await wait_delivered(bot, user_id=ids.USER_ID)
    assert slow.hits == reply_sender.UNANSWERED_UPLOADS_BEFORE_TEXT  # then as text
    text = reply_text(fake, payload["token"])
    assert text.startswith("✅ Done")
    assert "Discord was too slow to take the image. Here is a link instead" in text
    assert job.result_urls and job.result_urls[0] in text
