"""The job buttons, restarts and the expired-token path, over real discord.py dispatch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.job_errors import CANCELLED
from bot.jobs import JobRecord, JobStatus
from bot.localserver.app import LocalRunComfyServer
from bot.tracker import JobEvent
from cogs.core.bot import IdeogramBot
from cogs.core.components import ACTIONS
from tests.harness import (
    FakeDiscord,
    channel_option,
    chat_input,
    component,
    dispatch,
    eventually,
    ids,
)
from tests.helpers import (
    custom_ids,
    delivered,
    delivered_result,
    ideogram_bot,
    wait_delivered,
    wait_for_job,
)


async def start_job(fake: FakeDiscord, bot: IdeogramBot, prompt: str = "a kite"
                    ) -> tuple[dict[str, Any], JobRecord]:
    payload = chat_input("ideogram", {"prompt": prompt, "seed": 7})
    await dispatch(bot, payload)
    await fake.wait_for(method="PATCH", path=r"/messages/@original$")
    job = await wait_for_job(bot, lambda j: j.message_id is not None, user_id=ids.USER_ID)
    return payload, job


async def left_queued(fake: FakeDiscord, local_server: LocalRunComfyServer, db: Path
                      ) -> tuple[dict[str, Any], JobRecord]:
    """A job whose bot stopped while it was still queued: its payload and job."""
    local_server.state.config.queue_seconds = 1.0
    async with ideogram_bot(fake, local_server, db) as first:
        payload, job = await start_job(fake, first)
    assert job.status is JobStatus.QUEUED
    return payload, job


def button(fake: FakeDiscord, payload: dict[str, Any], job: JobRecord, action: str,
           **ctx: Any) -> dict[str, Any]:
    message = fake.original_message(payload["token"])
    assert message is not None
    shown = [c["custom_id"] for row in message["components"] for c in row["components"]]
    custom_id = f"job:{job.id}:{action}"
    assert custom_id in shown, shown
    return component(custom_id, message=message, **ctx)


def test_every_job_button_has_its_handler(bot: IdeogramBot) -> None:
    assert sorted(bot.job_actions._handlers()) == sorted(ACTIONS)


async def test_restart_mid_job_delivers_into_its_own_reply_and_buttons_work(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    payload, job = await left_queued(fake, local_server, db)

    async with ideogram_bot(fake, local_server, db) as second:
        done = await wait_delivered(second, user_id=ids.USER_ID)
        assert done.id == job.id and done.status is JobStatus.COMPLETED
        # The token is still alive: the reply is edited through the interaction's webhook,
        # from the token sealed in the job row.
        token = payload["token"]
        edits = fake.calls("PATCH", rf"^/webhooks/\d+/{token}/messages/{job.message_id}$")
        final = [e for e in edits if e.files]
        assert final, fake.summary()
        assert final[-1].files[0].data == local_server.state.jobs[job.request_id or ""].image_bytes
        assert local_server.state.submit_count == 1
        assert not fake.calls("POST", rf"^/channels/{ids.CHANNEL_ID}/messages$")

        message = fake.message(job.message_id or 0)
        assert message is not None
        info = component(f"job:{job.id}:info", message=message, user_id=ids.OTHER_USER_ID)
        await dispatch(second, info)
        [callback] = fake.interaction_callbacks(info["id"])
        assert callback["type"] == 4 and callback["data"]["flags"] & 64
        embed = callback["data"]["embeds"][0]
        assert job.id in str(embed) and "a kite" in embed["description"]
        assert "`7`" in str(embed)


async def test_restart_after_the_token_expired_edits_through_the_channel(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    payload, job = await left_queued(fake, local_server, db)
    fake.expire_interaction(payload["token"])
    async with ideogram_bot(fake, local_server, db) as second:
        done = await wait_delivered(second, user_id=ids.USER_ID)
    assert done.status is JobStatus.COMPLETED
    edits = fake.calls("PATCH", rf"^/channels/{ids.CHANNEL_ID}/messages/{job.message_id}$")
    final = [e for e in edits if e.files]
    assert final, fake.summary()
    assert final[-1].auth_scheme == "Bot"
    assert not fake.calls("POST", rf"^/channels/{ids.CHANNEL_ID}/messages$")


@pytest.mark.parametrize("channel_refuses", [False, True])
async def test_restart_when_the_message_is_gone_posts_a_new_mention(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path,
        channel_refuses: bool) -> None:
    """A channel post (it carries a nonce: a retried post is made once); where the bot may
    not post, the interaction's followup while its token works (no permission needed)."""
    db = tmp_path / "bot.db"
    payload, job = await left_queued(fake, local_server, db)
    fake.messages.pop(job.message_id or 0)  # someone deleted the reply meanwhile
    channel_posts = rf"^/channels/{ids.CHANNEL_ID}/messages$"
    if channel_refuses:
        fake.fail_next("POST", channel_posts, status=403, times=50)
    async with ideogram_bot(fake, local_server, db) as second:
        done = await wait_delivered(second, user_id=ids.USER_ID)
    followups = fake.calls("POST", rf"^/webhooks/\d+/{payload['token']}$")
    made = [r for r in (followups if channel_refuses else fake.calls("POST", channel_posts))
            if r.status == 200]
    assert len(made) == 1 and not (followups if not channel_refuses else []), fake.summary()
    post = made[0]
    assert post.json["content"].startswith(f"<@{ids.USER_ID}>")
    assert [int(u) for u in post.json["allowed_mentions"]["users"]] == [ids.USER_ID]
    assert post.files[0].data == local_server.state.jobs[job.request_id or ""].image_bytes
    assert done.message_id is not None and done.message_id != job.message_id
    assert fake.message(done.message_id) is not None


