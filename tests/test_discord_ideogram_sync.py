"""/ideogram on the Ideogram-compatible synchronous API, end to end: real
discord.py dispatch, recorded Discord HTTP, the local server's /ideogram/generate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, load_settings
from bot.inputs import IDEOGRAM_GENERATE_MODEL
from bot.jobs import JobStatus
from bot.localserver.app import MAGIC_SUFFIX, LocalRunComfyServer
from bot.tracker import SYNC_INTERRUPTED
from cogs.core.bot import IdeogramBot
from cogs.core.services import build_services
from tests.harness import (
    FakeDiscord,
    attachment_option,
    chat_input,
    component,
    dispatch,
    eventually,
    ids,
    png_bytes,
)
from tests.helpers import (
    custom_ids,
    delivered,
    final_edit,
    ideogram_bot,
    wait_delivered,
    wait_for_job,
)


@pytest.fixture
async def bot(fake: FakeDiscord, local_server: LocalRunComfyServer,
              tmp_path: Path) -> AsyncIterator[IdeogramBot]:
    """PROVIDER=ideogram, with RunComfy configured too."""
    async with ideogram_bot(fake, local_server, tmp_path / "bot.db", ideogram=True,
                            default_provider="ideogram") as b:
        yield b


async def usage(bot: IdeogramBot) -> tuple[int, int]:
    snapshot = await bot.quota.snapshot(ids.GUILD_ID, ids.USER_ID)
    return snapshot.usage.user_day, snapshot.usage.in_flight


def generated(server: LocalRunComfyServer) -> list[dict[str, Any]]:
    return [j.inputs for j in server.state.jobs.values() if j.model == IDEOGRAM_GENERATE_MODEL]


async def test_full_life_on_the_synchronous_provider(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload = chat_input("ideogram", {"prompt": "a tiny robot watering a bonsai",
                                      "style": "anime", "aspect_ratio": "16:9", "seed": 1234,
                                      "model": "V_2_TURBO", "color_palette": "EMBER"})
    await dispatch(bot, payload)
    job = await wait_delivered(bot)

    assert fake.interaction_callbacks(payload["id"]) == [{"type": 5}]
    assert job.provider == "ideogram" and job.model == IDEOGRAM_GENERATE_MODEL
    assert job.status is JobStatus.COMPLETED
    assert generated(local_server) == [{
        "prompt": "a tiny robot watering a bonsai", "aspect_ratio": "ASPECT_16_9",
        "model": "V_2_TURBO", "magic_prompt_option": "ON", "seed": 1234,
        "style_type": "ANIME", "color_palette": {"name": "EMBER"}}]
    assert local_server.state.submit_count == 0  # RunComfy was not asked
    assert local_server.state.ideogram_auth == ["bearer"]

    edits = fake.edits_of_original(payload["token"])
    contents = [e.json.get("content", "") for e in edits]
    queued = next(i for i, c in enumerate(contents) if c.startswith("⏳ Queued"))
    running = next(i for i, c in enumerate(contents) if c.startswith("🎨 Making the image"))
    assert queued < running < len(edits) - 1, contents
    assert custom_ids(edits[queued].json) == [f"job:{job.id}:cancel", f"job:{job.id}:info"]
    final = final_edit(edits)
    assert final is edits[-1] and final.json["content"].startswith("✅ Done")
    [server_job] = [j for j in local_server.state.jobs.values()]
    assert final.files[0].data == server_job.image_bytes
    assert final.files[0].filename == f"ideogram-{job.short_id}.png"
    embed = final.json["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["title"] == "Ideogram 2.0 Turbo"
    assert fields["Style"] == "anime" and fields["Colour palette"] == "EMBER"
    assert fields["Seed"] == "`1234`" and "Time taken" in fields
    assert IDEOGRAM_GENERATE_MODEL in embed["footer"]["text"]
    assert job.revised_prompt == "a tiny robot watering a bonsai" + MAGIC_SUFFIX
    assert await usage(bot) == (1, 0)

    # Info shows every parameter and the prompt the provider actually used.
    info = component(f"job:{job.id}:info", user_id=ids.USER_ID)
    await dispatch(bot, info)
    [callback] = fake.interaction_callbacks(info["id"])
    assert callback["type"] == 4 and callback["data"]["flags"] & 64
    info_embed = callback["data"]["embeds"][0]
    info_fields = {f["name"]: f["value"] for f in info_embed["fields"]}
    assert info_fields["Prompt as the image service used it"] == job.revised_prompt
    # ... under the synchronous API's own names, as it received them.
    sent = info_embed["description"]
    assert "**model**: V\\_2\\_TURBO" in sent and "**style_type**: ANIME" in sent
    assert "**aspect_ratio**: ASPECT\\_16\\_9" in sent and "**magic_prompt_option**: ON" in sent
    assert '**color_palette**: {"name"\\: "EMBER"}' in sent
    assert info_fields["Provider"] == "ideogram"

    # Reroll: the same options on the same provider, a new seed.
    reroll = component(f"job:{job.id}:reroll", user_id=ids.USER_ID)
    await dispatch(bot, reroll)
    again = await wait_for_job(bot, lambda j: j.id != job.id and delivered(j), user_id=ids.USER_ID)
    assert again.provider == "ideogram" and again.seed != job.seed
    assert {k: v for k, v in again.inputs.items() if k != "seed"} == {
        k: v for k, v in job.inputs.items() if k != "seed"}
    assert len(generated(local_server)) == 2


async def test_the_servers_setting_picks_the_provider(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path) -> None:
    async with ideogram_bot(fake, local_server, tmp_path / "bot.db", ideogram=True) as bot:
        setting = chat_input("settings", {"provider": "ideogram"}, subcommand="provider",
                             user_id=ids.MOD_USER_ID)
        await dispatch(bot, setting)
        [answer] = fake.interaction_callbacks(setting["id"])
        assert "ideogram" in answer["data"]["content"] and "RunComfy" in answer["data"]["content"]
        await dispatch(bot, chat_input("ideogram", {"prompt": "a fox", "model": "V_1"}))
        first = await wait_delivered(bot)
        assert first.provider == "ideogram" and first.inputs["model"] == "V_1"
        assert first.status is JobStatus.COMPLETED and local_server.state.submit_count == 0

        back = chat_input("settings", {"provider": "runcomfy"}, subcommand="provider",
                          user_id=ids.MOD_USER_ID)
        await dispatch(bot, back)
        await dispatch(bot, chat_input("ideogram", {"prompt": "a badger"}))
        second = await wait_for_job(bot, lambda j: j.id != first.id and delivered(j),
                                    user_id=ids.USER_ID)
        assert second.provider == "runcomfy" and second.model == "ideogram/ideogram-v2/generate"
        assert local_server.state.submit_count == 1 and len(generated(local_server)) == 1


async def test_unsafe_image_is_withheld_and_not_counted(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload = chat_input("ideogram", {"prompt": "something [unsafe]"})
    await dispatch(bot, payload)
    job = await wait_delivered(bot)
    assert job.status is JobStatus.FAILED and job.result_urls == []
    last = fake.edits_of_original(payload["token"])[-1]
    assert last.json["content"].startswith("❌ Failed — The image service's safety filter "
                                           "held this image back")
    assert not last.files
    assert not any(r.files for r in fake.edits_of_original(payload["token"]))
    assert await usage(bot) == (0, 0)
    assert job.revised_prompt  # still known, for Info


async def test_the_seeds_500_envelope_is_a_clear_failure(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    payload = chat_input("ideogram", {"prompt": "explode [fail]"})
    await dispatch(bot, payload)
    job = await wait_delivered(bot)
    assert job.status is JobStatus.FAILED
    last = fake.edits_of_original(payload["token"])[-1]
    assert last.json["content"] == ("❌ Failed — The image service failed \\(error 500\\). "
                                    "Please try again shortly.")
    assert await usage(bot) == (0, 0)


@pytest.mark.parametrize(("provider", "options", "expected"), [
    ("runcomfy", {"model": "V_2"}, "`model` isn't available here: this server's `/ideogram` "
                                   "runs on RunComfy"),
    ("runcomfy", {"color_palette": "EMBER"}, "`color_palette` isn't available here"),
    ("runcomfy", {"model": "V_1", "color_palette": "MAGIC"}, "`model` and `color_palette`"),
    ("ideogram", {"model": "V_1", "style": "anime"}, "Model V_1 has no styles"),
    ("ideogram", {"model": "V_1_TURBO", "color_palette": "EMBER"},
     "Model V_1_TURBO has no colour palettes"),
    ("ideogram", {"model": "V_3"}, "not a valid model"),
])
async def test_unsupported_options_are_refused_privately_before_anything(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path, provider: str,
        options: dict[str, Any], expected: str) -> None:
    async with ideogram_bot(fake, local_server, tmp_path / "bot.db", ideogram=True,
                            default_provider=provider) as bot:
        payload = chat_input("ideogram", {"prompt": "a fox", **options})
        await dispatch(bot, payload)
        [callback] = fake.interaction_callbacks(payload["id"])
        assert callback["type"] == 4 and callback["data"]["flags"] & 64
        assert expected in callback["data"]["content"], callback["data"]["content"]
        assert local_server.state.submit_count == 0
        assert local_server.state.request_counts["generate"] == 0
        assert await bot.store.jobs_for_user(ids.GUILD_ID, ids.USER_ID) == []
        assert await usage(bot) == (0, 0)


async def test_restart_while_in_flight_fails_the_job_and_never_resends(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path) -> None:
    local_server.state.config.run_seconds = 3.0
    db = tmp_path / "bot.db"
    async with ideogram_bot(fake, local_server, db, ideogram=True,
                            default_provider="ideogram") as first:
        payload = chat_input("ideogram", {"prompt": "a long one"})
        await dispatch(first, payload)
        job = await wait_for_job(
            first, lambda j: j.status is JobStatus.RUNNING and j.message_id, user_id=ids.USER_ID)
        await eventually(lambda: local_server.state.request_counts["generate"] == 1,
                         what="the call on the wire")
        assert await usage(first) == (1, 1)
    assert local_server.state.request_counts["generate"] == 1

    async with ideogram_bot(fake, local_server, db, ideogram=True,
                            default_provider="ideogram") as second:
        done = await wait_delivered(second)
        assert done.id == job.id and done.status is JobStatus.FAILED
        assert done.error == SYNC_INTERRUPTED
        # Into its own reply, through the interaction token sealed in the job row.
        token = payload["token"]
        edits = fake.calls("PATCH", rf"^/webhooks/\d+/{token}/messages/{job.message_id}$")
        assert edits and edits[-1].json["content"].startswith("❌ Failed — The bot restarted")
        assert not fake.calls("POST", rf"^/channels/{ids.CHANNEL_ID}/messages$")
        assert await usage(second) == (0, 0)
    assert local_server.state.request_counts["generate"] == 1


async def test_without_runcomfy_reframe_says_so_and_ideogram_still_works(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path) -> None:
    async with ideogram_bot(fake, local_server, tmp_path / "bot.db", ideogram=True,
                            default_provider="ideogram", runcomfy=False) as bot:
        option = attachment_option("image", filename="cat.png", content_type="image/png",
                                   data=png_bytes(64, 48))
        payload = chat_input("reframe", [option])
        await dispatch(bot, payload)
        [callback] = fake.interaction_callbacks(payload["id"])
        assert callback["type"] == 4 and callback["data"]["flags"] & 64
        assert "`/reframe` isn't available on this bot" in callback["data"]["content"]
        assert "RUNCOMFY_API_TOKEN" in callback["data"]["content"]

        setting = chat_input("settings", {"provider": "runcomfy"}, subcommand="provider",
                             user_id=ids.MOD_USER_ID)
        await dispatch(bot, setting)
        [answer] = fake.interaction_callbacks(setting["id"])
        assert "runcomfy provider is not configured" in answer["data"]["content"]

        answer_to = chat_input("ideogram", {"prompt": "a fox"})
        await dispatch(bot, answer_to)
        job = await wait_delivered(bot)
        assert job.status is JobStatus.COMPLETED and job.provider == "ideogram"
        # The Reframe button says so before its picker opens: nothing to pick in vain.
        click = component(f"job:{job.id}:reframe", message=fake.original_message(
            answer_to["token"]))
        await dispatch(bot, click)
        [callback] = fake.interaction_callbacks(click["id"])
        assert callback["type"] == 4 and "isn't available" in callback["data"]["content"]
    assert local_server.state.submit_count == 0


async def test_build_services_for_provider_ideogram(local_server: LocalRunComfyServer,
                                                   tmp_path: Path) -> None:
    settings = load_settings(None, DISCORD_TOKEN="t", DATABASE_URL=f"sqlite:///{tmp_path}/s.db",
                             PROVIDER="ideogram", IDEOGRAM_BASE_URL=local_server.base_url,
                             IDEOGRAM_API_KEY="k-123456", IDEOGRAM_AUTH="api-key",
                             IDEOGRAM_GENERATE_PATH="/ideogram/generate")
    services = await build_services(settings)
    try:
        # No RunComfy token with PROVIDER=ideogram: no local RunComfy preview either.
        assert services.local_server is None and set(services.providers) == {"ideogram"}
        assert services.default_provider_key == "ideogram"
        assert "k-123456" not in repr(services.providers["ideogram"])
    finally:
        await services.aclose()
    with pytest.raises(ConfigError, match=r"^IDEOGRAM_BASE_URL is missing"):
        load_settings(None, PROVIDER="ideogram")


async def test_reroll_and_remix_follow_the_servers_provider_of_now(
        fake: FakeDiscord, local_server: LocalRunComfyServer, bot: IdeogramBot) -> None:
    from tests.harness import modal_submit

    async def result(options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        payload = chat_input("ideogram", options)
        await dispatch(bot, payload)
        job = await wait_delivered(bot, newest_only=True)
        message = fake.original_message(payload["token"])
        assert job.provider == "ideogram" and message is not None
        return job, message

    plain, plain_message = await result({"prompt": "a tiny robot", "style": "anime"})
    tinted, tinted_message = await result({"prompt": "a tiny robot", "color_palette": "EMBER"})
    await dispatch(bot, chat_input("settings", {"provider": "runcomfy"}, subcommand="provider",
                                   user_id=ids.MOD_USER_ID))

    await dispatch(bot, component(f"job:{plain.id}:reroll", message=plain_message))
    rerolled = await wait_delivered(bot, newest_only=True)
    assert rerolled.provider == "runcomfy" and rerolled.model == "ideogram/ideogram-v2/generate"
    assert rerolled.inputs["style"] == "anime" and rerolled.seed != plain.seed
    await dispatch(bot, modal_submit(f"remix:{plain.id}", {"prompt": "a big robot"}),
                   expect_handler=False)
    remixed = await wait_delivered(bot, newest_only=True)
    assert remixed.provider == "runcomfy" and remixed.inputs["prompt"] == "a big robot"

    # A palette RunComfy does not have: refused, saying why, rather than silently dropped.
    click = component(f"job:{tinted.id}:reroll", message=tinted_message)
    await dispatch(bot, click)
    [answer] = fake.interaction_callbacks(click["id"])
    assert answer["type"] == 4 and answer["data"]["flags"] & 64
    assert "EMBER" in answer["data"]["content"] and "RunComfy" in answer["data"]["content"]
    # Remix too, before its form opens: nothing typed is lost to the refusal.
    remix = component(f"job:{tinted.id}:remix", message=tinted_message)
    await dispatch(bot, remix)
    [answer] = fake.interaction_callbacks(remix["id"])
    assert answer["type"] == 4 and "EMBER" in answer["data"]["content"]

    # And back: a RunComfy result rerolled on the ideogram provider.
    await dispatch(bot, chat_input("settings", {"provider": "ideogram"}, subcommand="provider",
                                   user_id=ids.MOD_USER_ID))
    runcomfy_message = fake.message(rerolled.message_id or 0)
    await dispatch(bot, component(f"job:{rerolled.id}:reroll", message=runcomfy_message))
    back = await wait_delivered(bot, newest_only=True)
    assert back.provider == "ideogram" and back.inputs["style"] == "anime"
