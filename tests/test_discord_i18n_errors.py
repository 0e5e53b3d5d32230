"""Errors over real dispatch, in the right language: after a public "thinking…" reply the
reply itself shows the error, so it speaks the server's language, and the member is told
in theirs, privately (a refusal before any answer is private: tests/test_discord_i18n*)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import discord
import pytest

from bot.localserver.app import LocalRunComfyServer
from cogs.core.bot import IdeogramBot
from cogs.core.errors import Refusal
from tests.harness import FakeDiscord, chat_input, component, dispatch, ids
from tests.helpers import wait_delivered

ITALIAN_UNEXPECTED = "Qualcosa è andato storto dal lato del bot (rif. `"
PORTUGUESE_UNEXPECTED = "Algo deu errado do lado do bot (ref. `"


def broken_tracker(bot: IdeogramBot, monkeypatch: pytest.MonkeyPatch,
                   error: Exception | None = None) -> None:
    """The tracker refuses the next jobs after their public answer."""
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise error or RuntimeError("the tracker is gone")

    monkeypatch.setattr(bot.tracker, "accept", broken)


async def refused_rerolls(fake: FakeDiscord, bot: IdeogramBot,
                          monkeypatch: pytest.MonkeyPatch) -> Callable[[], dict[str, Any]]:
    """A result in an Italian server whose Reroll is refused, in words already written in
    the clicking member's language (Portuguese); each call makes one such click."""
    first = chat_input("ideogram", {"prompt": "a lantern"}, guild_locale="it")
    await dispatch(bot, first)
    job = await wait_delivered(bot)
    with_buttons = fake.original_message(first["token"])
    broken_tracker(bot, monkeypatch, Refusal("Recusado em português."))
    return lambda: component(f"job:{job.id}:reroll", message=with_buttons, locale="pt-BR",
                             guild_locale="it")


def public_then_private(fake: FakeDiscord, payload: dict[str, Any]) -> tuple[str, str]:
    """The text of the public reply's one edit, and of the member's private followup."""
    assert fake.interaction_callbacks(payload["id"]) == [{"type": 5}]
    [edit] = fake.edits_of_original(payload["token"])
    [followup] = fake.followups(payload["token"])
    assert followup.json["flags"] & 64
    message = fake.original_message(payload["token"]) or {}
    assert not message.get("flags", 0) & (64 | 128)  # public, no longer "thinking…"
    return edit.json["content"], followup.json["content"]


async def test_an_error_after_a_public_answer_speaks_the_servers_language_there(
        fake: FakeDiscord, bot: IdeogramBot, monkeypatch: pytest.MonkeyPatch) -> None:
    broken_tracker(bot, monkeypatch)
    payload = chat_input("ideogram", {"prompt": "a fox"}, locale="pt-BR", guild_locale="it")
    await dispatch(bot, payload, raise_errors=False)
    public, private = public_then_private(fake, payload)
    assert public.startswith(ITALIAN_UNEXPECTED)
    assert private.startswith(PORTUGUESE_UNEXPECTED)
    assert public.split("`")[1] == private.split("`")[1]  # the same reference

    # A member who reads the server's language gets no second copy.
    same = chat_input("ideogram", {"prompt": "a fox"}, locale="it", guild_locale="it")
    await dispatch(bot, same, raise_errors=False)
    [edit] = fake.edits_of_original(same["token"])
    assert edit.json["content"].startswith(ITALIAN_UNEXPECTED)
    assert fake.followups(same["token"]) == []