async def test_cancel_while_queued(fake: FakeDiscord, local_server: LocalRunComfyServer,
                                   tmp_path: Path) -> None:
    local_server.state.config.queue_seconds = 5.0
    async with ideogram_bot(fake, local_server, tmp_path / "b.db") as bot:
        payload, job = await start_job(fake, bot)
        stranger = button(fake, payload, job, "cancel", user_id=ids.OTHER_USER_ID)
        await dispatch(bot, stranger)
        [refusal] = fake.interaction_callbacks(stranger["id"])
        assert refusal["type"] == 4 and refusal["data"]["flags"] & 64
        assert "not your job" in refusal["data"]["content"]
        assert local_server.state.request_counts["cancel"] == 0

        click = button(fake, payload, job, "cancel")
        await dispatch(bot, click)
        assert fake.interaction_callbacks(click["id"]) == [{"type": 5, "data": {"flags": 64}}]
        assert "Cancelled." in fake.followups(click["token"])[-1].json["content"]
        assert local_server.state.jobs[job.request_id or ""].status().value == "cancelled"
        done = await wait_delivered(bot, user_id=ids.USER_ID)
        assert done.status is JobStatus.CANCELLED
        last = fake.edits_of_original(payload["token"])[-1]
        assert last.json["content"].startswith("🚫 Cancelled")


async def test_cancel_while_still_being_sent_says_so_and_loses_nothing(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path) -> None:
    local_server.state.faults.slow(2.0, kind="submit")
    async with ideogram_bot(fake, local_server, tmp_path / "b.db") as bot:
        await dispatch(bot, chat_input("ideogram", {"prompt": "a slow kite", "seed": 7}))
        job = await wait_for_job(bot, lambda j: j.status is JobStatus.PENDING,
                                 user_id=ids.USER_ID)
        # Its reply shows nothing yet; a recall (/job) shows its buttons, Cancel among them.
        recall = chat_input("job", {"id": job.short_id})
        await dispatch(bot, recall)
        click = button(fake, recall, job, "cancel")
        await dispatch(bot, click)
        [refusal] = fake.interaction_callbacks(click["id"])
        assert refusal["type"] == 4 and refusal["data"]["flags"] & 64
        assert "Still being sent to the image service" in refusal["data"]["content"]
        done = await wait_delivered(bot, user_id=ids.USER_ID)
    assert done.status is JobStatus.COMPLETED
    assert local_server.state.submit_count == 1 and local_server.state.request_counts["cancel"] == 0


