"""/ideogram count:N over real dispatch: N provider requests with consecutive seeds, one
reply that counts "k of N done" and ends with one grid, a button per image, Reroll all,
Cancel, quota all or none and settled per image, and restarts."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.grid import GUTTER, TILE_BOX
from bot.jobs import JobRecord, JobStatus
from bot.localserver.app import LocalRunComfyServer
from cogs.core.bot import IdeogramBot
from tests.harness import FakeDiscord, chat_input, component, dispatch, eventually, ids
from tests.helpers import custom_ids, db_rows, final_edit, ideogram_bot


async def batch_delivered(bot: IdeogramBot, count: int = 4,
                          limit: float = 15.0) -> list[JobRecord]:
    """The jobs of the test's batch once every one of them was delivered."""
    async def done() -> list[JobRecord] | None:
        jobs = await bot.store.jobs_for_guild(ids.GUILD_ID, limit=50)
        batches = {j.batch_id for j in jobs if j.batch_id}
        for batch_id in batches:
            members = await bot.store.batch_jobs(batch_id)
            if len(members) == count and all(j.delivered_at for j in members):
                return members
        return None

    return await eventually(done, timeout=limit, interval=0.02, what="a delivered batch")


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


async def test_four_images_one_grid_and_a_button_per_image(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer, db: Path) -> None:
    payload = chat_input("ideogram", {"prompt": "a lighthouse in a storm", "seed": 2147483646,
                                      "count": 4, "aspect_ratio": "16:9"})
    await dispatch(bot, payload)
    jobs = await batch_delivered(bot)

    # Four provider requests, consecutive seeds (wrapping), otherwise equal.
    bodies = [local_server.state.jobs[j.request_id or ""].inputs for j in jobs]
    assert [b["seed"] for b in bodies] == [2147483646, 2147483647, 0, 1]
    assert all({k: v for k, v in b.items() if k != "seed"}
               == {k: v for k, v in bodies[0].items() if k != "seed"} for b in bodies)
    assert local_server.state.submit_count == 4
    assert [j.batch_index for j in jobs] == [0, 1, 2, 3] and {j.batch_size for j in jobs} == {4}

    token = payload["token"]
    edits = fake.edits_of_original(token)
    progress = [e.json["content"] for e in edits if not e.files]
    assert any("of 4 done" in text for text in progress), progress
    final = final_edit(edits)
    assert final.json["content"].startswith("✅ 4 of 4 done")
    # The grid: 2×2 tiles of a 16:9 picture scaled into the tile box.
    tile_w, tile_h = TILE_BOX[0], round(768 * TILE_BOX[0] / 1344)
    assert png_size(final.files[0].data) == (2 * tile_w + GUTTER, 2 * tile_h + GUTTER)
    batch_id = jobs[0].batch_id
    assert custom_ids(final.json) == [f"batch:{batch_id}:{n}" for n in ("1", "2", "3", "4")] + [
        f"batch:{batch_id}:rerollall"]
    embed = final.json["embeds"][0]
    assert "2147483647" in str(embed) and embed["image"]["url"].startswith("attachment://")
    # Each image counted once, settled on its own.
    assert db_rows(db, "SELECT state, count(*) FROM usage_reservations GROUP BY state") == [
        ("committed", 4)]

    # Button 2 posts exactly the second image, full size, with the usual buttons.
    message = fake.original_message(token)
    assert message is not None
    click = component(f"batch:{batch_id}:2", message=message)
    await dispatch(bot, click)
    assert fake.interaction_callbacks(click["id"]) == [{"type": 6}]  # the post follows
    [post] = fake.followups(click["token"])
    assert not post.json.get("flags", 0) & 64  # public
    assert post.files[0].data == local_server.state.jobs[jobs[1].request_id or ""].image_bytes
    assert custom_ids(post.json) == [f"job:{jobs[1].id}:{a}" for a in
                                     ("reroll", "reframe", "info", "delete", "remix")]
    second = await bot.store.get_job(jobs[1].id)
    assert second is not None and second.message_id == int(post.response["id"])
    # Clicked again: one post an image (its Delete removes the image for good); a link to it.
    again = component(f"batch:{batch_id}:2", message=message)
    await dispatch(bot, again)
    [link] = fake.followups(again["token"])
    assert link.json["flags"] & 64 and not link.files
    assert f"/{second.message_id}" in link.json["content"]
    # Two clicks at the same moment: one post, and a link for the other.
    from tests.harness import start_dispatch

    clicks = [component(f"batch:{batch_id}:3", message=message) for _ in range(3)]
    for running in [start_dispatch(bot, click) for click in clicks]:
        await running.wait()
    sent = [f for click in clicks for f in fake.followups(click["token"])]
    assert sorted(bool(f.json.get("flags", 0) & 64) for f in sent) == [False, True, True], sent
    assert not bot.batch_actions._posting  # nothing kept once the clicks are answered

    # Someone else may not post the requester's images.
    stranger = component(f"batch:{batch_id}:3", message=message, user_id=ids.OTHER_USER_ID)
    await dispatch(bot, stranger)
    [refusal] = fake.interaction_callbacks(stranger["id"])
    assert refusal["type"] == 4 and refusal["data"]["flags"] & 64