async def test_a_refusal_worded_for_the_member_stays_private_after_a_public_reroll(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    reroll = (await refused_rerolls(fake, bot, monkeypatch))()
    await dispatch(bot, reroll, raise_errors=False)
    public, private = public_then_private(fake, reroll)
    assert public == ("Non è andata a buon fine: chi l'ha chiesto ne ha ricevuto il motivo, "
                      "in privato.")
    assert private == "Recusado em português."


async def test_a_recall_that_fails_after_its_public_answer_speaks_the_servers_language(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await dispatch(bot, chat_input("ideogram", {"prompt": "a paper crane"}))
    job = await wait_delivered(bot)
    cog: Any = bot.get_cog("HistoryCog")

    async def broken_recall(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the image is unreadable")

    monkeypatch.setattr(cog, "recall", broken_recall)
    recall = chat_input("job", {"id": job.short_id}, locale="it", guild_locale="pt-BR")
    await dispatch(bot, recall, raise_errors=False)
    public, private = public_then_private(fake, recall)
    assert public.startswith(PORTUGUESE_UNEXPECTED)
    assert private.startswith(ITALIAN_UNEXPECTED)


async def test_when_the_reply_cannot_be_edited_the_channel_post_speaks_the_servers_language(
        fake: FakeDiscord, bot: IdeogramBot, monkeypatch: pytest.MonkeyPatch) -> None:
    broken_tracker(bot, monkeypatch)
    fake.fail_next("PATCH", r"/@original$", status=404)
    payload = chat_input("ideogram", {"prompt": "a fox"}, locale="pt-BR", guild_locale="it")
    await dispatch(bot, payload, raise_errors=False)
    post = await fake.wait_for(method="POST", path=rf"^/channels/{ids.CHANNEL_ID}/messages$")
    assert post.json["content"].startswith(f"<@{ids.USER_ID}> {ITALIAN_UNEXPECTED}")
    [followup] = fake.followups(payload["token"])  # and the member's own words, privately
    assert followup.json["flags"] & 64
    assert followup.json["content"].startswith(PORTUGUESE_UNEXPECTED)


async def test_a_member_who_cannot_be_told_privately_reads_their_words_publicly(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The public words say the member was told privately: never when they were not."""
    click = await refused_rerolls(fake, bot, monkeypatch)
    followups = rf"^/webhooks/{ids.APPLICATION_ID}/[^/]+$"

    # The public reply says it, the private word is refused: the reply shows the words.
    fake.fail_next("POST", followups, status=404, body={"code": 10015, "message": "?"})
    reroll = click()
    await dispatch(bot, reroll, raise_errors=False)
    assert fake.edits_of_original(reroll["token"])[-1].json["content"] == (
        "Recusado em português.")

    # The reply is gone too: the channel post carries them.
    fake.fail_next("PATCH", r"/@original$", status=404)
    fake.fail_next("POST", followups, status=404, body={"code": 10015, "message": "?"})
    await dispatch(bot, click(), raise_errors=False)
    post = await fake.wait_for(method="POST", path=rf"^/channels/{ids.CHANNEL_ID}/messages$")
    assert post.json["content"] == f"<@{ids.USER_ID}> Recusado em português."


async def test_an_error_after_a_deferral_whose_answer_was_lost_edits_that_reply(
        fake: FakeDiscord, bot: IdeogramBot, monkeypatch: pytest.MonkeyPatch) -> None:
    """Discord took the public deferral but its answer never came back (discord.py thinks
    nothing was sent): an error then edits the reply Discord shows, not a second answer
    Discord would refuse, which would leave the reply on "thinking…"."""
    real_defer = discord.InteractionResponse.defer

    async def defer_and_lose_the_answer(self: Any, **kwargs: Any) -> Any:
        await real_defer(self, **kwargs)
        self._response_type = None  # as discord.py leaves it when the call raised
        lost = SimpleNamespace(status=400, reason="Bad Request")
        raise discord.HTTPException(lost, {"code": 40060, "message": "already acknowledged"})

    monkeypatch.setattr(discord.InteractionResponse, "defer", defer_and_lose_the_answer)
    broken_tracker(bot, monkeypatch)
    payload = chat_input("ideogram", {"prompt": "a fox"})
    await dispatch(bot, payload, raise_errors=False)
    assert fake.interaction_callbacks(payload["id"]) == [{"type": 5}]
    [edit] = fake.edits_of_original(payload["token"])
    assert edit.json["content"].startswith("Something went wrong on the bot's side")

