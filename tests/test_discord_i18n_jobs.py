"""A job's messages over real dispatch, in the right language: progress, results, grids
and full-size posts speak the server's language (kept with the job, so a restart and the
channel fallback still speak it); refusals, modals and button answers speak the member's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import cogs.core.batch_delivery as batch_delivery
from bot.grid import GridImage, compose_grid
from bot.jobs import JobRecord, JobStatus
from bot.localserver.app import LocalRunComfyServer
from cogs.core.bot import IdeogramBot
from tests.harness import FakeDiscord, chat_input, component, dispatch, eventually, ids
from tests.helpers import callback, db_rows, final_edit, ideogram_bot, wait_delivered
from tests.test_discord_batches import batch_delivered


def private_text(cb: dict[str, Any]) -> str:
    assert cb["type"] == 4 and cb["data"]["flags"] & 64, cb
    return str(cb["data"]["content"])


def labels(message: dict[str, Any]) -> list[str]:
    return [c.get("label", "") for row in message["components"] for c in row["components"]]


async def italian_server(fake: FakeDiscord, bot: IdeogramBot) -> None:
    payload = chat_input("settings", {"language": "it"}, subcommand="language",
                         user_id=ids.MOD_USER_ID)
    await dispatch(bot, payload)
    assert callback(fake, payload)["type"] == 4
    assert bot.guild_settings.get(ids.GUILD_ID).language == "it"


async def test_an_italian_server_sees_its_jobs_in_italian_and_members_their_own_language(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    await italian_server(fake, bot)
    local_server.state.config.queue_seconds = 0.6
    # A member whose Discord speaks Portuguese: the reply is public, so it speaks Italian.
    payload = chat_input("ideogram", {"prompt": "a red fox", "style": "realistic",
                                      "seed": 5}, locale="pt-BR")
    await dispatch(bot, payload)
    job = await wait_delivered(bot)
    assert job.locale == "it"

    edits = fake.edits_of_original(payload["token"])
    progress = [e.json["content"] for e in edits if not e.files]
    assert any(text.startswith(("⏳ In coda", "🎨 Creazione dell'immagine"))
               for text in progress), progress
    final = final_edit(edits).json
    assert final["content"] == f"✅ Pronta per <@{ids.USER_ID}>"
    embed = final["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert {"Stile", "Formato", "Prompt magico", "Seed", "Tempo impiegato"} <= set(fields)
    assert fields["Stile"] == "realistico" and fields["Prompt magico"] == "attivo"
    assert embed["footer"]["text"].startswith(f"Richiesta {job.short_id}")
    assert labels(final) == ["Rigenera", "Reinquadra", "Info", "Elimina", "Remix"]

    # The same member's ephemeral answers speak Portuguese: a launch refusal, a button's.
    refused = chat_input("ideogram", {"prompt": "nine foxes", "count": 9}, locale="pt-BR")
    await dispatch(bot, refused)
    assert private_text(callback(fake, refused)) == "`count` precisa ser de 1 a 4."
    message = fake.original_message(payload["token"])
    assert message is not None
    stranger = component(f"job:{job.id}:delete", message=message, user_id=ids.OTHER_USER_ID,
                         locale="pt-BR")
    await dispatch(bot, stranger)
    assert private_text(callback(fake, stranger)).startswith("Essa tarefa não é sua")
    info = component(f"job:{job.id}:info", message=message, locale="pt-BR")
    await dispatch(bot, info)
    info_embed = callback(fake, info)["data"]["embeds"][0]
    assert info_embed["title"] == f"Tarefa {job.short_id}"
    assert {"Modelo", "Provedor", "Status", "Tempos"} <= {f["name"] for f in
                                                        info_embed["fields"]}
    assert {"name": "Status", "value": "concluída", "inline": True} in info_embed["fields"]


async def test_the_remix_modal_speaks_the_language_of_whoever_clicks(
        fake: FakeDiscord, bot: IdeogramBot) -> None:
    await italian_server(fake, bot)
    payload = chat_input("ideogram", {"prompt": "a kite", "negative_prompt": "people"})
    await dispatch(bot, payload)
    job = await wait_delivered(bot)
    message = fake.original_message(payload["token"])
    assert message is not None
    click = component(f"job:{job.id}:remix", message=message, locale="pt-BR")
    await dispatch(bot, click)
    [opened] = fake.interaction_callbacks(click["id"])
    assert opened["type"] == 9 and opened["data"]["title"] == "Remixar"
    inputs = {c["custom_id"]: c for row in opened["data"]["components"]
              for c in row["components"]}
    assert inputs["prompt"]["label"] == "Prompt" and inputs["prompt"]["value"] == "a kite"
    assert inputs["negative_prompt"]["label"] == "Prompt negativo"
    assert inputs["negative_prompt"]["placeholder"] == "O que deixar fora da imagem (opcional)"


async def test_an_italian_batch_counts_and_marks_its_failed_tile_in_italian(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[str] = []

    def recording_grid(tiles: Any, *, max_bytes: int, failed_label: str,
                       labels: Any = None) -> GridImage:
        drawn.append(failed_label)
        assert labels == [None] * 4  # the three made were all downloaded
        return compose_grid(tiles, max_bytes=max_bytes, failed_label=failed_label,
                            labels=labels)

    monkeypatch.setattr(batch_delivery, "compose_grid", recording_grid)
    await italian_server(fake, bot)
    local_server.state.config.queue_seconds = 0.6
    local_server.state.faults.fail_jobs(1)
    payload = chat_input("ideogram", {"prompt": "four owls", "count": 4}, locale="en-US")
    await dispatch(bot, payload)
    jobs = await batch_delivered(bot)
    assert sorted(j.status.value for j in jobs) == ["completed"] * 3 + ["failed"]

    edits = fake.edits_of_original(payload["token"])
    progress = [e.json["content"] for e in edits if not e.files]
    assert any(" di 4 pront" in text for text in progress), progress
    final = final_edit(edits).json
    assert final["content"] == f"✅ 3 di 4 pronte per <@{ids.USER_ID}> · 1 non riuscita"
    assert drawn == ["non riuscita"]
    embed = final["embeds"][0]
    assert "Seed" in {f["name"] for f in embed["fields"]}
    assert embed["footer"]["text"].startswith(f"Gruppo {str(jobs[0].batch_id)[:8]} · "
                                              "4 immagini")
    assert labels(final)[-1] == "Rigenera tutte"

    # A full-size post is public too: Italian, whoever clicks.
    message = fake.original_message(payload["token"])
    assert message is not None
    number = next(n for n, j in enumerate(jobs, start=1) if j.status is JobStatus.COMPLETED)
    click = component(f"batch:{jobs[0].batch_id}:{number}", message=message, locale="pt-BR")
    await dispatch(bot, click)
    [post] = fake.followups(click["token"])
    assert post.json["content"] == f"🖼️ Immagine {number} di 4 per <@{ids.USER_ID}>"


async def test_after_a_restart_the_job_still_speaks_its_language_also_in_the_channel(
        fake: FakeDiscord, local_server: LocalRunComfyServer, tmp_path: Path) -> None:
    """The server's Discord language is Italian when the jobs start; the restarted bot's
    cache knows the server as English: only the jobs' own language makes them Italian."""
    local_server.state.config.queue_seconds = 1.5
    db = tmp_path / "bot.db"
    by_token = chat_input("ideogram", {"prompt": "a lighthouse"}, guild_locale="it")
    by_channel = chat_input("ideogram", {"prompt": "a harbour"}, guild_locale="it")
    async with ideogram_bot(fake, local_server, db) as first:
        for payload in (by_token, by_channel):
            await dispatch(first, payload)
        await eventually(lambda: local_server.state.submit_count == 2, timeout=5,
                         what="both submits")
    assert db_rows(db, "SELECT count(*) FROM jobs WHERE delivered_at IS NULL") == [(2,)]
    fake.expire_interaction(by_channel["token"])

    async with ideogram_bot(fake, local_server, db) as second:
        guild = second.get_guild(ids.GUILD_ID)
        assert guild is not None and str(guild.preferred_locale) == "en-US"
        jobs: list[JobRecord] = [await wait_delivered(second, job.id) for job in
                                 await second.store.jobs_for_guild(ids.GUILD_ID, limit=5)]
    assert {job.locale for job in jobs} == {"it"}
    assert all(job.status is JobStatus.COMPLETED for job in jobs)

    webhook = final_edit(fake.calls("PATCH", rf"^/webhooks/\d+/{by_token['token']}/messages/"))
    assert webhook.json["content"] == f"✅ Pronta per <@{ids.USER_ID}>"
    assert "Stile" in {f["name"] for f in webhook.json["embeds"][0]["fields"]}
    [expired] = [job for job in jobs if job.interaction_id == int(by_channel["id"])]
    channel = final_edit(fake.calls(
        "PATCH", rf"^/channels/{ids.CHANNEL_ID}/messages/{expired.message_id}$"))
    assert channel.auth_scheme == "Bot"
    assert channel.json["content"] == f"✅ Pronta per <@{ids.USER_ID}>"
    assert labels(channel.json) == ["Rigenera", "Reinquadra", "Info", "Elimina", "Remix"]