async def test_reroll_all_makes_a_new_batch_with_new_consecutive_seeds(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload = chat_input("ideogram", {"prompt": "two foxes", "count": 2, "style": "anime"})
    await dispatch(bot, payload)
    first = await batch_delivered(bot, count=2)
    message = fake.original_message(payload["token"])
    assert message is not None
    click = component(f"batch:{first[0].batch_id}:rerollall", message=message)
    await dispatch(bot, click)
    assert fake.interaction_callbacks(click["id"]) == [{"type": 5}]  # its own public reply

    async def second_batch() -> list[JobRecord] | None:
        jobs = await bot.store.jobs_for_guild(ids.GUILD_ID, limit=10)
        again = [j for j in jobs if j.batch_id not in (None, first[0].batch_id)]
        return sorted(again, key=lambda j: j.batch_index or 0) if (
            len(again) == 2 and all(j.delivered_at for j in again)) else None

    again = await eventually(second_batch, timeout=15.0, what="the rerolled batch")
    bodies = [local_server.state.jobs[j.request_id or ""].inputs for j in again]
    assert bodies[1]["seed"] == (bodies[0]["seed"] + 1) % 2147483648
    assert bodies[0]["seed"] != first[0].seed
    assert {b["prompt"] for b in bodies} == {"two foxes"} and {b["style"] for b in bodies} == {
        "anime"}
    final = final_edit(fake.edits_of_original(click["token"]))
    assert final.json["content"].startswith("✅ 2 of 2 done") and final.files


async def test_a_batch_that_does_not_fit_is_refused_whole(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer, db: Path) -> None:
    set_limit = chat_input("quota", {"user_daily": 3}, subcommand="set", user_id=ids.MOD_USER_ID)
    await dispatch(bot, set_limit)
    payload = chat_input("ideogram", {"prompt": "four cats", "count": 4})
    await dispatch(bot, payload)
    [answer] = fake.interaction_callbacks(payload["id"])
    assert answer["type"] == 4 and answer["data"]["flags"] & 64
    # It says how many would still fit, once, and what to do.
    text = answer["data"]["content"]
    assert text.startswith("You have 3 images left today (your limit is 3). Use "
                           "`/ideogram count:3`, or try again <t:")
    assert text.count("3 images") == 1 and "Only" not in text and "fewer" not in text
    assert local_server.state.submit_count == 0
    assert db_rows(db, "SELECT count(*) FROM usage_reservations") == [(0,)]
    assert db_rows(db, "SELECT count(*) FROM jobs") == [(0,)]


@pytest.mark.parametrize(("limits", "expected"), [
    ({"max_concurrent": 2}, "You may have 2 images in progress at once: 0 now, and this asks "
                            "for 4. Only 2 more images fit now: use `/ideogram count:2`."),
    # 4 × $0.08 = $0.32 would pass $0.20; two ($0.16) fit.
    ({"guild_monthly_budget": 0.2}, "These 4 images would pass this server's monthly budget "
                                    "($0.20): $0.00 spent or in progress, and they cost about "
                                    "$0.32"),
])
async def test_a_batch_over_the_concurrency_or_budget_limit_says_what_fits(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer, db: Path,
        limits: dict[str, float], expected: str) -> None:
    await bot.quota_admin.set_limits(ids.GUILD_ID, ids.MOD_USER_ID, limits)
    payload = chat_input("ideogram", {"prompt": "four cats", "count": 4})
    await dispatch(bot, payload)
    [answer] = fake.interaction_callbacks(payload["id"])
    assert answer["type"] == 4 and answer["data"]["flags"] & 64
    text = answer["data"]["content"]
    assert expected in text and ".." not in text and "reached" not in text
    assert "use `/ideogram count:2`" in text
    assert local_server.state.submit_count == 0
    assert db_rows(db, "SELECT count(*) FROM usage_reservations") == [(0,)]


async def test_one_of_four_fails_a_grey_tile_three_charged_one_given_back(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer, db: Path) -> None:
    local_server.state.faults.fail_jobs(1)
    payload = chat_input("ideogram", {"prompt": "four dogs", "count": 4})
    await dispatch(bot, payload)
    jobs = await batch_delivered(bot)
    assert sorted(j.status.value for j in jobs) == ["completed"] * 3 + ["failed"]
    final = final_edit(fake.edits_of_original(payload["token"]))
    assert final.json["content"].startswith("✅ 3 of 4 done")
    assert final.json["content"].endswith(" · 1 failed")
    buttons = [c for row in final.json["components"] for c in row["components"]]
    failed_number = next(n for n, j in enumerate(jobs, start=1) if j.status is JobStatus.FAILED)
    assert [b.get("disabled", False) for b in buttons[:4]] == [
        n == failed_number for n in range(1, 5)]
    assert sorted(db_rows(db, "SELECT state FROM usage_reservations")) == [
        ("committed",), ("committed",), ("committed",), ("released",)]
    with Image.open(io.BytesIO(final.files[0].data)) as grid:
        columns = 2
        tile_w = (grid.width - GUTTER) // columns
        tile_h = (grid.height - GUTTER) // 2
        index = failed_number - 1
        left, top = (index % 2) * (tile_w + GUTTER), (index // 2) * (tile_h + GUTTER)
        corner = grid.convert("RGB").getpixel((left + tile_w - 5, top + tile_h - 5))
        assert isinstance(corner, tuple) and max(corner) - min(corner) < 12  # grey


async def test_a_moderator_cancels_a_queued_batch_and_the_log_counts_its_images(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        db: Path) -> None:
    await bot.guild_settings.update(ids.GUILD_ID, log_channel_id=ids.LOG_CHANNEL_ID)
    local_server.state.config.queue_seconds = 5.0
    payload = chat_input("ideogram", {"prompt": "slow boats", "count": 3})
    await dispatch(bot, payload)

    async def queued_with_cancel() -> dict[str, Any] | None:
        message = fake.original_message(payload["token"])
        shown = custom_ids(message) if message else []
        return message if any(i.endswith(":cancel") for i in shown) else None

    message = await eventually(queued_with_cancel, timeout=5, what="a Cancel button")
    [cancel] = [i for i in custom_ids(message) if i.endswith(":cancel")]
    click = component(cancel, message=message, user_id=ids.MOD_USER_ID)
    await dispatch(bot, click)
    assert "Cancelled 3 of the 3 images" in fake.followups(click["token"])[-1].json["content"]
    logged = await fake.wait_for(method="POST",
                                 path=rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$")
    assert f"<@{ids.MOD_USER_ID}> cancelled 3 images of batch `" in logged.json["content"]
    jobs = await batch_delivered(bot, count=3)
    assert {j.status for j in jobs} == {JobStatus.CANCELLED}
    final = fake.edits_of_original(payload["token"])[-1]
    assert final.json["content"].startswith("🚫 Cancelled")
    assert db_rows(db, "SELECT DISTINCT state FROM usage_reservations") == [("released",)]


async def test_a_restart_mid_batch_still_ends_with_the_grid_and_its_buttons_work(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path) -> None:
    local_server.state.config.queue_seconds = 1.0
    db = tmp_path / "bot.db"
    payload = chat_input("ideogram", {"prompt": "a harbour at night", "count": 2})
    async with ideogram_bot(fake, local_server, db) as first:
        await dispatch(first, payload)
        await eventually(lambda: local_server.state.submit_count == 2, timeout=5,
                         what="both submits")
    assert db_rows(db, "SELECT count(*) FROM jobs WHERE delivered_at IS NULL") == [(2,)]
    async with ideogram_bot(fake, local_server, db) as second:
        jobs = await batch_delivered(second, count=2)
    final = final_edit(fake.calls("PATCH", rf"^/webhooks/\d+/{payload['token']}/messages/"))
    assert final.json["content"].startswith("✅ 2 of 2 done")
    assert png_size(final.files[0].data)[0] == 2 * TILE_BOX[0] + GUTTER
    assert local_server.state.submit_count == 2  # nothing sent twice
    async with ideogram_bot(fake, local_server, db) as third:  # old buttons, a new process
        message = fake.original_message(payload["token"])
        assert message is not None
        click = component(f"batch:{jobs[0].batch_id}:1", message=message)
        await dispatch(third, click)
        [post] = fake.followups(click["token"])
        assert post.files[0].data == local_server.state.jobs[jobs[0].request_id or ""].image_bytes


async def test_one_image_of_a_batch_leaves_the_shared_reply_alone(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload = chat_input("ideogram", {"prompt": "twin lighthouses", "count": 2})
    await dispatch(bot, payload)
    first, second = await batch_delivered(bot, count=2)
    reply_id = first.message_id
    assert reply_id is not None and second.message_id == reply_id

    # /job on one image brings back that image, not the batch's grid.
    recall = chat_input("job", {"id": second.short_id})
    await dispatch(bot, recall)
    recalled = final_edit(fake.edits_of_original(recall["token"]))
    assert recalled.files[0].filename.startswith(f"ideogram-{second.short_id}.")
    assert recalled.files[0].data == local_server.state.jobs[second.request_id or ""].image_bytes
    # Once the provider no longer serves it, /job points to the batch's message instead.
    local_server.state.faults.server_error(5, kind="file")
    expired = chat_input("job", {"id": first.short_id})
    await dispatch(bot, expired)
    said = fake.edits_of_original(expired["token"])[-1].json["content"]
    assert "still in its batch's message" in said and f"/{reply_id})" in said
    local_server.state.faults.clear()

    async def delete_from_history(job: JobRecord) -> str:
        shown = chat_input("history", {})
        await dispatch(bot, shown)
        message = fake.original_message(shown["token"]) or {}
        [select] = [i for i in custom_ids(message) if i.startswith("histdel:")]
        await dispatch(bot, component(select, component_type=3, values=[job.id],
                                      message=message))
        return str((fake.message(message["id"]) or {}).get("content"))

    # Deleting one image keeps the reply (the other image is still in it) ...
    said = await delete_from_history(first)
    assert "Its batch's message stays" in said
    assert not fake.calls("DELETE", rf"^/channels/{ids.CHANNEL_ID}/messages/{reply_id}$")
    assert fake.message(reply_id) is not None
    # ... and deleting the last one removes it.
    said = await delete_from_history(second)
    assert "and its result message" in said
    assert fake.calls("DELETE", rf"^/channels/{ids.CHANNEL_ID}/messages/{reply_id}$")


async def test_an_image_a_moderator_posted_full_size_stays_the_requesters_to_delete(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    """Once retention has dropped the job, only the post says whose image it is: the
    member who ran the command, not the moderator whose click made the post."""
    payload = chat_input("ideogram", {"prompt": "two herons", "count": 2})
    await dispatch(bot, payload)
    jobs = await batch_delivered(bot, count=2)
    grid = fake.original_message(payload["token"])
    assert grid is not None
    posts = []
    for number in (1, 2):
        click = component(f"batch:{jobs[0].batch_id}:{number}", message=grid,
                          user_id=ids.MOD_USER_ID)
        await dispatch(bot, click)
        [post] = fake.followups(click["token"])
        posts.append(fake.message(int(post.response["id"])) or {})
    async with bot.store.transaction() as conn:
        await conn.execute("DELETE FROM jobs")

    def delete(post: dict[str, Any], user_id: int) -> dict[str, Any]:
        [delete_id] = [c for c in custom_ids(post) if c.endswith(":delete")]
        return component(delete_id, message=post, user_id=user_id)

    first, second = posts
    stranger = delete(first, ids.OTHER_USER_ID)
    await dispatch(bot, stranger)
    [refused] = fake.interaction_callbacks(stranger["id"])
    assert refused["data"]["flags"] & 64 and "no longer kept" in refused["data"]["content"]
    requester = delete(first, ids.USER_ID)
    await dispatch(bot, requester)
    assert fake.interaction_callbacks(requester["id"]) == [{"type": 6}]
    await eventually(lambda: fake.message(first["id"]) is None, what="deleted")
    moderator = delete(second, ids.MOD_USER_ID)  # moderators may, as for any result
    await dispatch(bot, moderator)
    await eventually(lambda: fake.message(second["id"]) is None, what="deleted")


def test_a_batch_reply_is_found_through_any_of_its_jobs() -> None:
    from cogs.core.batch_delivery import _lead

    jobs = [JobRecord(id=f"j{i}", provider="local", model="m", channel_id=1, user_id=2,
                      inputs={}, seed=i, batch_id="b", batch_index=i, batch_size=3,
                      message_id=None if i == 0 else 99) for i in range(3)]
    assert _lead(jobs).message_id == 99 and _lead(jobs).id == "j0"
    assert _lead(jobs[1:]) is jobs[1]


async def test_an_image_button_obeys_the_servers_rules_of_now(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload = chat_input("ideogram", {"prompt": "forbidden fruit bowl", "count": 2})
    await dispatch(bot, payload)
    jobs = await batch_delivered(bot, count=2)
    message = fake.original_message(payload["token"])
    await dispatch(bot, chat_input("settings", {"words": "forbidden fruit"},
                                   subcommand="blocked-words-add", user_id=ids.MOD_USER_ID))
    click = component(f"batch:{jobs[0].batch_id}:2", message=message)
    await dispatch(bot, click)  # posting image 2 full size, publicly, as /job would
    [answer] = fake.interaction_callbacks(click["id"])
    assert answer["type"] == 4 and answer["data"]["flags"] & 64
    assert "no longer allows" in answer["data"]["content"]
    assert not fake.edits_of_original(click["token"]) and not fake.followups(click["token"])


async def test_an_image_the_provider_no_longer_keeps_is_explained_privately(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload = chat_input("ideogram", {"prompt": "two moons", "count": 2})
    await dispatch(bot, payload)
    jobs = await batch_delivered(bot, count=2)
    local_server.state.faults.server_error(5, kind="file")  # the result link has expired
    click = component(f"batch:{jobs[0].batch_id}:2", message=fake.original_message(
        payload["token"]))
    await dispatch(bot, click)
    [said] = fake.followups(click["token"])
    assert said.json["flags"] & 64 and "could not fetch the image" in said.json["content"]
    assert f"`{jobs[1].seed}`" in said.json["content"]
    assert not fake.edits_of_original(click["token"])  # nothing public left in the channel


async def test_reroll_all_still_works_once_the_first_image_was_deleted(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload = chat_input("ideogram", {"prompt": "three pears", "count": 2})
    await dispatch(bot, payload)
    first, second = await batch_delivered(bot, count=2)
    await bot.store.update_job(first.id, deleted_at=1.0)
    click = component(f"batch:{first.batch_id}:rerollall",
                      message=fake.original_message(payload["token"]))
    await dispatch(bot, click)
    assert fake.interaction_callbacks(click["id"])[0]["type"] == 5  # a new batch
    await bot.store.update_job(second.id, deleted_at=1.0)
    refused = component(f"batch:{first.batch_id}:rerollall",
                        message=fake.original_message(payload["token"]))
    await dispatch(bot, refused)
    [answer] = fake.interaction_callbacks(refused["id"])
    assert answer["type"] == 4 and "was deleted" in answer["data"]["content"]


async def test_a_batch_partly_cancelled_says_so(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    local_server.state.config.queue_seconds = 30.0
    payload = chat_input("ideogram", {"prompt": "two boats", "count": 2})
    await dispatch(bot, payload)
    await eventually(lambda: local_server.state.submit_count == 2, timeout=5, what="submits")
    first = min(local_server.state.jobs.values(), key=lambda j: j.inputs["seed"])
    first.queue_seconds = 0.0  # image 1 is made at once; image 2 waits in the queue

    async def one_done_cancel_shown() -> dict[str, Any] | None:
        jobs = await bot.store.jobs_for_guild(ids.GUILD_ID, limit=5)
        message = fake.original_message(payload["token"])
        if message and any(j.status is JobStatus.COMPLETED for j in jobs) and any(
                i.endswith(":cancel") for i in custom_ids(message)):
            return message
        return None

    message = await eventually(one_done_cancel_shown, timeout=10, what="one done, Cancel")
    [cancel] = [i for i in custom_ids(message) if i.endswith(":cancel")]
    await dispatch(bot, component(cancel, message=message))
    jobs = await batch_delivered(bot, count=2)
    assert [j.status for j in jobs] == [JobStatus.COMPLETED, JobStatus.CANCELLED]
    final = final_edit(fake.edits_of_original(payload["token"]))
    assert final.json["content"].endswith(f"1 of 2 done for <@{ids.USER_ID}> · 1 cancelled")
    assert "failed" not in final.json["content"]


def test_a_tile_without_a_picture_says_why() -> None:
    from cogs.core.batch_delivery import tile_label

    words = {"unavailable": "unavailable", "cancelled": "cancelled"}
    made = JobRecord(id="a" * 32, provider="local", model="m", channel_id=1, user_id=2,
                     inputs={}, seed=1, status=JobStatus.COMPLETED)
    assert tile_label(made, b"png", **words) is None
    assert tile_label(made, None, **words) == "unavailable"
    assert tile_label(made.evolve(status=JobStatus.CANCELLED), None, **words) == "cancelled"
    assert tile_label(made.evolve(status=JobStatus.FAILED), None, **words) is None  # "failed"


async def test_an_image_the_channel_will_not_take_full_size_is_posted_as_a_link(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload = chat_input("ideogram", {"prompt": "two foxes", "count": 2})
    await dispatch(bot, payload)
    jobs = await batch_delivered(bot, count=2)
    fake.fail_next("POST", r"^/webhooks/", status=413, with_files=True,
                   body={"code": 40005, "message": "Request entity too large"})
    click = component(f"batch:{jobs[0].batch_id}:1", message=fake.original_message(
        payload["token"]))
    await dispatch(bot, click)
    [post] = [f for f in fake.followups(click["token"]) if f.status == 200]
    assert not post.files and not post.json.get("flags", 0) & 64  # public, as a full post
    assert "over what this channel takes" in post.json["content"]
    assert jobs[0].result_urls[0] in post.json["content"]
    assert "reframe" not in str(post.json["components"])  # it needs the attached image
    assert (await bot.store.get_job(jobs[0].id)).message_id == int(post.response["id"])


async def test_reroll_all_with_too_few_images_left_says_what_to_do_from_the_button(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload = chat_input("ideogram", {"prompt": "four foxes", "count": 4})
    await dispatch(bot, payload)
    jobs = await batch_delivered(bot, count=4)
    await bot.quota_admin.set_limits(ids.GUILD_ID, ids.MOD_USER_ID, {"user_daily": 6})
    click = component(f"batch:{jobs[0].batch_id}:rerollall",
                      message=fake.original_message(payload["token"]))
    await dispatch(bot, click)
    [refusal] = fake.interaction_callbacks(click["id"])
    assert refusal["data"]["flags"] & 64
    assert refusal["data"]["content"].startswith(
        "You have 2 images left today (your limit is 6). Reroll all makes 4 images: try "
        "again <t:"), refusal