async def test_moderator_may_cancel_and_running_jobs_cannot_be(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path) -> None:
    local_server.state.config.queue_seconds = 0.0
    local_server.state.config.run_seconds = 3.0
    async with ideogram_bot(fake, local_server, tmp_path / "b.db") as bot:
        payload, job = await start_job(fake, bot)
        await wait_for_job(bot, lambda j: j.status is JobStatus.RUNNING, user_id=ids.USER_ID)
        # A click on the Cancel button of the queued reply, just as the job started.
        message = dict(fake.original_message(payload["token"]) or {})
        message["components"] = fake.edits_of_original(payload["token"])[0].json["components"]
        click = component(f"job:{job.id}:cancel", user_id=ids.MOD_USER_ID, message=message)
        await dispatch(bot, click)
        callbacks = fake.interaction_callbacks(click["id"])
        assert len(callbacks) == 1, fake.summary()
        [refusal] = callbacks
        assert refusal["type"] == 4 and refusal["data"]["flags"] & 64
        assert "Too late to cancel" in refusal["data"]["content"]
        assert local_server.state.request_counts["cancel"] == 0


async def test_reroll_info_reframe_and_delete(fake: FakeDiscord,
                                              local_server: LocalRunComfyServer,
                                              tmp_path: Path) -> None:
    async with ideogram_bot(fake, local_server, tmp_path / "b.db") as bot:
        payload, job = await start_job(fake, bot, "a lantern")
        await wait_delivered(bot, user_id=ids.USER_ID)

        reroll = button(fake, payload, job, "reroll", user_id=ids.OTHER_USER_ID)
        await dispatch(bot, reroll)
        assert fake.interaction_callbacks(reroll["id"]) == [{"type": 5}]
        again = await wait_delivered(bot, user_id=ids.OTHER_USER_ID)
        assert again.inputs["prompt"] == "a lantern" and again.id != job.id
        assert {k: v for k, v in again.inputs.items() if k != "seed"} == {
            k: v for k, v in job.inputs.items() if k != "seed"}
        assert [e for e in fake.edits_of_original(reroll["token"]) if e.files]

        reframe = button(fake, payload, job, "reframe")
        await dispatch(bot, reframe)
        [picker] = fake.interaction_callbacks(reframe["id"])
        assert picker["type"] == 4 and picker["data"]["flags"] & 64
        picker_message = fake.original_message(reframe["token"])
        assert picker_message is not None
        choose = component("reframe:resolution", component_type=3, values=["1024:1024 (1:1)"],
                           message=picker_message)
        await dispatch(bot, choose)
        framed = await wait_for_job(bot, lambda j: j.model.endswith("reframe") and delivered(j),
                                    user_id=ids.USER_ID)
        result_message = fake.original_message(payload["token"])
        assert result_message is not None
        assert framed.inputs["image"] == result_message["attachments"][0]["url"]

        stranger = button(fake, payload, job, "delete", user_id=ids.OTHER_USER_ID)
        await dispatch(bot, stranger)
        assert "not your job" in fake.interaction_callbacks(stranger["id"])[0]["data"]["content"]
        delete = button(fake, payload, job, "delete")
        await dispatch(bot, delete)
        assert fake.interaction_callbacks(delete["id"]) == [{"type": 6}]
        assert fake.calls("DELETE", r"/messages/@original$")
        gone = await bot.store.get_job(job.id)
        assert gone is not None and gone.deleted_at is not None


async def test_progress_edits_are_coalesced_and_the_final_edit_is_never_dropped(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path) -> None:
    local_server.state.config.queue_seconds = 30.0
    async with ideogram_bot(fake, local_server, tmp_path / "b.db",
                            min_edit_interval=0.5) as bot:
        payload, job = await start_job(fake, bot)
        before = len(fake.edits_of_original(payload["token"]))
        for position in (5, 4, 3, 2, 1):
            moved = job.evolve(queue_position=position)
            await bot.result_delivery.on_job_event(JobEvent(job=moved))
        ended = job.evolve(status=JobStatus.CANCELLED, error=CANCELLED)
        await bot.result_delivery.on_job_event(JobEvent(job=ended))
        await bot.result_delivery.wait_idle()
        edits = fake.edits_of_original(payload["token"])[before:]
        assert len(edits) <= 2  # five progress changes did not become five edits
        assert edits[-1].json["content"].startswith("🚫 Cancelled")


