"""Remix over real dispatch: the button opens a prefilled modal; submitting launches a job
that differs only in prompt (and negative prompt) and seed, through every check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.localserver.app import LocalRunComfyServer
from cogs.core.bot import IdeogramBot
from tests.harness import FakeDiscord, chat_input, component, dispatch, ids, modal_submit
from tests.helpers import delivered_result, ideogram_bot, wait_delivered

#: The result every test remixes.
ORIGINAL = {"prompt": "a red kite over the dunes", "seed": 77, "negative_prompt": "people",
            "style": "realistic"}


def text_inputs(modal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["custom_id"]: c for row in modal["components"] for c in row["components"]}


async def test_the_modal_is_prefilled_and_the_remix_changes_only_prompt_and_seed(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    job, message = await delivered_result(fake, bot, ORIGINAL)
    click = component(f"job:{job.id}:remix", message=message)
    await dispatch(bot, click)
    [opened] = fake.interaction_callbacks(click["id"])
    assert opened["type"] == 9
    modal = opened["data"]
    assert modal["title"] == "Remix" and modal["custom_id"] == f"remix:{job.id}"
    fields = text_inputs(modal)
    assert fields["prompt"]["value"] == "a red kite over the dunes"
    assert fields["negative_prompt"]["value"] == "people"
    assert (fields["prompt"]["min_length"], fields["prompt"]["max_length"]) == (1, 2000)
    assert fields["prompt"]["required"] is True
    assert fields["negative_prompt"]["max_length"] == 1000
    assert fields["negative_prompt"].get("required") is False

    submit = modal_submit(f"remix:{job.id}", {"prompt": "a blue kite over the sea",
                                              "negative_prompt": "people"})
    await dispatch(bot, submit, expect_handler=False)
    assert fake.interaction_callbacks(submit["id"]) == [{"type": 5}]  # a public deferral
    remix = await wait_delivered(bot, newest_only=True)
    assert remix.id != job.id
    before = local_server.state.jobs[job.request_id or ""].inputs
    after = local_server.state.jobs[remix.request_id or ""].inputs
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed == {"prompt", "seed"}
    assert after["prompt"] == "a blue kite over the sea"


async def test_a_remix_meets_the_servers_rules(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    job, _ = await delivered_result(fake, bot, ORIGINAL)
    words = chat_input("settings", {"words": "forbidden fruit"}, subcommand="blocked-words-add",
                       user_id=ids.MOD_USER_ID)
    await dispatch(bot, words)
    submit = modal_submit(f"remix:{job.id}", {"prompt": "a bowl of FORBIDDEN fruit",
                                              "negative_prompt": ""})
    await dispatch(bot, submit, expect_handler=False)
    [refusal] = fake.interaction_callbacks(submit["id"])
    assert refusal["type"] == 4 and refusal["data"]["flags"] & 64
    assert "isn't allowed" in refusal["data"]["content"] or "doesn't allow" in \
        refusal["data"]["content"]
    assert local_server.state.submit_count == 1  # only the original


async def test_a_remix_meets_the_quota_and_the_allowed_channels(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    job, _ = await delivered_result(fake, bot, ORIGINAL)
    await bot.quota_admin.set_limits(ids.GUILD_ID, ids.MOD_USER_ID, {"user_daily": 1})
    over = modal_submit(f"remix:{job.id}", {"prompt": "one more kite"})
    await dispatch(bot, over, expect_handler=False)
    [refusal] = fake.interaction_callbacks(over["id"])
    assert refusal["type"] == 4 and refusal["data"]["flags"] & 64
    assert "Daily limit" in refusal["data"]["content"]

    await bot.quota_admin.clear_limit(ids.GUILD_ID, ids.MOD_USER_ID, "user_daily")
    await bot.guild_settings.add_allowed_channel(ids.GUILD_ID, ids.LOG_CHANNEL_ID)
    elsewhere = modal_submit(f"remix:{job.id}", {"prompt": "a kite in the wrong room"})
    await dispatch(bot, elsewhere, expect_handler=False)
    [refusal] = fake.interaction_callbacks(elsewhere["id"])
    assert refusal["type"] == 4 and refusal["data"]["flags"] & 64
    assert f"<#{ids.LOG_CHANNEL_ID}>" in refusal["data"]["content"]
    assert local_server.state.submit_count == 1  # only the original


async def test_only_the_requester_or_a_moderator_may_remix(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    job, message = await delivered_result(fake, bot, ORIGINAL)
    click = component(f"job:{job.id}:remix", message=message, user_id=ids.OTHER_USER_ID)
    await dispatch(bot, click)
    [refusal] = fake.interaction_callbacks(click["id"])
    assert refusal["type"] == 4 and "not your job" in refusal["data"]["content"]
    forged = modal_submit(f"remix:{job.id}", {"prompt": "mine now"}, user_id=ids.OTHER_USER_ID)
    await dispatch(bot, forged, expect_handler=False)
    assert "not your job" in fake.interaction_callbacks(forged["id"])[0]["data"]["content"]
    moderator = component(f"job:{job.id}:remix", message=message, user_id=ids.MOD_USER_ID)
    await dispatch(bot, moderator)
    assert fake.interaction_callbacks(moderator["id"])[0]["type"] == 9
    assert local_server.state.submit_count == 1


async def test_an_empty_prompt_is_refused_like_the_commands_option(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    job, _ = await delivered_result(fake, bot, ORIGINAL)
    submit = modal_submit(f"remix:{job.id}", {"prompt": "   "}, user_id=ids.USER_ID)
    await dispatch(bot, submit, expect_handler=False)
    [refusal] = fake.interaction_callbacks(submit["id"])
    assert refusal["type"] == 4 and refusal["data"]["flags"] & 64
    assert local_server.state.submit_count == 1


async def test_a_modal_opened_before_a_restart_still_works(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    async with ideogram_bot(fake, local_server, db) as first:
        job, message = await delivered_result(fake, first, ORIGINAL)
        click = component(f"job:{job.id}:remix", message=message)
        await dispatch(first, click)
    async with ideogram_bot(fake, local_server, db) as second:
        submit = modal_submit(f"remix:{job.id}", {"prompt": "after the restart"})
        await dispatch(second, submit, expect_handler=False)
        remix = await wait_delivered(second, newest_only=True)
    assert local_server.state.jobs[remix.request_id or ""].inputs["prompt"] == "after the restart"
