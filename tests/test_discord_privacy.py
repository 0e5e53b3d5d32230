"""Privacy between members, over real discord.py dispatch: /queue hides what a member
cannot see, deleted jobs stay deleted, /job obeys the server's settings, user text cannot
render as a masked link, reframes take only Discord attachments, and a failed download
shows one generic text."""

from __future__ import annotations

import re
import time
from typing import Any

import discord
import pytest

from bot.jobs import JobRecord, JobStatus, new_job_id
from bot.localserver.app import LocalRunComfyServer
from bot.net import AllowList
from cogs.core.bot import IdeogramBot
from tests.harness import (
    FakeDiscord,
    chat_input,
    component,
    dispatch,
    ids,
    message_context,
    objects,
    png_bytes,
)
from tests.helpers import delivered, wait_for_job

SECRET_CHANNEL_ID = 1300000000000000009
VIEW = str(discord.Permissions(view_channel=True).value)
MASKED = "[free nitro](https://evil.example)"
#: A masked link whose brackets and parenthesis are not escaped by a backslash.
LIVE_LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\((?!\\)")


@pytest.fixture
def fake(fake_discord: FakeDiscord) -> FakeDiscord:
    """The default guild plus #secret, which only moderators can view."""
    guild = fake_discord.guilds[ids.GUILD_ID]
    secret = objects.channel_payload(SECRET_CHANNEL_ID, name="secret", position=2)
    secret["permission_overwrites"] = [
        {"id": str(ids.GUILD_ID), "type": 0, "allow": "0", "deny": VIEW},
        {"id": str(ids.MOD_ROLE_ID), "type": 0, "allow": VIEW, "deny": "0"},
    ]
    guild["channels"].append(secret)
    return fake_discord


def stored(prompt: str, *, user_id: int = ids.USER_ID, channel_id: int = ids.CHANNEL_ID,
           **overrides: Any) -> JobRecord:
    values: dict[str, Any] = {
        "id": new_job_id(), "provider": "runcomfy", "model": "ideogram/ideogram-v2/generate",
        "guild_id": ids.GUILD_ID, "channel_id": channel_id, "user_id": user_id,
        "inputs": {"prompt": prompt, "seed": 5}, "seed": 5, "status": JobStatus.QUEUED,
        "request_id": "req-" + new_job_id()[:8], "created_at": time.time(),
    }
    values.update(overrides)
    return JobRecord(**values)


def answer(fake: FakeDiscord, payload: dict[str, Any]) -> dict[str, Any]:
    [callback] = fake.interaction_callbacks(payload["id"])
    return callback


async def queue_seen_by(fake: FakeDiscord, bot: IdeogramBot, user_id: int) -> str:
    payload = chat_input("queue", {}, user_id=user_id)
    await dispatch(bot, payload)
    return str(answer(fake, payload)["data"]["embeds"][0]["description"])


async def test_queue_shows_prompts_only_where_the_member_can_look(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    await bot.store.insert_job(stored("a public kite", user_id=ids.OTHER_USER_ID))
    await bot.store.insert_job(stored("the secret plans", user_id=ids.OTHER_USER_ID,
                                      channel_id=SECRET_CHANNEL_ID))
    await bot.store.insert_job(stored("my own secret", channel_id=SECRET_CHANNEL_ID))

    member = await queue_seen_by(fake, bot, ids.USER_ID)
    assert "a public kite" in member and "my own secret" in member
    assert "the secret plans" not in member
    assert member.count("a job in another channel") == 1

    moderator = await queue_seen_by(fake, bot, ids.MOD_USER_ID)
    assert "the secret plans" in moderator and "another channel" not in moderator


async def test_a_deleted_jobs_info_reroll_and_recall_are_refused(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    job = stored("gone for good", status=JobStatus.COMPLETED, message_id=4242,
                 deleted_at=time.time())
    await bot.store.insert_job(job)
    buttons = objects.action_row(objects.button(f"job:{job.id}:info"),
                                 objects.button(f"job:{job.id}:reroll"))
    message = objects.message_payload("result", author=objects.user_payload(ids.BOT_USER_ID),
                                      message_id=4242, components=[buttons])
    for action in ("info", "reroll"):
        payload = component(f"job:{job.id}:{action}", message=message)
        await dispatch(bot, payload)
        refusal = answer(fake, payload)
        assert refusal["type"] == 4 and refusal["data"]["flags"] & 64
        assert "was deleted" in refusal["data"]["content"]
    recall = chat_input("job", {"id": job.short_id})
    await dispatch(bot, recall)
    assert "was deleted" in answer(fake, recall)["data"]["content"]
    assert len(await bot.store.jobs_for_guild(ids.GUILD_ID, limit=5)) == 1  # no reroll


async def test_job_recall_obeys_the_channel_list_and_the_command_switch(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    job = stored("a recalled moon", status=JobStatus.COMPLETED)
    await bot.store.insert_job(job)
    await bot.guild_settings.add_allowed_channel(ids.GUILD_ID, ids.LOG_CHANNEL_ID)
    here = chat_input("job", {"id": job.short_id})
    await dispatch(bot, here)
    assert "can't be made in this channel" in answer(fake, here)["data"]["content"]

    await bot.guild_settings.remove_allowed_channel(ids.GUILD_ID, ids.LOG_CHANNEL_ID)
    await bot.guild_settings.update(ids.GUILD_ID, ideogram_enabled=False)
    switched_off = chat_input("job", {"id": job.short_id})
    await dispatch(bot, switched_off)
    assert "turned off" in answer(fake, switched_off)["data"]["content"]


async def test_a_masked_link_in_a_prompt_is_shown_as_typed(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    prompt = f"{MASKED} `{MASKED}` **bold**"
    payload = chat_input("ideogram", {"prompt": prompt,
                                      "negative_prompt": f"no {MASKED}"})
    await dispatch(bot, payload)
    job = await wait_for_job(bot, delivered, user_id=ids.USER_ID)
    embed = fake.edits_of_original(payload["token"])[-1].json["embeds"][0]
    negative = {f["name"]: f["value"] for f in embed["fields"]}["Negative prompt"]
    info = component(f"job:{job.id}:info", message=fake.original_message(payload["token"]))
    await dispatch(bot, info)
    history = chat_input("history", {})
    await dispatch(bot, history)
    texts = [embed["description"], negative,
             answer(fake, info)["data"]["embeds"][0]["description"],
             # /history's own "[jump](…)" link is the bot's: look at the prompt line.
             answer(fake, history)["data"]["embeds"][0]["description"].split("\n> ")[1]]
    for text in texts:
        assert "free nitro" in text and not LIVE_LINK.search(text), text
    # One helper: the result embed and /history escape the prompt the same way.
    assert embed["description"].startswith(r"\[free nitro\]\(https\://evil.example\)")
    assert r"\[free nitro\]\(https\://evil.example\)" in texts[3]


async def test_reframe_menu_and_button_take_only_discord_attachments(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    embed_only = objects.message_payload("look", embeds=[{"type": "rich", "image": {
        "url": "http://169.254.169.254/latest/meta-data.png"}}])
    menu = message_context("Reframe image", embed_only)
    await dispatch(bot, menu)
    assert "no attached image" in answer(fake, menu)["data"]["content"]

    job = stored("framed", status=JobStatus.COMPLETED, message_id=5151,
                 result_urls=["http://169.254.169.254/x.png"])
    await bot.store.insert_job(job)
    linked = objects.message_payload(
        "too big to attach: [open it](http://169.254.169.254/x.png)",
        author=objects.user_payload(ids.BOT_USER_ID), message_id=5151,
        embeds=[{"type": "rich", "image": {"url": "http://169.254.169.254/x.png"}}],
        components=[objects.action_row(objects.button(f"job:{job.id}:reframe"))])
    click = component(f"job:{job.id}:reframe", message=linked)
    await dispatch(bot, click)
    assert "no image attached" in answer(fake, click)["data"]["content"]

    attached = objects.attachment_payload("cat.png", data=png_bytes(4, 4), content_type="image/png")
    with_image = linked | {"attachments": [attached], "embeds": []}
    click = component(f"job:{job.id}:reframe", message=with_image)
    await dispatch(bot, click)
    assert answer(fake, click)["data"]["components"]  # the picker is offered


async def test_a_refused_download_shows_one_generic_text(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    # The provider's host is no longer allow-listed: its 127.0.0.1 address is refused.
    bot.services.downloads.allow = AllowList.of([fake.url])
    payload = chat_input("ideogram", {"prompt": "an unreachable result"})
    await dispatch(bot, payload)
    await wait_for_job(bot, delivered, user_id=ids.USER_ID)
    final = fake.edits_of_original(payload["token"])[-1]
    content = final.json["content"]
    assert "I could not fetch the image." in content and not final.files
    for leak in ("non-public", "Errno", "HTTP", "Cannot connect", "refused"):
        assert leak not in content


async def test_a_providers_result_url_cannot_write_markdown_in_the_channel(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    hostile = ("http://127.0.0.2/a.png) ⚠️ **Your account is flagged: verify it here** "
               "[discord.com/verify](https://phish.example/login")
    [client] = {id(p): p for p in bot.services.providers.values()}.values()
    real_result = client.result

    async def result(request_id: str, **kwargs: Any) -> Any:
        answer = await real_result(request_id, **kwargs)
        return (dataclasses.replace(answer, image_urls=(hostile,)) if answer.image_urls
                else answer)

    monkeypatch.setattr(client, "result", result)
    payload = chat_input("ideogram", {"prompt": "a cat"})
    await dispatch(bot, payload)
    await wait_for_job(bot, delivered, user_id=ids.USER_ID)
    content = fake.edits_of_original(payload["token"])[-1].json["content"]
    [link] = re.findall(r"\[open it\]\(([^)]*)\)", content)
    assert link.startswith("http://127.0.0.2/a.png%29%20")  # all of it is the link's target
    assert content.endswith(")") and "**Your account" not in content.replace(link, "")
