"""/preset and /ideogram preset: over real dispatch."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.localserver.app import LocalRunComfyServer
from bot.presets import MAX_PRESETS
from cogs.core.bot import IdeogramBot
from tests.harness import (
    FakeDiscord,
    autocomplete,
    chat_input,
    component,
    dispatch,
    ids,
    modal_submit,
)
from tests.helpers import answer, callback, db_rows, wait_delivered


def preset(sub: str, options: dict[str, Any], user_id: int = ids.MOD_USER_ID) -> dict[str, Any]:
    return chat_input("preset", options, subcommand=sub, user_id=user_id)


def private_text(answer: dict[str, Any]) -> str:
    assert answer["type"] == 4 and answer["data"]["flags"] & 64, answer
    data = answer["data"]
    return str(data.get("content", "")) + str(data.get("embeds", ""))


async def test_save_list_use_and_the_members_option_wins(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer, db: Path) -> None:
    await bot.guild_settings.update(ids.GUILD_ID, log_channel_id=ids.LOG_CHANNEL_ID)
    saved = private_text(await answer(fake, bot, preset("save", {
        "name": "Brand Kit", "style": "design", "aspect_ratio": "16:9",
        "negative_prompt": "blurry", "prompt_suffix": "flat colours, our logo top left"})))
    assert "Saved the preset" in saved and "Brand Kit" in saved
    listed = private_text(await answer(fake, bot, preset("list", {}, user_id=ids.USER_ID)))
    assert "Brand Kit" in listed
    shown = private_text(await answer(fake, bot, preset("show", {"name": "brand kit"},
                                                        user_id=ids.USER_ID)))
    assert "flat colours, our logo top left" in shown

    run = chat_input("ideogram", {"prompt": "a summer poster", "preset": "brand kit",
                                  "aspect_ratio": "1:1"})
    await dispatch(bot, run)
    job = await wait_delivered(bot)
    body = local_server.state.jobs[job.request_id or ""].inputs
    assert body["prompt"] == "a summer poster, flat colours, our logo top left"
    assert body["style"] == "design" and body["negative_prompt"] == "blurry"
    assert body["aspect_ratio"] == "1:1"  # the member's own option wins
    assert job.preset == "Brand Kit"

    # Info names the preset used.
    message = fake.original_message(run["token"])
    assert message is not None
    info = component(f"job:{job.id}:info", message=message)
    await dispatch(bot, info)
    assert "Brand Kit" in str(callback(fake, info)["data"]["embeds"])
    # So does /history.
    history = private_text(await answer(fake, bot, chat_input("history", {})))
    assert "preset Brand Kit" in history
    # Recorded, and posted to the moderation log.
    assert db_rows(db, "SELECT action, actor_id FROM settings_audit") == [
        ("preset:save", ids.MOD_USER_ID)]
    posts = fake.calls("POST", rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$")
    assert posts and "Brand Kit" in posts[-1].json["content"]
    # A Remix keeps the original's options, so it names the same preset.
    await dispatch(bot, modal_submit(f"remix:{job.id}", {"prompt": "an autumn poster"}),
                   expect_handler=False)
    remix = await wait_delivered(bot, newest_only=True)
    assert remix.id != job.id and remix.preset == "Brand Kit"
    assert local_server.state.jobs[remix.request_id or ""].inputs["style"] == "design"


async def test_an_unknown_preset_is_refused(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload = chat_input("ideogram", {"prompt": "a poster", "preset": "nope"})
    text = private_text(await answer(fake, bot, payload))
    assert "no preset named `nope`" in text
    assert local_server.state.submit_count == 0


async def test_members_cannot_save_or_delete(fake: FakeDiscord, bot: IdeogramBot,
                                             db: Path) -> None:
    text = private_text(await answer(fake, bot, preset("save", {"name": "mine", "style": "anime"},
                                                       user_id=ids.USER_ID)))
    assert "moderators" in text.lower()
    assert db_rows(db, "SELECT count(*) FROM presets") == [(0,)]


async def test_the_twenty_sixth_preset_is_refused_and_a_name_is_replaced(
        fake: FakeDiscord, bot: IdeogramBot, db: Path) -> None:
    await bot.guild_settings.update(ids.GUILD_ID, log_channel_id=ids.LOG_CHANNEL_ID)
    for number in range(MAX_PRESETS):
        private_text(await answer(fake, bot, preset("save", {"name": f"p{number}",
                                                              "style": "anime"})))
    replaced = private_text(await answer(fake, bot, preset("save", {"name": "P3",
                                                                     "style": "render_3D"})))
    assert "Replaced" in replaced
    refused = private_text(await answer(fake, bot, preset("save", {"name": "one more",
                                                                    "style": "anime"})))
    assert f"already has {MAX_PRESETS} presets" in refused
    assert db_rows(db, "SELECT count(*) FROM presets") == [(MAX_PRESETS,)]
    assert db_rows(db, "SELECT style FROM presets WHERE name = 'p3'") == [("render_3D",)]

    deleted = private_text(await answer(fake, bot, preset("delete", {"name": "p0"})))
    assert "Deleted" in deleted
    assert db_rows(db, "SELECT count(*) FROM presets") == [(MAX_PRESETS - 1,)]
    # Replacing and deleting are posted to the moderation log, as saving is.
    posts = [p.json["content"] for p in fake.calls(
        "POST", rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$")]
    assert len(posts) == MAX_PRESETS + 2
    assert "P3" in posts[-2] and "p0" in posts[-1] and posts[-2] != posts[-1]


async def test_autocomplete_offers_the_servers_presets(fake: FakeDiscord,
                                                       bot: IdeogramBot) -> None:
    for name in ("Summer sale", "Winter sale", "Logo"):
        private_text(await answer(fake, bot, preset("save", {"name": name,
                                                              "style": "design"})))
    payload = autocomplete("ideogram", {"prompt": "x", "preset": "sale"}, "preset")
    await dispatch(bot, payload)
    [answered] = fake.interaction_callbacks(payload["id"])
    assert answered["type"] == 8
    assert [c["name"] for c in answered["data"]["choices"]] == ["Summer sale", "Winter sale"]


async def test_a_palette_preset_is_refused_on_a_runcomfy_server(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    refused = private_text(await answer(fake, bot, preset("save", {
        "name": "bright", "color_palette": "EMBER"})))
    assert refused == ("`color_palette` isn't available here: this server's `/ideogram` runs "
                       "on RunComfy. Leave it out, or change `/settings provider` first.")
    assert bot.guild_settings.presets(ids.GUILD_ID) == []


async def test_a_suffix_past_the_prompt_limit_is_refused(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    private_text(await answer(fake, bot, preset("save", {"name": "long",
                                                         "prompt_suffix": "x" * 500})))
    payload = chat_input("ideogram", {"prompt": "y" * 1600, "preset": "long"})
    text = private_text(await answer(fake, bot, payload))
    assert "2,000" in text
    assert local_server.state.submit_count == 0


async def test_two_moderators_deleting_one_preset_at_once_delete_it_once(
        fake: FakeDiscord, bot: IdeogramBot, db: Path) -> None:
    await bot.guild_settings.update(ids.GUILD_ID, log_channel_id=ids.LOG_CHANNEL_ID)
    await answer(fake, bot, preset("save", {"name": "Brand", "style": "anime"}))
    log_posts = rf"^/channels/{ids.LOG_CHANNEL_ID}/messages$"
    before = len(fake.calls("POST", log_posts))
    one = preset("delete", {"name": "Brand"})
    two = preset("delete", {"name": "brand"}, user_id=ids.OWNER_USER_ID)
    await asyncio.gather(dispatch(bot, one), dispatch(bot, two))
    texts = sorted(private_text(callback(fake, p)) for p in (one, two))
    assert texts[0].startswith("Deleted the preset **Brand**")
    assert "no preset named `brand`" in texts[1]
    await bot.mod_log.wait_idle()
    assert len(fake.calls("POST", log_posts)) - before == 1
    assert db_rows(db, "SELECT count(*) FROM settings_audit WHERE action = 'preset:delete'"
                   ) == [(1,)]


async def test_a_preset_whose_text_the_server_blocks_or_whose_name_breaks_code_is_refused(
        fake: FakeDiscord, bot: IdeogramBot, db: Path) -> None:
    """Every prompt such a preset filled would be refused, and no member could tell why;
    a backtick would break every message that shows the name as code."""
    await bot.guild_settings.add_blocked_words(ids.GUILD_ID, ["teal"])
    blocked = private_text(await answer(fake, bot, preset("save", {
        "name": "Brand", "prompt_suffix": "flat vector, Teal"})))
    assert "“teal”, which this server blocks" in blocked and "blocked-words-remove" in blocked
    tick = private_text(await answer(fake, bot, preset("save", {"name": "a`b", "style": "anime"})))
    assert "backtick" in tick
    assert db_rows(db, "SELECT count(*) FROM presets") == [(0,)]
    unknown = await answer(fake, bot, chat_input("ideogram", {"prompt": "p", "preset": "x`y"}))
    assert "named `x'y`" in private_text(unknown)

    # A phrase blocked after the preset was saved: the refusal names the preset.
    private_text(await answer(fake, bot, preset("save", {"name": "Sea",
                                                          "prompt_suffix": "deep blue"})))
    await bot.guild_settings.add_blocked_words(ids.GUILD_ID, ["deep blue"])
    used = await answer(fake, bot, chat_input("ideogram", {"prompt": "a boat", "preset": "sea"}))
    assert "The preset **Sea** has a word or phrase" in private_text(used)
