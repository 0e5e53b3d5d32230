"""/history, its buttons and delete menu, and /job, over real discord.py dispatch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.jobs import JobRecord, JobStatus, new_job_id
from bot.localserver.app import LocalRunComfyServer
from cogs.core.bot import IdeogramBot
from tests.harness import (
    FakeDiscord,
    action_row,
    button,
    chat_input,
    component,
    dispatch,
    ids,
    message_payload,
    user_option,
    user_payload,
)
from tests.helpers import answer, callback, ideogram_bot, wait_delivered

BASE_TIME = 1_750_000_000.0


def stored_job(number: int, user_id: int = ids.USER_ID, **overrides: Any) -> JobRecord:
    values: dict[str, Any] = {
        "id": new_job_id(), "provider": "runcomfy", "model": "ideogram/ideogram-v2/generate",
        "guild_id": ids.GUILD_ID, "channel_id": ids.CHANNEL_ID, "user_id": user_id,
        "inputs": {"prompt": f"prompt number {number} *bold*", "seed": number},
        "seed": number, "status": JobStatus.COMPLETED, "message_id": 9_000_000 + number,
        "created_at": BASE_TIME + number,
    }
    values.update(overrides)
    return JobRecord(**values)


async def add_jobs(bot: IdeogramBot, count: int, user_id: int = ids.USER_ID) -> list[JobRecord]:
    jobs = [stored_job(i, user_id) for i in range(count)]
    for job in jobs:
        await bot.store.insert_job(job)
    return jobs


def custom_ids(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["custom_id"]: c for row in message.get("components", [])
            for c in row["components"]}


def nav(message: dict[str, Any], direction: str) -> dict[str, Any]:
    [button] = [c for cid, c in custom_ids(message).items() if cid.endswith(":" + direction)]
    return button


def shown_ids(embed: dict[str, Any]) -> list[str]:
    return [part.split("`")[0] for part in embed["description"].split("**`")[1:]]


async def click(fake: FakeDiscord, bot: IdeogramBot, message: dict[str, Any], custom_id: str,
                **ctx: Any) -> dict[str, Any]:
    return await answer(fake, bot, component(custom_id, message=message, **ctx))


async def test_paging_both_ways_stops_at_the_ends_and_survives_a_restart(
        fake: FakeDiscord, local_server: LocalRunComfyServer, db: Path) -> None:
    async with ideogram_bot(fake, local_server, db) as bot:
        jobs = await add_jobs(bot, 12)
        deleted = stored_job(50, deleted_at=BASE_TIME + 60)
        await bot.store.insert_job(deleted)
        await add_jobs(bot, 3, ids.OTHER_USER_ID)
        newest_first = [j.short_id for j in reversed(jobs)]

        payload = chat_input("history", {})
        await dispatch(bot, payload)
        first = callback(fake, payload)
        assert first["type"] == 4 and first["data"]["flags"] & 64
        embed = first["data"]["embeds"][0]
        assert shown_ids(embed) == newest_first[:5]
        assert deleted.short_id not in embed["description"]
        assert "page 1/3" in embed["description"] and "12 images" in embed["description"]
        newest = jobs[-1]
        assert (f"https://discord.com/channels/{ids.GUILD_ID}/{ids.CHANNEL_ID}/{newest.message_id}"
                in embed["description"])
        assert f"<t:{int(newest.created_at)}:f>" in embed["description"]
        assert f"seed `{newest.seed}`" in embed["description"]
        assert "\\*bold\\*" in embed["description"]  # markdown in prompts is escaped
        message = fake.original_message(payload["token"])
        assert message is not None
        assert nav(message, "prev").get("disabled") and not nav(message, "next").get("disabled")

        pages = []
        for _ in range(2):
            cb = await click(fake, bot, message, nav(message, "next")["custom_id"])
            assert cb["type"] == 7
            pages.append(shown_ids(cb["data"]["embeds"][0]))
            message = fake.message(message["id"]) or {}
        assert pages == [newest_first[5:10], newest_first[10:]]
        assert nav(message, "next").get("disabled")  # the last page
        assert not nav(message, "prev").get("disabled")

    # Another process on the same database: the buttons still work.
    async with ideogram_bot(fake, local_server, db) as second:
        cb = await click(fake, second, message, nav(message, "prev")["custom_id"])
        assert cb["type"] == 7 and shown_ids(cb["data"]["embeds"][0]) == newest_first[5:10]
        message = fake.message(message["id"]) or {}
        cb = await click(fake, second, message, nav(message, "prev")["custom_id"])
        assert shown_ids(cb["data"]["embeds"][0]) == newest_first[:5]
        assert nav(fake.message(message["id"]) or {}, "prev").get("disabled")

        # A page past the end shows the last page.
        late = chat_input("history", {"page": 40})
        await dispatch(second, late)
        assert shown_ids(callback(fake, late)["data"]["embeds"][0]) == newest_first[10:]


async def test_other_members_history_is_for_moderators(fake: FakeDiscord,
                                                       bot: IdeogramBot) -> None:
    await add_jobs(bot, 2, ids.OTHER_USER_ID)
    nosy = chat_input("history", [user_option("member", ids.OTHER_USER_ID)])
    await dispatch(bot, nosy)
    refusal = callback(fake, nosy)
    assert refusal["type"] == 4 and refusal["data"]["flags"] & 64
    assert "Only moderators" in refusal["data"]["content"]
    assert "embeds" not in refusal["data"] or not refusal["data"]["embeds"]

    mine = chat_input("history", [user_option("member", ids.USER_ID)])  # naming yourself is fine
    await dispatch(bot, mine)
    assert "No images yet" in callback(fake, mine)["data"]["embeds"][0]["description"]

    mod = chat_input("history", [user_option("member", ids.OTHER_USER_ID)], user_id=ids.MOD_USER_ID)
    await dispatch(bot, mod)
    embed = callback(fake, mod)["data"]["embeds"][0]
    assert f"<@{ids.OTHER_USER_ID}>" in embed["description"] and len(shown_ids(embed)) == 2

    # Someone else clicking the moderator's buttons is refused.
    message = fake.original_message(mod["token"]) or {}
    select_id = next(cid for cid in custom_ids(message) if cid.startswith("histdel:"))
    stranger = component(select_id, component_type=3, values=[new_job_id()],
                         message=message, user_id=ids.OTHER_USER_ID)
    await dispatch(bot, stranger)
    cb = callback(fake, stranger)
    assert cb["type"] == 4 and "belong to whoever ran `/history`" in cb["data"]["content"]


async def test_delete_from_history_marks_the_job_and_removes_its_message(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    jobs = await add_jobs(bot, 3)
    target = jobs[1]
    fake.add_message(message_payload("result", message_id=target.message_id,
                                     author=user_payload(bot.user.id)))
    payload = chat_input("history", {})
    await dispatch(bot, payload)
    message = fake.original_message(payload["token"]) or {}
    select_id = next(cid for cid in custom_ids(message) if cid.startswith("histdel:"))
    options = [o["value"] for o in custom_ids(message)[select_id]["options"]]
    assert sorted(options) == sorted(j.id for j in jobs)

    choose = component(select_id, component_type=3, values=[target.id], message=message)
    await dispatch(bot, choose)
    assert callback(fake, choose) == {"type": 6}
    assert fake.calls("DELETE", rf"^/channels/{ids.CHANNEL_ID}/messages/{target.message_id}$")
    assert fake.message(target.message_id or 0) is None
    gone = await bot.store.get_job(target.id)
    assert gone is not None and gone.deleted_at is not None
    refreshed = fake.message(message["id"]) or {}
    assert "Deleted job" in refreshed["content"]
    assert target.short_id not in refreshed["embeds"][0]["description"]
    assert len(shown_ids(refreshed["embeds"][0])) == 2

    recall = chat_input("job", {"id": target.short_id})
    await dispatch(bot, recall)
    assert "was deleted" in callback(fake, recall)["data"]["content"]


async def test_job_recall_for_owner_and_moderator_not_others(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    await dispatch(bot, chat_input("ideogram", {"prompt": "a paper crane", "seed": 3}))
    job = await wait_delivered(bot)
    png = local_server.state.jobs[job.request_id or ""].image_bytes

    other = chat_input("job", {"id": job.short_id}, user_id=ids.OTHER_USER_ID)
    await dispatch(bot, other)
    refusal = callback(fake, other)
    assert refusal["type"] == 4 and refusal["data"]["flags"] & 64
    assert "someone else's job" in refusal["data"]["content"]

    files_before = local_server.state.request_counts["file"]
    for user in (ids.USER_ID, ids.MOD_USER_ID):
        payload = chat_input("job", {"id": job.short_id.upper()}, user_id=user)
        await dispatch(bot, payload)
        assert callback(fake, payload) == {"type": 5}
        [edit] = fake.edits_of_original(payload["token"])
        assert edit.files and edit.files[0].data == png
        embed = edit.json["embeds"][0]
        assert embed["image"]["url"] == f"attachment://{edit.files[0].filename}"
        assert embed["description"] == "a paper crane"
        custom_ids = [c["custom_id"] for row in edit.json["components"] for c in row["components"]]
        # A recalled copy has Remove (this copy) instead of Delete (the job's own message).
        assert custom_ids == [f"job:{job.id}:{a}" for a in ("reroll", "reframe", "info",
                                                            "remix")] + [f"recall:{job.id}:remove"]
    # The image came from the original result message, not the provider's URL.
    assert local_server.state.request_counts["file"] == files_before
    assert fake.calls("GET", rf"^/channels/{ids.CHANNEL_ID}/messages/{job.message_id}$")

    # The buttons of the recalled message work: Info.
    recalled = fake.original_message(payload["token"]) or {}
    info = component(f"job:{job.id}:info", message=recalled)
    await dispatch(bot, info)
    assert job.id in str(callback(fake, info)["data"]["embeds"][0])

    # Original message gone: the provider's URL still serves.
    fake.messages.pop(job.message_id or 0)
    again = chat_input("job", {"id": job.id})
    await dispatch(bot, again)
    assert fake.edits_of_original(again["token"])[0].files[0].data == png

    # Both gone: the embed comes back and the message says the image expired.
    await bot.store.update_job(job.id, result_urls=["http://127.0.0.1:9/expired.png"])
    late = chat_input("job", {"id": job.short_id})
    await dispatch(bot, late)
    [edit] = fake.edits_of_original(late["token"])
    assert not edit.files and "expired" in edit.json["content"]
    assert edit.json["embeds"][0]["description"] == "a paper crane"
    # No Reframe on a copy without the image: it starts from the image attached.
    custom_ids = [c["custom_id"] for row in edit.json["components"] for c in row["components"]]
    assert custom_ids == [f"job:{job.id}:{a}" for a in ("reroll", "info", "remix")] + [
        f"recall:{job.id}:remove"]


async def test_a_recalled_copy_can_be_removed_also_once_the_job_was_deleted(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    await dispatch(bot, chat_input("ideogram", {"prompt": "a paper boat", "seed": 4}))
    job = await wait_delivered(bot)
    recall = chat_input("job", {"id": job.short_id})
    await dispatch(bot, recall)
    copy = fake.original_message(recall["token"]) or {}
    original = fake.message(job.message_id or 0)
    await dispatch(bot, component(f"job:{job.id}:delete", message=original))
    assert fake.message(job.message_id or 0) is None  # the job is deleted, the copy stays

    stranger = component(f"recall:{job.id}:remove", message=copy, user_id=ids.OTHER_USER_ID)
    await dispatch(bot, stranger)
    assert callback(fake, stranger)["data"]["flags"] & 64 and fake.message(copy["id"])
    remove = component(f"recall:{job.id}:remove", message=copy)
    await dispatch(bot, remove)
    assert callback(fake, remove) == {"type": 6}
    assert fake.message(copy["id"]) is None
    assert fake.message(job.message_id or 0) is None

    # Once retention has dropped the job, a moderator can still remove a copy; others not.
    again = chat_input("job", {"id": job.short_id}, user_id=ids.MOD_USER_ID)
    await bot.store.update_job(job.id, deleted_at=None)  # recallable again, for this copy
    await dispatch(bot, again)
    copy = fake.original_message(again["token"]) or {}
    assert copy.get("attachments"), "a second copy was posted"
    async with bot.store.transaction() as conn:
        await conn.execute("DELETE FROM jobs WHERE id = ?", (job.id,))
    member = component(f"recall:{job.id}:remove", message=copy)
    await dispatch(bot, member)
    assert "ask a moderator" in callback(fake, member)["data"]["content"]
    moderator = component(f"recall:{job.id}:remove", message=copy, user_id=ids.MOD_USER_ID)
    await dispatch(bot, moderator)
    assert fake.message(copy["id"]) is None


@pytest.mark.parametrize(("typed", "expected"), [
    ("zz!", "0–9 and a–f"),
    ("abc", "0–9 and a–f"),
    ("0000dead", "no job `0000dead`"),
    ("abcd", "More than one job"),
])
async def test_job_unknown_ambiguous_or_malformed_ids(fake: FakeDiscord, bot: IdeogramBot,
                                                      typed: str, expected: str) -> None:
    for suffix in ("1", "2"):
        await bot.store.insert_job(stored_job(1, id="abcd" + suffix * 28))
    payload = chat_input("job", {"id": typed})
    await dispatch(bot, payload)
    cb = callback(fake, payload)
    assert cb["type"] == 4 and cb["data"]["flags"] & 64
    assert expected in cb["data"]["content"]


async def test_delete_works_only_on_the_jobs_own_message(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    await dispatch(bot, chat_input("ideogram", {"prompt": "a lighthouse"}))
    job = await wait_delivered(bot)
    recall = chat_input("job", {"id": job.short_id})
    await dispatch(bot, recall)
    recalled = fake.original_message(recall["token"]) or {}
    assert fake.message(job.message_id or 0) is not None

    # A Delete click that arrives on another message (a recalled copy, or another of the
    # bot's messages carrying this job's button) is refused, and nothing is deleted.
    delete_row = action_row(button(f"job:{job.id}:delete"))
    others = [recalled | {"components": [delete_row]},
              fake.add_message(message_payload("someone else's result",
                                               author=user_payload(ids.BOT_USER_ID),
                                               components=[delete_row]))]
    for message in others:
        delete = component(f"job:{job.id}:delete", message=message)
        await dispatch(bot, delete)
        refusal = callback(fake, delete)
        assert refusal["type"] == 4 and refusal["data"]["flags"] & 64
        assert "not on that job's result message" in refusal["data"]["content"]
        assert fake.message(message["id"]) is not None
    assert fake.message(job.message_id or 0) is not None
    still = await bot.store.get_job(job.id)
    assert still is not None and still.deleted_at is None

    # On the job's own message it deletes the result and hides the job.
    original = fake.message(job.message_id or 0) or {}
    delete = component(f"job:{job.id}:delete", message=original)
    await dispatch(bot, delete)
    assert callback(fake, delete) == {"type": 6}
    assert fake.message(job.message_id or 0) is None
    gone = await bot.store.get_job(job.id)
    assert gone is not None and gone.deleted_at is not None
    history = chat_input("history", {})
    await dispatch(bot, history)
    assert "No images yet" in callback(fake, history)["data"]["embeds"][0]["description"]


async def test_a_recall_the_bot_cannot_read_says_which_permission_it_needs(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    await dispatch(bot, chat_input("ideogram", {"prompt": "a hidden lighthouse"}))
    job = await wait_delivered(bot)
    local_server.state.faults.server_error(3, kind="file")  # the provider's copy is gone
    fake.fail_next("GET", rf"^/channels/{ids.CHANNEL_ID}/messages/{job.message_id}$",
                   status=403)
    recall = chat_input("job", {"id": job.short_id})
    await dispatch(bot, recall)
    said = fake.edits_of_original(recall["token"])[-1].json["content"]
    assert "Read Message History" in said and f"<#{ids.CHANNEL_ID}>" in said
    assert "message is gone" not in said
    local_server.state.faults.clear()