async def test_two_delete_clicks_at_once_both_end_quietly(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    from tests.harness import start_dispatch

    job, message = await delivered_result(fake, bot)
    clicks = [component(f"job:{job.id}:delete", message=message),
              component(f"job:{job.id}:delete", message=message, user_id=ids.MOD_USER_ID)]
    dispatched = [start_dispatch(bot, click) for click in clicks]
    for each in dispatched:
        await each.wait()
    said = [f.json.get("content") or "" for click in clicks for f in fake.followups(click["token"])]
    assert not any("went wrong" in text for text in said), said
    assert fake.message(message["id"]) is None  # deleted, once


async def test_remix_and_reframe_check_the_servers_rules_before_they_open(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    job, message = await delivered_result(fake, bot)
    for command in ("ideogram", "reframe"):
        await dispatch(bot, chat_input("settings", {"command": command, "enabled": False},
                                       subcommand="command", user_id=ids.MOD_USER_ID))
    for action, command in (("remix", "ideogram"), ("reframe", "reframe")):
        click = component(f"job:{job.id}:{action}", message=message)
        await dispatch(bot, click)
        [answer] = fake.interaction_callbacks(click["id"])
        assert answer["type"] == 4 and answer["data"]["flags"] & 64, answer  # no form, no picker
        assert f"`/{command}` is turned off" in answer["data"]["content"]
    # Outside the allowed channels, the same.
    await dispatch(bot, chat_input("settings", {"command": "ideogram", "enabled": True},
                                   subcommand="command", user_id=ids.MOD_USER_ID))
    allow = chat_input("settings", [channel_option("channel", ids.LOG_CHANNEL_ID)],
                       subcommand="channel-allow", user_id=ids.MOD_USER_ID)
    await dispatch(bot, allow)
    assert "now work in" in str(fake.interaction_callbacks(allow["id"])), "allowed elsewhere"
    click = component(f"job:{job.id}:remix", message=message)
    await dispatch(bot, click)
    assert "can't be made in this channel" in fake.interaction_callbacks(
        click["id"])[0]["data"]["content"]


async def test_delete_still_works_once_retention_has_dropped_the_job(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    """Only the message is left: it still says whose it is, and a moderator may too."""
    messages = []
    for prompt in ("a kite", "a boat"):
        await dispatch(bot, payload := chat_input("ideogram", {"prompt": prompt}))
        await eventually(lambda token=payload["token"]: (fake.original_message(token) or {})
                         .get("attachments"), what="delivered")
        messages.append(fake.original_message(payload["token"]) or {})
    async with bot.store.transaction() as conn:
        await conn.execute("DELETE FROM jobs")

    def delete_button(message: dict[str, Any]) -> str:
        return next(c for c in custom_ids(message) if c.endswith(":delete"))

    first, second = messages
    stranger = component(delete_button(first), message=first, user_id=ids.OTHER_USER_ID)
    await dispatch(bot, stranger)
    [refused] = fake.interaction_callbacks(stranger["id"])
    assert refused["data"]["flags"] & 64 and "no longer kept" in refused["data"]["content"]
    assert fake.message(first["id"]) is not None
    own = component(delete_button(first), message=first)
    await dispatch(bot, own)
    assert fake.interaction_callbacks(own["id"]) == [{"type": 6}]
    await eventually(lambda: fake.message(first["id"]) is None, what="deleted")
    moderator = component(delete_button(second), message=second, user_id=ids.MOD_USER_ID)
    await dispatch(bot, moderator)
    await eventually(lambda: fake.message(second["id"]) is None, what="deleted")
