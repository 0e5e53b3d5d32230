"""/ideogram end to end: real discord.py dispatch, recorded Discord HTTP, local provider."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import discord
import pytest
from PIL import Image

from bot.jobs import JobRecord, JobStatus
from bot.localserver.app import LocalRunComfyServer
from bot.tracker import adoption
from cogs.core.bot import IdeogramBot
from cogs.core.reply_sender import Outgoing
from cogs.core.result_delivery import ResultDelivery
from tests.harness import FakeDiscord, chat_input, dispatch, ids
from tests.helpers import custom_ids, final_edit, queued_and_shown, wait_delivered


async def only_job(bot: IdeogramBot, user_id: int = ids.USER_ID) -> JobRecord:
    jobs = await bot.store.jobs_for_user(ids.GUILD_ID, user_id, limit=5)
    assert len(jobs) == 1, jobs
    return jobs[0]


async def test_ideogram_full_life(fake: FakeDiscord, bot: IdeogramBot,
                                  local_server: LocalRunComfyServer) -> None:
    payload = chat_input("ideogram", {"prompt": "a tiny robot watering a bonsai",
                                      "style": "anime", "aspect_ratio": "16:9", "seed": 1234})
    await dispatch(bot, payload)
    job = delivered = await wait_delivered(bot, (await only_job(bot)).id)

    # The first thing Discord heard was a public deferral.
    assert fake.interaction_callbacks(payload["id"]) == [{"type": 5}]
    first_callback = fake.calls("POST", r"/callback$")[0]
    provider_calls = local_server.state.jobs
    assert list(provider_calls) == [job.request_id]
    sent = provider_calls[job.request_id or ""].inputs
    assert sent == {"prompt": "a tiny robot watering a bonsai", "style": "anime",
                    "aspect_ratio": "16:9", "expand_prompt": True, "seed": 1234}

    edits = fake.edits_of_original(payload["token"])
    assert edits and all(e.index > first_callback.index for e in edits)
    contents = [e.json.get("content", "") for e in edits]
    assert any(c.startswith("⏳ Queued") for c in contents), contents
    assert any(c.startswith("🎨 Making the image") and "<t:" in c for c in contents), contents
    queued = next(e for e in edits if e.json["content"].startswith("⏳ Queued"))
    assert custom_ids(queued.json) == [f"job:{job.id}:cancel", f"job:{job.id}:info"]

    final = final_edit(edits)
    assert final is edits[-1]
    png = local_server.state.jobs[job.request_id or ""].image_bytes
    assert final.files[0].data == png
    assert final.files[0].filename == f"ideogram-{job.short_id}.png"
    with Image.open(io.BytesIO(final.files[0].data)) as img:
        assert img.size == (1344, 768)
    embed = final.json["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["description"] == "a tiny robot watering a bonsai"
    assert fields["Style"] == "anime" and fields["Aspect ratio"] == "16:9"
    assert fields["Seed"] == "`1234`" and "Time taken" in fields
    assert embed["image"]["url"] == f"attachment://ideogram-{job.short_id}.png"
    assert "ideogram/ideogram-v2/generate" in embed["footer"]["text"]
    assert custom_ids(final.json) == [f"job:{job.id}:{a}"
                                      for a in ("reroll", "reframe", "info", "delete", "remix")]
    assert final.json["content"].startswith("✅ Done")

    assert delivered.status is JobStatus.COMPLETED
    assert delivered.message_id is not None
    assert delivered.result_urls and delivered.cost == pytest.approx(0.08)


async def test_omitted_seed_is_random_sent_and_shown(fake: FakeDiscord, bot: IdeogramBot,
                                                     local_server: LocalRunComfyServer) -> None:
    payload = chat_input("ideogram", {"prompt": "a fox"})
    await dispatch(bot, payload)
    job = await wait_delivered(bot, (await only_job(bot)).id)
    sent = local_server.state.jobs[job.request_id or ""].inputs
    assert sent["seed"] == job.seed and 0 <= job.seed <= 2147483647
    final = final_edit(fake.edits_of_original(payload["token"]))
    fields = {f["name"]: f["value"] for f in final.json["embeds"][0]["fields"]}
    assert fields["Seed"] == f"`{job.seed}`"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"prompt": "x" * 2001}, "limit is 2,000"),
        ({"prompt": "   "}, "cannot be empty"),
        ({"prompt": "ok", "seed": -1}, "out of range"),
        ({"prompt": "ok", "seed": 2147483648}, "out of range"),
        ({"prompt": "ok", "style": "photoreal"}, "not a valid style"),
        ({"prompt": "ok", "aspect_ratio": "5:4"}, "not a valid aspect_ratio"),
        ({"prompt": "ok", "negative_prompt": "n" * 1001}, "limit is 1,000"),
    ],
)
async def test_invalid_options_are_refused_privately_before_anything(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        options: dict[str, Any], expected: str) -> None:
    payload = chat_input("ideogram", options)
    await dispatch(bot, payload)
    [callback] = fake.interaction_callbacks(payload["id"])
    assert callback["type"] == 4
    assert callback["data"]["flags"] & 64
    assert expected in callback["data"]["content"]
    assert local_server.state.submit_count == 0
    assert await bot.store.jobs_for_user(ids.GUILD_ID, ids.USER_ID) == []


async def test_direct_message_is_refused(fake: FakeDiscord, bot: IdeogramBot,
                                         local_server: LocalRunComfyServer) -> None:
    payload = chat_input("ideogram", {"prompt": "hi"}, guild_id=None)
    await dispatch(bot, payload)
    [callback] = fake.interaction_callbacks(payload["id"])
    assert callback["type"] == 4 and callback["data"]["flags"] & 64
    assert local_server.state.submit_count == 0


async def test_provider_refusal_is_shown_on_the_reply(fake: FakeDiscord, bot: IdeogramBot,
                                                      local_server: LocalRunComfyServer) -> None:
    local_server.state.faults.insufficient_balance(1)
    payload = chat_input("ideogram", {"prompt": "a fox"})
    await dispatch(bot, payload)
    job = await wait_delivered(bot, (await only_job(bot)).id)
    assert job.status is JobStatus.FAILED
    last = fake.edits_of_original(payload["token"])[-1]
    assert last.json["content"].startswith("❌ Failed") and "credit" in last.json["content"]


async def test_failed_job_edits_the_reply_with_the_reason(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    payload = chat_input("ideogram", {"prompt": "explode [fail]"})
    await dispatch(bot, payload)
    job = await wait_delivered(bot, (await only_job(bot)).id)
    assert job.status is JobStatus.FAILED
    last = fake.edits_of_original(payload["token"])[-1]
    assert "could not make this image" in last.json["content"]
    assert "simulated failure" not in last.json["content"]  # raw provider text: log only
    assert not last.files


async def test_oversized_image_is_linked_not_attached(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    payload = chat_input("ideogram", {"prompt": "big"}, attachment_size_limit=2000)
    await dispatch(bot, payload)
    job = await wait_delivered(bot, (await only_job(bot)).id)
    last = fake.edits_of_original(payload["token"])[-1]
    assert not last.files
    assert "upload limit" in last.json["content"] and job.result_urls[0] in last.json["content"]
    # No Reframe: it starts from the image attached to the message, and there is none.
    assert [c["custom_id"] for row in last.json["components"] for c in row["components"]] == [
        f"job:{job.id}:{action}" for action in ("reroll", "info", "delete", "remix")]


async def test_a_result_that_cannot_be_prepared_still_links_its_image(
        fake: FakeDiscord, bot: IdeogramBot, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_args: object) -> Outgoing:
        raise RuntimeError("a bug while preparing the result")

    monkeypatch.setattr(ResultDelivery, "_final_message", broken)
    payload = chat_input("ideogram", {"prompt": "unlucky"})
    await dispatch(bot, payload)
    job = await wait_delivered(bot, (await only_job(bot)).id)
    last = fake.edits_of_original(payload["token"])[-1]
    assert not last.files and job.result_urls[0] in last.json["content"]


async def test_expired_token_falls_back_to_the_channel(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    payload = await queued_and_shown(fake, bot, local_server, {"prompt": "patience"})
    fake.expire_interaction(payload["token"])
    job = await wait_delivered(bot, (await only_job(bot)).id)
    channel_edits = fake.calls("PATCH", rf"^/channels/{ids.CHANNEL_ID}/messages/{job.message_id}$")
    assert channel_edits, fake.summary()
    final = channel_edits[-1]
    assert final.auth_scheme == "Bot"
    assert final.files and final.files[0].data == (
        local_server.state.jobs[job.request_id or ""].image_bytes)
    message = fake.message(job.message_id or 0)
    assert message is not None and message["attachments"]


async def test_without_runcomfy_token_the_local_preview_provider_serves(
        fake: FakeDiscord, tmp_path: Path) -> None:
    from bot.config import load_settings
    from cogs.core.services import build_services
    from tests.harness import running_bot

    settings = load_settings(None, DISCORD_TOKEN="t", DATABASE_URL=f"sqlite:///{tmp_path}/l.db",
                             LOCAL_PROVIDER_QUEUE_SECONDS=0.1, LOCAL_PROVIDER_RUN_SECONDS=0.1)
    services = await build_services(settings)
    try:
        assert services.default_provider_key == "local" and services.local_server is not None
        assert services.local_server.base_url.startswith("http://127.0.0.1:")
        local_bot = IdeogramBot(settings, services, min_edit_interval=0.0)
        async with running_bot(fake, local_bot):
            payload = chat_input("ideogram", {"prompt": "try before you buy"})
            await dispatch(local_bot, payload)
            job = await wait_delivered(local_bot, (await only_job(local_bot)).id)
            await local_bot.result_delivery.wait_idle()
    finally:
        await services.aclose()
    assert job.provider == "local" and job.status is JobStatus.COMPLETED
    final = final_edit(fake.edits_of_original(payload["token"]))
    assert "local preview provider" in final.json["embeds"][0]["footer"]["text"]


async def test_a_database_error_before_the_answer_is_a_private_reference(
        fake: FakeDiscord, bot: IdeogramBot, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    # The database fails while the job's row is written, before anything was answered.
    monkeypatch.setattr(bot.store, "insert_jobs", broken)
    payload = chat_input("ideogram", {"prompt": "a fox"})
    await dispatch(bot, payload, raise_errors=False)
    [callback] = fake.interaction_callbacks(payload["id"])
    assert callback["type"] == 4 and callback["data"]["flags"] & 64
    text = callback["data"]["content"]
    assert text.startswith("Something went wrong on the bot's side (ref `")
    ref = text.split("`")[1]
    assert f"Unexpected error (ref {ref})" in caplog.text
    snapshot = await bot.quota.snapshot(ids.GUILD_ID, ids.USER_ID)
    assert snapshot.usage.in_flight == 0  # the reservation went with the failed transaction
    assert await bot.store.jobs_for_guild(ids.GUILD_ID) == []


async def test_an_error_after_the_answer_edits_the_reply_with_a_reference(
        fake: FakeDiscord, bot: IdeogramBot, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the tracker is gone")

    monkeypatch.setattr(bot.tracker, "accept", broken)
    payload = chat_input("ideogram", {"prompt": "a fox"})
    await dispatch(bot, payload, raise_errors=False)
    assert fake.interaction_callbacks(payload["id"]) == [{"type": 5}]
    [edit] = fake.edits_of_original(payload["token"])
    text = edit.json["content"]
    assert text.startswith("Something went wrong on the bot's side (ref `")
    ref = text.split("`")[1]
    assert f"Unexpected error (ref {ref})" in caplog.text
    [job] = await bot.store.jobs_for_guild(ids.GUILD_ID)
    assert job.status is JobStatus.FAILED and job.delivered_at is not None
    snapshot = await bot.quota.snapshot(ids.GUILD_ID, ids.USER_ID)
    assert snapshot.usage.in_flight == 0 and snapshot.usage.user_day == 0


@pytest.mark.parametrize("lost", ["repeat refused", "connection lost"])
async def test_a_deferral_whose_answer_was_lost_still_ends_in_its_reply(
        fake: FakeDiscord, bot: IdeogramBot, db: Path, monkeypatch: pytest.MonkeyPatch,
        lost: str) -> None:
    # The deferral reaches Discord, but its answer does not come back: discord.py sends it
    # again and gets 40060 "already acknowledged", or the connection drops. The reply is
    # there all the same, so the job goes on in it instead of being dropped.
    real_defer = discord.InteractionResponse.defer

    async def defer_then_lose_the_answer(self: Any, **kwargs: Any) -> Any:
        await real_defer(self, **kwargs)
        if lost == "repeat refused":
            answer = SimpleNamespace(status=400, reason="Bad Request")
            raise discord.HTTPException(answer, {"code": 40060,  # type: ignore[arg-type]
                                                 "message": "Interaction has already been "
                                                            "acknowledged."})
        raise aiohttp.ServerDisconnectedError()

    monkeypatch.setattr(discord.InteractionResponse, "defer", defer_then_lose_the_answer)
    payload = chat_input("ideogram", {"prompt": "a lost answer"})
    await dispatch(bot, payload)
    job = await wait_delivered(bot)
    assert job.status is JobStatus.COMPLETED and job.message_id is not None
    final = final_edit(fake.edits_of_original(payload["token"]))
    assert final.json["content"].startswith("✅") and final.files
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT state FROM usage_reservations").fetchall() == [
            ("committed",)]


async def test_a_lost_answer_discord_cannot_confirm_yet_is_left_to_the_reconciliation(
        fake: FakeDiscord, bot: IdeogramBot, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The deferral reached Discord, its answer was lost, and asking for the reply fails
    # too (Discord's own error): neither dropped (the member would stay on "thinking…")
    # nor sent; the reconciliation asks again and goes on in the reply.
    real_defer = discord.InteractionResponse.defer

    async def defer_then_lose_the_answer(self: Any, **kwargs: Any) -> Any:
        await real_defer(self, **kwargs)
        raise aiohttp.ServerDisconnectedError()

    monkeypatch.setattr(discord.InteractionResponse, "defer", defer_then_lose_the_answer)
    monkeypatch.setattr(adoption, "ADOPT_AFTER_SECONDS", 0.0)
    real_confirm = bot.result_delivery.confirm_reply
    asked: list[str] = []

    async def confirm_once_unreachable(job: JobRecord) -> int | None:
        asked.append(job.id)
        if len(asked) == 1:
            raise aiohttp.ClientConnectionError("Discord unreachable")
        return await real_confirm(job)

    monkeypatch.setattr(bot.result_delivery, "confirm_reply", confirm_once_unreachable)
    bot.tracker.set_reply_confirmer(confirm_once_unreachable)
    payload = chat_input("ideogram", {"prompt": "an unsure answer"})
    await dispatch(bot, payload)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status, error FROM jobs").fetchall() == [("pending", None)]
        assert conn.execute("SELECT state FROM usage_reservations").fetchall() == [
            ("reserved",)]
    assert not fake.calls("POST", r"^/webhooks/")  # no "Something went wrong"

    assert await bot.tracker.reconcile() == 1
    job = await wait_delivered(bot)
    assert len(asked) == 2 and job.status is JobStatus.COMPLETED
    # Into the same reply, through the interaction's token.
    final = final_edit(fake.calls("PATCH", rf"^/webhooks/\d+/{payload['token']}/messages/"))
    assert final.json["content"].startswith("✅")
    assert final.path.endswith(f"/messages/{job.message_id}")
